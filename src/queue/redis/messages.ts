// The fields of job and reply entries. Every entry carries the protocol version `v`, so
// processes of two releases sharing the streams during a rolling update recognise what
// they cannot read and answer it with a clear error instead of crashing or dropping it.
import { isErrorCode, type WireError } from '../../common/errors.js';
import { PROTOCOL_VERSION, type JobOutcome, type JobPayload, type JobRequest, type Prediction } from '../contract.js';
import { str, type RedisArg } from './link.js';

/** Job entry fields, in XADD order. The body is raw bytes (never base64). */
export function encodeJob(jobId: string, replyTo: string, request: JobRequest, timeoutMs: number): RedisArg[] {
  const { payload } = request;
  const fields: RedisArg[] = [
    'v',
    String(PROTOCOL_VERSION),
    'jid',
    jobId,
    'rid',
    request.requestId,
    'reply',
    replyTo,
    'ttl',
    String(Math.max(0, Math.round(timeoutMs))),
    'topk',
    String(request.topK),
    'out',
    request.wantOutput === true ? '1' : '0',
    'kind',
    payload.kind,
  ];
  if (payload.kind === 'image') fields.push('ct', payload.contentType);
  else fields.push('dtype', payload.dtype, 'shape', payload.shape.join(','));
  fields.push('body', Buffer.from(payload.bytes.buffer, payload.bytes.byteOffset, payload.bytes.byteLength));
  return fields;
}

export interface DecodedJob {
  jobId: string;
  replyTo: string;
  request: JobRequest;
}

/** Parses a job entry; a string says why it cannot be read (e.g. another protocol version). */
export function decodeJob(fields: Map<string, Buffer>, model: string, version: string): DecodedJob | { unreadable: string; jobId: string; replyTo: string } {
  const get = (name: string): string => str(fields.get(name));
  const jobId = get('jid');
  const replyTo = get('reply');
  const v = get('v');
  if (v !== String(PROTOCOL_VERSION))
    return { unreadable: `job message of protocol version ${v === '' ? '(none)' : v}; this worker speaks version ${PROTOCOL_VERSION}`, jobId, replyTo };
  const body = fields.get('body') ?? Buffer.alloc(0);
  const kind = get('kind');
  let payload: JobPayload;
  if (kind === 'image') payload = { kind: 'image', contentType: get('ct'), bytes: body };
  else if (kind === 'tensor') {
    const dtype = get('dtype');
    if (dtype !== 'float32') return { unreadable: `tensor dtype "${dtype}"`, jobId, replyTo };
    payload = {
      kind: 'tensor',
      dtype,
      shape: get('shape')
        .split(',')
        .filter((d) => d !== '')
        .map(Number),
      bytes: body,
    };
  } else return { unreadable: `payload kind "${kind}"`, jobId, replyTo };
  const topK = Number(get('topk'));
  const timeoutMs = Number(get('ttl'));
  if (jobId === '' || !Number.isFinite(topK) || !Number.isFinite(timeoutMs)) return { unreadable: 'a job message without jid, topk or ttl', jobId, replyTo };
  const request: JobRequest = { requestId: get('rid'), model, version, payload, topK, timeoutMs };
  if (get('out') === '1') request.wantOutput = true;
  return { jobId, replyTo, request };
}

interface ReplyJson {
  predictions?: Prediction[];
  timings?: { queueMs: number; inferenceMs: number; batchSize: number };
  error?: WireError;
}

/** Reply entry fields: the outcome as JSON, the output row (if any) as raw float32 bytes. */
export function encodeReply(jobId: string, outcome: JobOutcome): RedisArg[] {
  const json: ReplyJson = outcome.ok ? { predictions: outcome.predictions, timings: outcome.timings } : { error: outcome.error };
  const fields: RedisArg[] = ['v', String(PROTOCOL_VERSION), 'jid', jobId, 'res', JSON.stringify(json)];
  if (outcome.ok && outcome.output !== undefined) fields.push('row', Buffer.from(outcome.output.buffer, outcome.output.byteOffset, outcome.output.byteLength));
  return fields;
}

export function decodeReply(fields: Map<string, Buffer>): { jobId: string; outcome: JobOutcome } {
  const jobId = str(fields.get('jid'));
  const v = str(fields.get('v'));
  if (v !== String(PROTOCOL_VERSION)) {
    return {
      jobId,
      outcome: {
        ok: false,
        error: {
          code: 'PROTOCOL_MISMATCH',
          message: `A worker answered in protocol version ${v === '' ? '(none)' : v}; this gateway speaks version ${PROTOCOL_VERSION}. Retry; a rolling update may be in progress.`,
        },
      },
    };
  }
  let json: ReplyJson;
  try {
    json = JSON.parse(str(fields.get('res'))) as ReplyJson;
  } catch {
    return { jobId, outcome: { ok: false, error: { code: 'INTERNAL', message: 'A worker sent an unreadable reply.' } } };
  }
  if (json.error !== undefined) {
    const code = isErrorCode(json.error.code) ? json.error.code : 'INTERNAL';
    return { jobId, outcome: { ok: false, error: { code, message: json.error.message } } };
  }
  const outcome: JobOutcome = { ok: true, predictions: json.predictions ?? [], timings: json.timings ?? { queueMs: 0, inferenceMs: 0, batchSize: 0 } };
  const row = fields.get('row');
  if (row !== undefined) {
    // Copy into an aligned buffer: a Buffer's offset in its pool need not be a multiple of 4.
    const aligned = new Uint8Array(row.byteLength);
    aligned.set(row);
    outcome.output = new Float32Array(aligned.buffer);
  }
  return { jobId, outcome };
}
