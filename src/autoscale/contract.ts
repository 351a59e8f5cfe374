// The autoscaler's policy: what it reads each tick, what it remembers between ticks, what it
// decides. The policy is a pure function of these (src/autoscale/policy.ts); reading the
// signals from Redis and acting on Swarm or local processes live elsewhere.
import type { WorkerInfo } from '../queue/contract.js';
import type { QueueReading } from '../queue/redis/queue-signals.js';

export interface AutoscaleConfig {
  minReplicas: number;
  maxReplicas: number;
  /** The wait a job should not exceed in the queue (--target-wait): the backlog must drain within it, and an oldest job past it is "panic". */
  targetWaitMs: number;
  /** Spare capacity planned above the arrival rate (0.2: 20 %). */
  headroom: number;
  /** A scale-down needs every desired value over this long below the current count. */
  stabilizationMs: number;
  /** Replicas the cluster can hold (its nodes' CPU and memory against the service's reservations); undefined: no cap known. */
  clusterCap?: number | undefined;
}

/** One tick's readings, per model version (the policy sizes one worker group). */
export interface Signals {
  /** When the signals were read (ms, one clock for the whole controller: Redis TIME). */
  at: number;
  /** Jobs added per second since the last tick. */
  arrivalPerS: number;
  /** Jobs waiting, not yet taken by a worker. */
  backlog: number;
  /** Age of the oldest waiting job (0: none waits). */
  oldestWaitMs: number;
  /** Workers sending heartbeats (the started ones; the others still start). */
  liveReplicas: number;
  /** Jobs one busy worker completes per second, measured (undefined: no worker measured yet). */
  perReplicaPerS: number | undefined;
  /** How long a new worker takes from being asked for to its first heartbeat, measured (undefined: not yet). */
  startupMs: number | undefined;
}

/** What the policy remembers between ticks (returned with each decision, passed back in the next). */
export interface PolicyState {
  /** Replicas asked for now. */
  current: number;
  /** The first tick this controller saw (a scale-down needs a whole window of readings). */
  since: number | undefined;
  /** When the count last went up (the hold after it lasts a start-up time, and a scale-down needs a whole window after it). */
  lastUpAt: number | undefined;
  /** The last scale-up asked for more than the arrivals alone called for (to drain a backlog). */
  lastUpForBacklog: boolean;
  /** The desired values of the ticks within the stabilization window, oldest first, and what the arrivals alone called for. */
  recent: { at: number; desired: number; forArrivals: number }[];
}

/** Why a decision is what it is (docs/autoscale.md explains each). */
export const DECISION_REASONS = [
  'steady',
  'arrival-above-capacity',
  'oldest-wait-past-target',
  'scale-from-zero',
  'holding-for-startup',
  'below-for-the-window',
  'backlog-drained',
  'waiting-for-the-window',
  'no-measurement-yet',
  'at-min',
  'at-max',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

export interface Decision {
  /** The count to ask for (equal to state.current: no change). */
  replicas: number;
  direction: 'up' | 'down' | 'hold';
  reason: DecisionReason;
  /** What the signals alone call for, before holds, steps and bounds. */
  desired: number;
  /** The count was limited by --max or the cluster's capacity. */
  capped: boolean;
  /** The state for the next tick. */
  state: PolicyState;
}

/** What the controller needs of the replicas it sizes (a Swarm service, local worker processes: src/scaling/). */
export interface ScalingTarget {
  readonly description: string;
  /** Asks for n replicas; resolves once asked, without waiting for them to run. */
  request(n: number, signal?: AbortSignal): Promise<void>;
  /** The count asked for now (changed by someone else, e.g. `docker service scale`, it is adopted). */
  requested(): Promise<number>;
  /** Replicas the cluster can hold; undefined when not known. */
  capacity(): Promise<number | undefined>;
}

/** Where the controller reads a tick's raw signals: Redis (src/queue/redis/), or a test double. */
export interface SignalSource {
  /** The group's queues (one per queue key, model:version) and the live workers serving any of them, in one clock. */
  read(queueKeys: readonly string[]): Promise<GroupReading>;
}

/** Of several controllers of one group, only the holder acts (src/queue/redis/lease.ts). */
export interface Lease {
  /** Takes or renews; true when this controller holds it now. */
  hold(): Promise<boolean>;
  release(): Promise<boolean>;
}

/** One reading of a worker group: its queues (one per model version) and its live workers. */
export interface GroupReading {
  /** Redis TIME, ms. */
  at: number;
  queues: ReadonlyMap<string, QueueReading>;
  /** Live workers serving any of the group's model versions. */
  workers: readonly WorkerInfo[];
}
