// The public contract of src/scaling/: replica sets, things whose replica count can be set. The
// experiment drives one step by step; the autoscaler asks one for a count each tick. The two
// implementations live beside it: SwarmService (swarm-service.ts) and LocalWorkerPool
// (worker-pool.ts).

/** A group of model-server replicas (workers) whose count can be set: a Docker Swarm service, or worker processes on this host. */
export interface ReplicaSet {
  /** For messages: "Docker Swarm service swarmserve_worker", "local worker processes (swarmserve worker)". */
  readonly description: string;
  /**
   * Asks for `n` replicas and resolves once asked: it does NOT wait for them to run (an
   * autoscaler's tick must not block on a start-up). Removed replicas get SIGTERM, so they
   * finish and answer the jobs they took (drain). Rejects with a `ServeError`
   * (`SHUTTING_DOWN` once closed, `DOCKER_UNAVAILABLE`, `PROCESS_FAILED`, …), a `RangeError`
   * for an `n` that is not an integer ≥ 0, or the signal's reason.
   */
  request(n: number, signal?: AbortSignal): Promise<void>;
  /** The count asked for now (by this object or, for Swarm, by anyone who updated the service). */
  requested(signal?: AbortSignal): Promise<number>;
  /** Replicas running now (local: processes alive and not told to stop; Swarm: tasks running whose desired state is running). */
  running(signal?: AbortSignal): Promise<number>;
  /**
   * `request(n)`, then resolves once exactly `n` run and none of the removed ones does (local:
   * each new one answered /health/ready). Rejects like `request`, or with `SCALE_TIMEOUT` /
   * `PROCESS_FAILED` when they do not all come up.
   */
  setReplicas(n: number, signal?: AbortSignal): Promise<void>;
  /** How many replicas the cluster can hold; undefined when not known. */
  capacity(signal?: AbortSignal): Promise<number | undefined>;
  /** Releases what it holds (the local pool stops every process it started); further requests are refused. Idempotent. */
  close(): Promise<void>;
}
