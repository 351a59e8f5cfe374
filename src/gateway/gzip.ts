// `Content-Encoding: gzip` request bodies: decompressed as they arrive, before the body
// parsers (for multipart, the /predict route) see them, and cut off as soon as the
// decompressed bytes pass the body limit — a small gzip bomb must not inflate gigabytes
// into memory (or burn CPU) before its 413.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServeError } from '../common/errors.js';

/** The stream fastify reads the body from; it compares `receivedEncodedLength` with Content-Length. */
type Payload = Readable & { receivedEncodedLength?: number };

/** Errors once more than `limit` bytes pass through. */
class ByteCap extends Transform {
  private seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) callback(new ServeError('PAYLOAD_TOO_LARGE', `The body is larger than ${this.limit} bytes once decompressed (--body-limit).`));
    else callback(null, chunk);
  }
}

export function isGzip(encoding: string | undefined): boolean {
  return encoding !== undefined && encoding.trim().toLowerCase() === 'gzip';
}

/**
 * A gzip multipart body the route did not read to the end (an error, a bomb) leaves its rest
 * on the connection, where it would stall the next request: its answer must close the
 * connection, as fastify's does when a body parser fails.
 */
export function leavesBodyUnread(request: FastifyRequest): boolean {
  return request.inflatedBody !== null && !request.raw.readableEnded;
}

export function registerGzip(app: FastifyInstance, limit: number): void {
  app.decorateRequest('inflatedBody', null);
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding === undefined || encoding === '' || encoding === 'identity') {
      done(null, payload);
      return;
    }
    if (encoding !== 'gzip') {
      done(new ServeError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${encoding}" is not supported: send gzip or no encoding.`), payload);
      return;
    }
    const gunzip = createGunzip();
    const cap = new ByteCap(limit);
    const out: Payload = cap;
    out.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => {
      out.receivedEncodedLength = (out.receivedEncodedLength ?? 0) + chunk.length;
    });
    gunzip.on('error', (err) => cap.destroy(new ServeError('BAD_ENCODING', `The gzip body could not be decompressed: ${err.message}.`)));
    // Stop inflating (and reading) once the cap has given its answer, or its reader has gone.
    cap.on('close', () => gunzip.destroy());
    // Its readers get its errors; a multipart body the route never read must not crash the process.
    cap.on('error', () => undefined);
    // A client gone mid-upload: end the read (pipe would leave the multipart reader waiting).
    payload.on('close', () => {
      if (!payload.readableEnded) cap.destroy(new ServeError('CLIENT_CLOSED'));
    });
    payload.pipe(gunzip).pipe(cap);
    // @fastify/multipart's parser ignores this stream (it reads request.raw): the route reads
    // the parts from it (form-parts.ts).
    if (/^multipart\//i.test(request.headers['content-type'] ?? '')) request.inflatedBody = out;
    done(null, out);
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The decompressed body of a gzip multipart request, else null. */
    inflatedBody: Readable | null;
  }
}
