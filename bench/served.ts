// The "served" side of the benchmarks: the real `swarmserve serve` as a child process
// (bench/processes.ts), readiness polling, SIGTERM shutdown, and the few Prometheus series used
// to see where the time goes (batch sizes, inference time, event-loop lag).

import { spawnProc } from './processes.js';
export { freePort } from '../src/common/free-port.js';

export interface ServerHandle {
  pid: number;
  url: string;
  args: string[];
  /** Milliseconds from spawn to /health/ready = 200. */
  startupMs: number;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). Resolves with the exit code (null if killed). */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stopMs: number }>;
  /** Kills it at once (cleanup on errors). */
  kill(): void;
}

/** Starts `node <mainJs> serve <args>` (bench/processes.ts: output forwarded as `[server]`, killed when the driver ends) and waits for GET /health/ready = 200. */
export async function startServer(mainJs: string, args: string[], url: string, readyTimeoutMs = 120_000): Promise<ServerHandle> {
  const proc = spawnProc('server', process.execPath, [mainJs, 'serve', ...args]);
  try {
    await proc.waitForHttp(`${url}/health/ready`, readyTimeoutMs);
  } catch (err) {
    proc.kill();
    throw err;
  }
  return { pid: proc.pid, url, args, startupMs: proc.readyMs, stop: (timeoutMs) => proc.stop(timeoutMs), kill: () => proc.kill() };
}

// ---- Prometheus text ---------------------------------------------------------------

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] as string] = m[2] as string;
    out.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return out;
}

export async function scrapeMetrics(url: string): Promise<Series[]> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parsePrometheus(text);
}

function pick(series: readonly Series[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of series) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

export interface ServerWindowStats {
  /** session.run calls of the model in the window. */
  batches: number;
  /** Images in those runs / runs. */
  meanBatchSize: number;
  /** Runs per batch-size bucket (`le` of the swarmserve_batch_size histogram, not cumulative). */
  batchSizeBuckets: Record<string, number>;
  meanInferenceMs: number;
  /** Sum of session.run time / window: how busy the session thread was. */
  inferenceBusyFraction: number;
  /**
   * Event-loop lag of the server over the window (prom-client resets its histogram at each
   * scrape). It samples with a 10 ms timer, so an idle loop shows ~10 ms: read p99/max against min.
   */
  eventLoopLagMinMs: number;
  eventLoopLagP99Ms: number;
  eventLoopLagMaxMs: number;
  /** Requests counted by the server in the window, by HTTP status. */
  requestsByStatus: Record<string, number>;
  /** Full (mark-compact) collections of the server's main thread in the window (nodejs_gc_duration_seconds, kind major). */
  majorGcs: number;
  /** Main-thread pause of all collections in the window, ms per request answered. */
  gcPauseMsPerRequest: number;
}

/** What the server did between two scrapes (`after` must be scraped after `before`). */
export function windowStats(before: readonly Series[], after: readonly Series[], model: string, windowMs: number): ServerWindowStats {
  const delta = (name: string, labels: Record<string, string> = {}): number => pick(after, name, labels) - pick(before, name, labels);
  const batches = delta('swarmserve_batch_size_count', { model });
  const images = delta('swarmserve_batch_size_sum', { model });
  const inferenceS = delta('swarmserve_inference_duration_seconds_sum', { model });
  const buckets: Record<string, number> = {};
  let previous = 0;
  const les = [...new Set(after.filter((s) => s.name === 'swarmserve_batch_size_bucket' && s.labels.model === model).map((s) => s.labels.le ?? ''))];
  for (const le of les.sort((a, b) => Number(a === '+Inf' ? Infinity : a) - Number(b === '+Inf' ? Infinity : b))) {
    const cumulative = delta('swarmserve_batch_size_bucket', { model, le });
    const n = cumulative - previous;
    previous = cumulative;
    if (n > 0) buckets[le === '+Inf' ? '>128' : `≤${le}`] = n;
  }
  const requestsByStatus: Record<string, number> = {};
  for (const s of after) {
    if (s.name !== 'swarmserve_requests_total' || s.labels.model !== model) continue;
    const status = s.labels.code ?? '?';
    const n = delta('swarmserve_requests_total', { model, code: status });
    if (n > 0) requestsByStatus[status] = n;
  }
  const r = (v: number, d = 100): number => Math.round(v * d) / d;
  const answered = Object.values(requestsByStatus).reduce((a, b) => a + b, 0);
  const gcPauseS = delta('nodejs_gc_duration_seconds_sum');
  return {
    batches,
    meanBatchSize: batches > 0 ? r(images / batches) : 0,
    batchSizeBuckets: buckets,
    meanInferenceMs: batches > 0 ? r((inferenceS * 1000) / batches) : 0,
    inferenceBusyFraction: windowMs > 0 ? r((inferenceS * 1000) / windowMs, 1000) : 0,
    eventLoopLagMinMs: r(pick(after, 'nodejs_eventloop_lag_min_seconds') * 1000),
    eventLoopLagP99Ms: r(pick(after, 'nodejs_eventloop_lag_p99_seconds') * 1000),
    eventLoopLagMaxMs: r(pick(after, 'nodejs_eventloop_lag_max_seconds') * 1000),
    requestsByStatus,
    majorGcs: delta('nodejs_gc_duration_seconds_count', { kind: 'major' }),
    gcPauseMsPerRequest: answered > 0 ? r((gcPauseS * 1000) / answered, 1000) : 0,
  };
}
