// `Content-Encoding: gzip` request bodies: decompressed as they arrive, before the body
// parsers see them, and cut off as soon as the decompressed bytes pass the body limit —
// a small gzip bomb must not inflate gigabytes into memory (or burn CPU) before its 413.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
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

export function registerGzip(app: FastifyInstance, limit: number): void {
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
    // The multipart parser reads the raw request, not this stream: it would see gzip bytes.
    if (/^multipart\//i.test(request.headers['content-type'] ?? '')) {
      done(new ServeError('UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding: gzip is accepted for raw image bodies, not multipart ones.'), payload);
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
    // Stop inflating (and reading) once the cap has given its answer.
    cap.on('error', () => gunzip.destroy());
    payload.pipe(gunzip).pipe(cap);
    done(null, out);
  });
}
