// The one table of error codes, shared by gateway, worker and CLI. A code is stable
// (clients may switch on it); the message is for humans and may carry details.

export const ERRORS = {
  EMPTY_BODY: { status: 400, message: 'The request has no image: send the bytes as the body or as multipart field "img_file".' },
  BAD_MULTIPART: { status: 400, message: 'The multipart body is malformed.' },
  WRONG_FIELD: { status: 400, message: 'The image must be sent in multipart field "img_file".' },
  TOO_MANY_FILES: { status: 400, message: 'Send exactly one image per request.' },
  BAD_PARAMETER: { status: 400, message: 'A request parameter is invalid.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The body is not an image format this server decodes (JPEG, PNG, WebP, GIF, TIFF).' },
  SVG_REJECTED: { status: 415, message: 'SVG images are not accepted: vector formats can reference external files.' },
  INVALID_IMAGE: { status: 422, message: 'The image could not be decoded (corrupt or truncated).' },
  IMAGE_TOO_LARGE: { status: 422, message: 'The image has more pixels than this server accepts.' },
  INVALID_TENSOR: {
    status: 400,
    message: "The tensor does not match the model's input (dtype, shape, element count or byte length), or holds a value that is not finite.",
  },
  BAD_INFER_REQUEST: {
    status: 400,
    message:
      'The Open Inference Protocol request is malformed (JSON header, input or output name, datatype, shape, binary data sizes, or an element that is not an image); the message names the part.',
  },
  ANSWER_TOO_LARGE: { status: 400, message: 'The answer this request asks for (items × outputs × elements per item) is larger than this server sends.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than this server accepts.' },
  BAD_ENCODING: { status: 400, message: 'The body could not be decompressed: its Content-Encoding (gzip) does not match its bytes.' },
  BODY_TIMEOUT: { status: 408, message: 'The request body did not arrive in time (--body-timeout-ms per MiB); the connection is closed.' },
  TOO_MANY_UPLOADS: {
    status: 429,
    message: 'This client address is sending as many request bodies at once as the server allows (--max-uploads-per-client); retry when one is answered.',
  },
  UNAUTHORIZED: { status: 401, message: 'This route needs an API key: send "Authorization: Bearer <key>".' },
  MODEL_NOT_FOUND: { status: 404, message: 'No such model.' },
  VERSION_NOT_FOUND: { status: 404, message: 'No such model version.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  TOO_MANY_STREAMS: { status: 503, message: 'This gateway serves as many dashboard streams as it allows; close a dashboard or retry later.' },
  QUEUE_FULL: { status: 503, message: 'The model queue is full; retry later.' },
  QUEUE_UNAVAILABLE: { status: 503, message: 'The queue (Redis) is unreachable; retry later.' },
  PROTOCOL_MISMATCH: { status: 503, message: 'A process speaking another protocol version took the job (rolling update in progress?); retry later.' },
  SHUTTING_DOWN: { status: 503, message: 'The server is shutting down.' },
  NOT_READY: { status: 503, message: 'The server is not ready yet.' },
  DEADLINE_EXCEEDED: { status: 504, message: 'The request was not served before its deadline.' },
  CLIENT_CLOSED: { status: 499, message: 'The client closed the request before it was served.' },
  JOB_FAILED: {
    status: 500,
    message: 'The job was delivered to workers several times and never completed (they died while running it); it was moved to the dead-letter stream.',
  },
  INFERENCE_FAILED: { status: 500, message: 'The model failed to run.' },
  INTERNAL: { status: 500, message: 'Internal server error.' },
  CONFIG_INVALID: { status: 500, message: 'The configuration is invalid.', exit: 78 },
  // The command line (every command; never an HTTP answer — the status only ranks it):
  USAGE: { status: 400, message: 'The command line is wrong: an unknown option, a missing or extra argument, or a value an option does not take.', exit: 2 },
  TARGET_UNREACHABLE: { status: 503, message: 'The server the command talks to did not answer (connection refused, unknown host, TLS or timeout).', exit: 3 },
  WRITE_FAILED: { status: 500, message: 'A file the command writes (a report, a CSV file, a model) could not be written.' },
  // `swarmserve experiment` (and the scalers the autoscaler will reuse):
  PROCESS_FAILED: {
    status: 500,
    message: 'A process the experiment or the local worker pool started (redis-server, gateway or worker) failed to start, or exited.',
  },
  DOCKER_UNAVAILABLE: { status: 503, message: 'The Docker Engine API is unreachable, or this node is not a swarm manager.' },
  SERVICE_NOT_FOUND: { status: 404, message: 'No such Docker Swarm service.' },
  SCALE_TIMEOUT: { status: 504, message: 'The replicas asked for were not all running within the time allowed.' },
  // `swarmserve models import-tfjs`:
  IMPORT_FAILED: {
    status: 422,
    message:
      'The TF.js model could not be imported: its model.json or weight shards are missing or unreadable, or it uses a layer or setting the importer does not convert.',
  },
  // `swarmserve models quantize`:
  QUANTIZE_UNSUPPORTED: {
    status: 422,
    message: 'The model contains an operator (or a form of one) the quantizer cannot quantize; the message names the node.',
  },
  CALIBRATION_FAILED: { status: 422, message: 'Calibration failed: the photo directory is unreadable or empty, or a photo could not be decoded.' },
  // `swarmserve models evaluate`:
  EVALUATION_FAILED: {
    status: 422,
    message:
      'Evaluation failed: the image directory is unreadable or empty, a photo could not be decoded, or a version could not be run or is not the same classifier.',
  },
} as const satisfies Record<string, { status: number; message: string; exit?: number }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The exit code of a CLI that stops on this error: 2 for a usage error, 78 (sysexits'
 * EX_CONFIG) for invalid configuration, 3 for an unreachable target, 1 for any other failure.
 */
export function exitCodeOf(code: ErrorCode): number {
  const entry: { status: number; message: string; exit?: number } = ERRORS[code];
  return entry.exit ?? 1;
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERRORS, value);
}

/** The one error class: turned into an HTTP response (or CLI exit) in one place. */
export class ServeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail?: string, options?: { headers?: Record<string, string>; cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServeError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = options?.headers ?? {};
  }

  toJSON(): ErrorBody {
    return { success: false, error: { code: this.code, message: this.message } };
  }
}

export interface ErrorBody {
  success: false;
  error: { code: ErrorCode; message: string };
}

/** Plain, serialisable form of an error: what a worker sends back over a queue. */
export interface WireError {
  code: ErrorCode;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof ServeError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: ERRORS.INTERNAL.message };
}

export function fromWireError(wire: WireError): ServeError {
  return new ServeError(wire.code, wire.message);
}
