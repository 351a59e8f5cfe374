// Types shared by the closed-loop load generator, its child-process runner and (later)
// `swarmserve load`. Plain data only: every value here must survive IPC with
// `serialization: 'advanced'` (structured clone), so no functions or class instances.

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
