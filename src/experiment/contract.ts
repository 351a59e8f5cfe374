// The public contract of `swarmserve experiment` (the scale-while-loading experiment) and of
// the scalers it drives. Plain data and interfaces only; the implementations live beside it
// and in src/scaling/.
import type { ReplicaSet } from '../scaling/contract.js';

/**
 * What the experiment drives: a replica set (src/scaling/contract.ts: a Swarm service, or the
 * local scaler's worker processes) stepped with `setReplicas`, whose replicas it may read.
 */
export interface Scaler extends Pick<ReplicaSet, 'description' | 'setReplicas' | 'running' | 'close'> {
  /**
   * Images each running replica has computed since it started, read from its own metrics
   * (`swarmserve_batch_size_sum`), keyed by a name for the replica. Optional: a scaler that
   * cannot reach its replicas' metrics (Swarm publishes only the gateway) has none.
   */
  replicaWork?(signal?: AbortSignal): Promise<Record<string, number>>;
}

/** One completed request, as the load generator reports it. */
export interface RequestResult {
  /** When its response ended (or it failed), epoch milliseconds. */
  endEpochMs: number;
  latencyMs: number;
  /** Answered with a 2xx status. */
  ok: boolean;
  /** For a failed request: the HTTP status ("503") or the transport error code ("ECONNRESET"). */
  failure?: string;
}

/** Think time of each user between two requests: none (closed loop) or uniform in [minS, maxS]. */
export interface WaitTime {
  minS: number;
  maxS: number;
}

export interface LocalTarget {
  kind: 'local';
  /** Gateway port; 0 or undefined picks a free one. */
  port?: number;
  /** onnxruntime intra-op threads per worker (default 1: one worker saturates one core). */
  threads?: number;
  /** Model repository (default: the bundled one). */
  models?: string;
}

export interface SwarmTarget {
  kind: 'swarm';
  /** The Docker Swarm service whose replicas are scaled, e.g. `swarmserve_worker`. */
  service: string;
  /** Base URL of the gateway in front of it, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Docker Engine socket; default DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
  /** Put the service back to its replica count from before the experiment at the end (default true). */
  restore?: boolean;
}

/**
 * `--autoscale`: the autoscaler's main settings, passed to the `swarmserve autoscale --local`
 * child (docs/autoscale.md); each absent one keeps the autoscaler's default.
 */
export interface AutoscaleSettings {
  min?: number;
  max?: number;
  stabilizationMs?: number;
  targetWaitMs?: number;
  intervalMs?: number;
}

/** The autoscaler's gauges at one moment (its /metrics, read each second); null when it had none yet. */
export interface ReplicaSample {
  /** Seconds since the load started (negative: before it). */
  t: number;
  /** Replicas the signals call for (`swarmserve_autoscale_desired_replicas`). */
  desired: number | null;
  /** Replicas asked for (`_current_replicas`). */
  current: number | null;
  /** Workers sending heartbeats (`_live_replicas`): the actual replicas. */
  live: number | null;
}

/** A decision of the autoscaler that changed the count, from its JSON log line. */
export interface AutoscaleDecision {
  /** Seconds since the load started (negative: before it). */
  t: number;
  direction: 'up' | 'down';
  /** e.g. `arrival-above-capacity`, `below-for-the-window` (docs/autoscale.md). */
  reason: string;
  from: number;
  replicas: number;
  desired: number;
}

