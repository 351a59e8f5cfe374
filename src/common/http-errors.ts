// Errors become HTTP answers here, for every fastify server of the project (the gateway and
// the worker's health listener): a ServeError as is, framework and parser errors mapped to
// their codes, anything else INTERNAL (logged, never shown).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ServeError, type ErrorCode } from './errors.js';

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'TOO_MANY_FILES',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'BAD_MULTIPART',
  FST_PROTO_VIOLATION: 'BAD_MULTIPART',
  FST_MP_PREMATURE_CLOSE: 'BAD_MULTIPART',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_PARAMETER',
};

/** 5xx answers that are the system working as designed (backpressure, shutdown), not faults to log. */
const QUIET_CODES = new Set<ErrorCode>(['QUEUE_FULL', 'SHUTTING_DOWN', 'NOT_READY', 'QUEUE_UNAVAILABLE', 'DEADLINE_EXCEEDED']);

export function toServeError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  const fe = err as Partial<FastifyError> | undefined;
  const mapped = fe?.code === undefined ? undefined : FRAMEWORK_CODES[fe.code];
  if (mapped !== undefined) return new ServeError(mapped, mapped === 'PAYLOAD_TOO_LARGE' ? undefined : fe?.message);
  // busboy reports malformed multipart bodies as plain errors.
  if (fe?.message !== undefined && /multipart|boundary|unexpected end of form|malformed part header/i.test(fe.message))
    return new ServeError('BAD_MULTIPART', `The multipart body is malformed: ${fe.message}`);
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new ServeError('BAD_PARAMETER', fe.message);
  return new ServeError('INTERNAL', undefined, { cause: err });
}

/** The coded error a request is answered with: mapped, logged when it is a fault, recorded on the request. */
export function answerError(request: FastifyRequest, err: unknown): ServeError {
  const error = toServeError(err);
  if (error.status >= 500 && !QUIET_CODES.has(error.code)) {
    request.log.error({ err, code: error.code }, 'request failed');
  }
  request.errorCode = error.code;
  return error;
}

/** Answers with the project's error body (`{"success": false, "error": {code, message}}`). */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const error = answerError(request, err);
  return reply.code(error.status).headers(error.headers).send(error.toJSON());
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The code of the error the request was answered with ("" when none). */
    errorCode: string;
  }
}
