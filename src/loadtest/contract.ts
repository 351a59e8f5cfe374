// The public contract of src/loadtest, in two parts:
//   1. the benchmarks' closed-loop generator (`runClosedLoop`, `runLoadInChildProcess`):
//      `LoadOptions` → `LoadReport`. Plain data only: these cross IPC with
//      `serialization: 'advanced'` (structured clone), so no functions or class instances;
//   2. the Locust-like engine behind `swarmserve load` and `swarmserve experiment`
//      (`runLoad` in run-load.ts): `LoadRunOptions` (+ `LoadObserver`) → `LoadSummary`.

/** One pre-encoded request body. Encode once (see `encodeMultipart`), send many times. */
export interface LoadRequestBody {
  body: Uint8Array;
  /** Sent as the `content-type` header, e.g. `image/jpeg` or `multipart/form-data; boundary=…`. */
  contentType: string;
}

export interface LoadOptions {
  /** Absolute http(s) URL every request is POSTed to, e.g. `http://127.0.0.1:8080/predict`. */
  url: string;
  /** Number of virtual clients = number of keep-alive connections = requests in flight. */
  concurrency: number;
  /** Length of the measured window, after the warmup. */
  durationMs: number;
  /** Load is applied but nothing is recorded for this long before the measured window (0 = none). */
  warmupMs: number;
  /** Request bodies, used round-robin (one global counter across all clients). At least one. */
  bodies: LoadRequestBody[];
  /** Extra request headers (a `content-type` here is overridden by each body's own). */
  headers?: Record<string, string>;
  /**
   * Time allowed for a whole request (send → last response byte); a request still running after
   * that is aborted (its connection is closed and reopened) and counts as an error under
   * `REQUEST_TIMEOUT`. Checked by a periodic sweep, so it fires within ~10% (at most 250 ms)
   * late. Also bounds the TCP connect time (at most 10 s). Default 30 000 ms.
   */
  requestTimeoutMs?: number;
  /**
   * Ends the measured window early, at the completion of the `maxRequests`-th request in the
   * window: `report.requests` is then exactly `maxRequests` and `report.durationMs` is shorter.
   */
  maxRequests?: number;
}