export interface ExperimentOptions {
  target: LocalTarget | SwarmTarget;
  /**
   * Concurrent users (virtual clients): one count for every step, or one per step (the load
   * schedule; as many as `replicas`, or, with `autoscale`, the steps themselves).
   */
  users: number | number[];
  /**
   * Let the autoscaler size the workers (`--local` only) instead of `replicas`: the steps are
   * then the entries of `users`.
   */
  autoscale?: AutoscaleSettings;
  /** Users started per second at the beginning (default: all at once). */
  spawnRate?: number;
  /** Think time between a user's requests (default none: closed loop). */
  wait?: WaitTime;
  model: string;
  /** Model version (default: the gateway's default for the model). */
  version?: string;
  /** Image file each request sends (default: the bundled sample photo). */
  image?: string;
  /** Worker count of each step, in order, e.g. [1, 2, 3]; absent with `autoscale`. */
  replicas?: number[];
  stepMs: number;
  /** Skipped at each step's start before the step's statistics count (warm-up, previous backlog). */
  settleMs: number;
  /** Sliding window of the chart's response times and requests/s (default 10 s, like Locust). */
  windowMs?: number;
  /**
   * The req/s the last step is expected to reach, as a multiple of step 1's (e.g. 1.3). Judged
   * in the summary's `targets` and the report; a miss is a finding, not a failed run.
   */
  targetRatio?: number;
  /** The HTML report; the timeline JSON and the chart SVG are written next to it (same name, .json/.svg). */
  out: string;
  /** One line per event (scaling, step results); default: none. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

/** A step as it ran; times in seconds since the load started. */
export interface StepTiming {
  /** 1-based. */
  step: number;
  /** The step's worker count; with the autoscaler, the most workers live in the step. */
  replicas: number;
  /** Concurrent users in the step. */
  users: number;
  /** With the autoscaler: the fewest and most live workers sampled in the step; null otherwise. */
  replicaRange: { min: number; max: number } | null;
  startS: number;
  /** When the scaler reported the replicas running. */
  readyS: number;
  /** Start of the part the table counts: max(start + settle, ready). */
  measuredFromS: number;
  endS: number;
}

/** One row of the per-step table: requests that completed in [measuredFromS, endS). */
export interface StepRow extends StepTiming {
  measuredS: number;
  requests: number;
  failures: number;
  /** Successful (2xx) requests per second. */
  rps: number;
  /** Latency of the successful requests, milliseconds; null when there were none. */
  meanMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** rps / the first step's rps (null if that is 0). */
  ratio: number | null;
  /**
   * Images each replica computed in the measured part, from its own counter (local workers);
   * null when the scaler cannot read its replicas' metrics (Swarm) or a read failed.
   */
  imagesByReplica: Record<string, number> | null;
  /**
   * Cores that work other than the experiment's own processes kept busy in the measured part
   * (machine busy − the experiment, Redis, gateway and workers; from /proc); null when unknown
   * (not Linux, or the workers are Swarm containers).
   */
  otherCores: number | null;
}

/** A figure the run was expected to reach, judged on the step table. A miss does not fail the run. */
export interface ExperimentTarget {
  /** What is compared, e.g. "req/s, 2 workers ÷ 1 worker". */
  name: string;
  /** The measured figure, e.g. "1.45×" or "412 ms vs 690 ms". */
  measured: string;
  /** The expectation, e.g. "≥ 1.3×". */
  want: string;
  /**
   * null when it cannot be judged: a step had no successful request, or other work on this
   * host took more than HOST_BUSY_CORES in a step (the speed then says nothing of the workers).
   */
  met: boolean | null;
  /** Why it was not judged. */
  note?: string;
}

/** One point of the chart: the sliding window (t − window, t]. */
export interface WindowPoint {
  /** Seconds since the load started. */
  t: number;
  requests: number;
  failures: number;
  /** Successful requests per second over the window (over the time elapsed, early on). */
  rps: number;
  meanMs: number | null;
  p95Ms: number | null;
}

export interface ExperimentSummary {
  /** The HTML report, the raw timeline (JSON) and the chart (SVG). */
  files: { report: string; timeline: string; chart: string };
  target: { kind: 'local' | 'swarm'; description: string; url: string };
  settings: {
    model: string;
    version: string | null;
    image: string;
    /** As given: one count, or one per step. */
    users: number | number[];
    spawnRate: number | null;
    wait: WaitTime | null;
    /** The fixed schedule; null with the autoscaler. */
    replicas: number[] | null;
    /** The autoscaler's settings as passed on (null: a fixed schedule). */
    autoscale: AutoscaleSettings | null;
    stepS: number;
    settleS: number;
    windowS: number;
    targetRatio: number | null;
  };
  /** ISO time the load started. */
  startedAt: string;
  durationS: number;
  steps: StepRow[];
  /**
   * The tutorial's claim, judged from step 1 to the last step when that one has more workers:
   * its p95 is lower; and, with `targetRatio`, its req/s is at least that multiple of step 1's.
   */
  targets: ExperimentTarget[];
  /**
   * With the autoscaler: its gauges each second and every up/down decision; null with a fixed
   * schedule.
   */
  autoscaler: { samples: ReplicaSample[]; decisions: AutoscaleDecision[] } | null;
  /** Every request of the run, settling parts included. */
  totals: { requests: number; failures: number; failuresByKind: Record<string, number> };
  /** The load generator (in the experiment's process): CPU it used, in cores; requests still running when it stopped. */
  loadGenerator: { cpuCores: number; cutInFlight: number };
}
