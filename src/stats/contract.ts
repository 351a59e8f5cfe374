// The stats samples every swarmserve process publishes about itself, and the store they go
// to: Redis in distributed mode (one capped stream per process), memory in embedded mode.
// The dashboard reads them back, from whichever gateway a browser reaches, so it shows the
// whole cluster. Delivery is best effort: a sample that cannot be written is lost, never
// retried, and never delays a request.

/** Sparse latency histogram: [bucket index, count] pairs (`src/stats/histogram.ts` names the buckets). */
export type SparseHistogram = Array<[number, number]>;

/** How a prediction request ended, by HTTP status: 2xx, other 4xx, 503 (shed or not ready), 504 (deadline), other 5xx. */
export const OUTCOMES = ['ok', 'client', 'shed', 'deadline', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What one gateway saw of one model version during one sample's interval. */
export interface GatewayModelSample {
  /** Requests answered in the interval, by outcome, in OUTCOMES order. */
  outcomes: number[];
  /** Latency of the requests answered 2xx, ms: from request received to response sent. */
  total: SparseHistogram;
  /** Of those, ms waiting in the queue, and ms of the batch's inference (from the worker's timings). */
  queue: SparseHistogram;
  inference: SparseHistogram;
  /** Items answered 2xx and the sum of their batch sizes (item-weighted mean batch = batchSum / items). */
  items: number;
  batchSum: number;
  /** Jobs waiting for a worker now, and the age of the oldest, ms (-1: none waiting). */
  backlog: number;
  oldestWaitMs: number;
}

export interface GatewaySample {
  kind: 'gateway';
  id: string;
  host: string;
  pid: number;
  /** Epoch ms the process started (its own clock). */
  startedAt: number;
  /** The sample's interval, ms. */
  intervalMs: number;
  /** Prediction requests answered since the process started, all outcomes (the total of swarmserve_requests_total). */
  requestsTotal: number;
  inFlight: number;
  rssBytes: number;
  /** Per model version ("model:version"); "unknown:" for requests refused before a model was chosen. */
  models: Record<string, GatewayModelSample>;
}

/** A worker's sample: the fields of its heartbeat in the worker registry (cumulative counters), and its memory. */
export interface WorkerSample {
  kind: 'worker';
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  keys: string[];
  batches: number;
  items: number;
  busyMs: number;
  rssBytes: number;
  /** The memory limit of its container or cgroup, bytes (0: none known). */
  memoryLimitBytes: number;
}

/** An autoscaler's sample, one per tick, from the lease holder only. */
export interface AutoscalerSample {
  kind: 'autoscaler';
  /** The worker group (Swarm service, or "local"). */
  id: string;
  desired: number;
  current: number;
  live: number;
  /** The reason of this tick's decision; `changed` when it changed the replica count. */
  reason: string;
  changed: boolean;
}

export type StatsSample = GatewaySample | WorkerSample | AutoscalerSample;

/** A sample as read back: stamped by the store's clock (Redis's, in distributed mode), epoch ms. */
export interface StampedSample {
  at: number;
  /** The publishing source: `<kind>:<id>`. */
  source: string;
  sample: StatsSample;
}

export interface StatsRead {
  /** The store's clock now, epoch ms. */
  now: number;
  /** Samples stamped after the `since` asked for, oldest first per source. */
  samples: StampedSample[];
}

/**
 * Where samples go and come back from. Each source keeps at most `historyS` samples (one a
 * second): older ones are trimmed, and a source that stops publishing is forgotten one
 * history after its last sample.
 */
export interface StatsStore {
  /**
   * Appends one sample of a source. Best effort: resolves false, without adding, when the
   * store holds no room for stats (Redis near its maxmemory: jobs and heartbeats come
   * first); rejects when the store is unreachable.
   */
  publish(sample: StatsSample): Promise<boolean>;
  /** Every source's samples stamped after `sinceMs` (store clock), at most `limit` per source, newest kept. */
  read(sinceMs: number, limit?: number): Promise<StatsRead>;
  close(): Promise<void>;
}

/** Seconds of 1-s samples each source keeps by default: the dashboard's longest range. */
export const DEFAULT_STATS_HISTORY_S = 3600;

export const sourceOf = (sample: StatsSample): string => `${sample.kind}:${sample.id}`;