export interface LatencySummaryMs {
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LoadReport {
  concurrency: number;
  /** Measured window actually covered, in ms (shorter than asked if `maxRequests` was hit). */
  durationMs: number;
  /** Requests that completed (response fully read, or failed) inside the measured window. */
  requests: number;
  /** Of `requests`, those answered with a 2xx status. */
  ok: number;
  /** Of `requests`, those answered with a non-2xx status or failed at the transport level. */
  errors: number;
  /**
   * Count per outcome: the HTTP status as a string ('200', '503') or, for a transport failure,
   * the error code ('ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET', 'REQUEST_TIMEOUT', …).
   */
  statusCounts: Record<string, number>;
  /** `ok` per second of the measured window. */
  throughputRps: number;
  /**
   * Latency of the 2xx responses that completed in the measured window (send → last body byte),
   * from an HDR histogram with microsecond resolution; warmup excluded. All zero if `ok` is 0.
   * Non-2xx responses are left out so a fast-failing server (e.g. instant 503s when shedding
   * load) cannot make the latency look better than the service it actually gives.
   */
  latencyMs: LatencySummaryMs;
}

// =============================================================================================
// 2. The Locust-like engine: `runLoad(options, observer?, signal?)` in `./run-load.ts`.
//
//    import { runLoad } from '../loadtest/run-load.js';
//    const summary = await runLoad({ url, bodies, users: 50, spawnRate: 10, wait: { minMs: 500, maxMs: 5000 }, durationMs: 60_000 },
//                                  { onResult: (r) => timeline.push(r), onUsers: (n) => …}, controller.signal);
//
// Two ways to make load, chosen by whether `rate` is set:
//   - users (closed loop, Locust's model; `rate` absent): `users` virtual users are started at
//     `spawnRate` a second; each one sends a request, waits for the whole answer, then waits a
//     uniformly random time in [wait.minMs, wait.maxMs] (0-0: none) and sends the next. Latency
//     counts from the moment the request is sent.
//   - rate (open loop): request k is due at start + k / rate seconds, whatever happened to the
//     earlier ones, with at most `maxInFlight` outstanding. Latency counts from the request's
//     *intended* send time, so a stalled server cannot hide its stall by slowing the sender
//     down (no coordinated omission). A request that could not be sent on time (in-flight cap
//     reached, or this process too busy) is sent as soon as it can, still timed from its
//     intended time; the summary and `onWarning` say so.
//
// The run ends at the first of: `durationMs` after the start, the `maxRequests`-th completion,
// or `signal` aborting. Then nothing new is sent; requests in flight get `stopGraceMs` to
// complete (and are counted if they do); any still running are cut and only counted in
// `summary.cutInFlight`. The promise resolves with the summary in every one of those cases; it
// rejects only on bad options (`LoadOptionsError`, before anything is sent) or when an
// observer callback throws (with that error, after the run is stopped and its sockets closed).
// =============================================================================================

/** Options of `runLoad`. Times are milliseconds. */
export interface LoadRunOptions {
  /** Absolute http(s) URL every request is POSTed to, query included, e.g. `http://127.0.0.1:8080/predict?model=resnet50`. */
  url: string;
  /** Request bodies, used round-robin (one counter across all users). At least one. */
  bodies: LoadRequestBody[];
  /** Extra request headers (a `content-type` here is overridden by each body's own). */
  headers?: Record<string, string>;
  /** Users mode: number of virtual users (each at most one request in flight). Default 1. Not with `rate`. */
  users?: number;
  /** Users mode: users started per second (the first at once). Default 1, as Locust's `-r`. Not with `rate`. */
  spawnRate?: number;
  /** Users mode: think time after each answer, uniform in [minMs, maxMs]. Default { 0, 0 }: a closed loop. Not with `rate`. */
  wait?: { minMs: number; maxMs: number };
  /** Stop this long after the start (the spawn ramp included). Absent: no time limit. */
  durationMs?: number;
  /**
   * Stop when this many requests have completed: no more than this many are ever sent, so
   * `summary.requests` is exactly this (unless the duration, an abort or a cut ends it first).
   */
  maxRequests?: number;
  /** Open loop: requests per second at fixed intervals, instead of users. */
  rate?: number;
  /** Open loop: most requests outstanding at once (= connections). Default 1000. Only with `rate`. */
  maxInFlight?: number;
  /** A request running longer than this is aborted and fails as `timeout`. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * true (default): a request succeeds when the answer is HTTP 200 with a JSON body whose
   * `success` is `true` (swarmserve's `/predict`). false: any 2xx succeeds, the body unread.
   */
  checkSuccess?: boolean;
  /** After the end, how long requests in flight get to complete. Default 2 000. */
  stopGraceMs?: number;
}

/** One completed request, as `LoadObserver.onResult` sees it. */
export interface LoadResult {
  /** When it completed (answer fully read, or failed): `Date.now()` then. */
  endEpochMs: number;
  /** Send → completion; in the open loop, intended send time → completion. */
  latencyMs: number;
  /** Answered as `checkSuccess` demands. */
  ok: boolean;
  /** Why it failed (absent when ok); the keys of `LoadSummary.failuresByKind`, see there. */
  failure?: string;
  /** Bytes of the answer's body (runLoad always sets it; optional so others may build results without). */
  contentBytes?: number;
}

/**
 * Live view of a run. Callbacks are synchronous and called on the load generator's own event
 * loop: keep them cheap (append to an array, bump a counter). One that throws stops the run.
 */
export interface LoadObserver {
  /** Called once for EVERY request that completes and is counted, in completion order. */
  onResult?(result: LoadResult): void;
  /** Users mode: the number of started users, each time it changes (1, 2, … users). */
  onUsers?(users: number): void;
  /** One line, at most once per kind: the open loop cannot keep its rate (in-flight cap reached, or this process too busy). */
  onWarning?(message: string): void;
}

/** Latency statistics over all counted requests (failures included, as Locust does), in ms. */
export interface LoadLatencyMs {
  mean: number;
  min: number;
  max: number;
  p50: number;
  p66: number;
  p75: number;
  p80: number;
  p90: number;
  p95: number;
  p98: number;
  p99: number;
  p999: number;
  p9999: number;
}

/** Open loop only: did the sender keep the asked rate? */
export interface OpenLoopSummary {
  /** The asked rate, requests/s. */
  targetRate: number;
  /** Requests sent per second while sending (from the start to one interval after the last send). */
  sentRate: number;
  /** Requests sent more than `LATE_SEND_MS` (50 ms) after their intended time. */
  lateSends: number;
  /** Worst lag between a request's intended and actual send time. */
  maxSendLagMs: number;
  /** Requests that were due before the end but never sent (waiting for an in-flight slot). */
  notSent: number;
  /** The in-flight cap was reached at least once. */
  capReached: boolean;
  /** No late send, none left unsent: the offered load was the asked rate. */
  rateKept: boolean;
}

export interface LoadSummary {
  /** 'users' (closed loop, Locust's model) or 'rate' (open loop). */
  mode: 'users' | 'rate';
  url: string;
  /** `Date.now()` at the start. */
  startEpochMs: number;
  /** Start → the end of the load (the later of the stop and the last counted completion). */
  durationMs: number;
  /** What ended the run. */
  stoppedBy: 'duration' | 'requests' | 'signal';
  /** Requests completed and counted (ok + failed). */
  requests: number;
  failures: number;
  /** failures / requests (0 when no request completed). */
  failureRatio: number;
  /**
   * Failures per kind:
   *   `HTTP <status>` and, when the body is a swarmserve error, ` <CODE>` (`HTTP 503 QUEUE_FULL`);
   *   `success:false` (HTTP 200, JSON `success` not true); `not JSON` (HTTP 200, body not JSON);
   *   `response too large` (HTTP 200 with a body over 1 MiB, when checking success);
   *   `timeout` (no complete answer within `requestTimeoutMs`);
   *   a transport error code (`ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`, …).
   */
  failuresByKind: Record<string, number>;
  /** requests / durationMs, per second. */
  requestsPerSecond: number;
  failuresPerSecond: number;
  latencyMs: LoadLatencyMs;
  /** Mean response body size in bytes. */
  avgContentBytes: number;
  /** Users mode: most users started. Open loop: 0. */
  users: number;
  /** Most requests outstanding at once. */
  peakInFlight: number;
  /** Requests still running when the stop grace ended: cut, and not counted anywhere else. */
  cutInFlight: number;
  /** Present in open-loop mode only. */
  openLoop?: OpenLoopSummary;
  /** This process's CPU during the run (process.cpuUsage): is the load generator itself a bottleneck? */
  cpu: { userMs: number; systemMs: number; /** (user + system) / durationMs: 1 = one core busy. */ cores: number };
}
