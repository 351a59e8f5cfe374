// What GET /dashboard/stream sends: newline-delimited JSON, one message per line. First a
// `hello` (what this gateway is, the range), then `history` (the past frames of the range),
// then a `tick` every second with the frames finished since. The page
// (src/dashboard/page/dashboard.js) draws from these alone.

/** Latency quantiles, ms: [p50, p95, p99], or null when nothing was answered 2xx that second. */
export type Quantiles = [number, number, number] | null;

/** One second of one model version (or of all, in `Frame.all`), summed over every gateway. */
export interface ModelFrame {
  /** Requests answered in that second by outcome: ok (2xx), client (4xx), shed (503), deadline (504), error (other 5xx). */
  outcomes: [number, number, number, number, number];
  total: Quantiles;
  queue: Quantiles;
  inference: Quantiles;
  /** Item-weighted mean batch size of the answers, or null. */
  batch: number | null;
  /** Jobs waiting for a worker, and the age of the oldest (ms), as last read by any gateway that second; null without a reading. */
  backlog: number | null;
  oldestWaitMs: number | null;
}

export interface AutoscalerFrame {
  desired: number;
  current: number;
  live: number;
  reason: string;
  /** The decision of that second changed the replica count. */
  changed: boolean;
}

/** One second of the whole cluster. */
export interface Frame {
  /** Epoch seconds, in the stats store's clock (Redis's in distributed mode). */
  t: number;
  models: Record<string, ModelFrame>;
  all: ModelFrame;
  /** Workers that sent a sample in that second or the one before. */
  workers: number;
  /** Gateways that sent a sample in that second or the one before. */
  gateways: number;
  /** Per worker group, when an autoscaler runs. */
  autoscalers: Record<string, AutoscalerFrame>;
}

export interface WorkerRow {
  id: string;
  host: string;
  /** The model versions it serves. */
  keys: string[];
  uptimeS: number;
  /** Over its last ≈ 5 s of samples (null until it has two). */
  imagesPerS: number | null;
  /** Share of wall time it spent running batches, %, summed over its model versions. */
  busyPct: number | null;
  meanBatch: number | null;
  rssBytes: number;
  /** 0: no limit known. */
  memoryLimitBytes: number;
}

export interface Header {
  version: string;
  mode: 'embedded' | 'distributed';
  /** This gateway: its id and uptime. */
  gateway: string;
  uptimeS: number;
  /** 'up' | 'down' in distributed mode; 'none' in embedded mode. */
  redis: 'up' | 'down' | 'none';
  /** Why this gateway is not ready (GET /health/ready), or null. */
  notReady: string | null;
  /** Requests answered since start, summed over every gateway's latest sample (the total of swarmserve_requests_total). */
  requestsTotal: number;
}

export type StreamMessage =
  | { type: 'hello'; rangeS: number; header: Header }
  | { type: 'history'; frames: Frame[] }
  | { type: 'tick'; frames: Frame[]; header: Header; workers: WorkerRow[] };

/** The page's range: default 15 min, at most 1 h. */
export const DEFAULT_RANGE_S = 900;
export const MAX_RANGE_S = 3600;
export const MIN_RANGE_S = 60;

export const DASHBOARD_PATH = '/dashboard';
export const DASHBOARD_STREAM_PATH = '/dashboard/stream';
/** Routes that carry no data: served without a key even when keys are on (the page asks for one). */
export const DASHBOARD_SHELL_ROUTES: readonly string[] = [DASHBOARD_PATH, '/dashboard/assets/:file'];
