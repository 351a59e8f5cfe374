// The one admission chain every request goes through before its body is read (a refused
// request's body is never parsed: Node discards it as it arrives, holding no memory, and the
// client, still sending, gets to read its answer):
//   1. auth: the matched route decides (an unmatched path is protected, never opened by a
//      raw-URL prefix);
//   2. a body only where a route takes one (a POST route): any other body is refused unread;
//   3. per-client limit: at most --max-uploads-per-client bodies at once from one address;
//   4. byte reservation: the declared length (a gzip body: the body limit) against
//      --max-queued-bytes, or 503 QUEUE_FULL.
// Then a watchdog follows each upload's bytes as they arrive: a body must arrive within
// --body-timeout-ms per MiB (408 BODY_TIMEOUT), and an upload that falls behind that rate no
// longer holds the bytes it declared, only those it has sent, so a few slow clients cannot
// hold the budget every other client needs.
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServeError } from '../common/errors.js';
import { authorize, type ApiKeys } from './auth.js';
import { isGzip } from './gzip.js';

const MiB = 1024 * 1024;
/** How often the watchdog looks at the uploads in progress. */
const WATCH_INTERVAL_MS = 250;
/** An upload is judged on its rate only after this long (connection set-up, the first window). */
const RATE_GRACE_MS = 1_000;
/** A slow upload holds what it has sent plus this much (about one socket read). */
const SLOW_SLACK_BYTES = 64 * 1024;

/** Bytes of request bodies held by a gateway, against its bound. */
export class HeldBytes {
  bytes = 0;
  constructor(readonly bound: number) {}
  reserve(n: number): boolean {
    if (this.bytes + n > this.bound) return false;
    this.bytes += n;
    return true;
  }
  /** Moves a request's reservation to `n` bytes: always possible downwards, upwards only within the bound. */
  resize(request: { heldBytes: number }, n: number): boolean {
    if (n > request.heldBytes && !this.reserve(n - request.heldBytes)) return false;
    if (n < request.heldBytes) this.bytes -= request.heldBytes - n;
    request.heldBytes = n;
    return true;
  }
  release(request: { heldBytes: number }): void {
    this.bytes -= request.heldBytes;
    request.heldBytes = 0;
  }
}

export interface AdmissionOptions {
  apiKeys?: ApiKeys | undefined;
  openPaths: readonly string[];
  bodyLimitBytes: number;
  maxHeldBytes: number;
  /** A body must arrive within this many ms per MiB (at least one MiB's worth). */
  bodyTimeoutMs: number;
  /** Bodies one client address may send at once; 0: no limit. */
  maxUploadsPerClient: number;
}

interface Upload {
  request: FastifyRequest;
  reply: FastifyReply;
  socket: Socket;
  /** socket.bytesRead when the body started: what came after is the body (a keep-alive socket carries earlier requests). */
  baseline: number;
  startedAt: number;
  deadlineMs: number;
  /** What it reserved at admission. */
  declared: number;
  /**
   * Whether its reservation may follow the bytes received: not for a gzip body, whose bytes in
   * memory (inflated) can be many times those on the wire.
   */
  canShrink: boolean;
  slow: boolean;
}

/** Whether the request carries a body: a length above 0, or chunked. */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) !== 0;
  return request.headers['transfer-encoding'] !== undefined;
}

export function registerAdmission(app: FastifyInstance, options: AdmissionOptions, held: HeldBytes): void {
  const uploads = new Set<Upload>();
  const perClient = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  /** Bytes per ms the deadline asks for. */
  const minRate = MiB / options.bodyTimeoutMs;
  const queueFull = (): ServeError =>
    new ServeError('QUEUE_FULL', `This gateway holds ${held.bytes} bytes of requests (bound ${options.maxHeldBytes}, --max-queued-bytes); retry later.`, {
      headers: { 'retry-after': '1' },
    });

  const finish = (request: FastifyRequest): void => {
    held.release(request);
    if (request.upload !== null) {
      uploads.delete(request.upload);
      request.upload = null;
    }
    if (request.uploadClient !== '') {
      const n = (perClient.get(request.uploadClient) ?? 1) - 1;
      if (n > 0) perClient.set(request.uploadClient, n);
      else perClient.delete(request.uploadClient);
      request.uploadClient = '';
    }
  };

  /** Answers an upload that cannot go on, closes its connection, and lets go of everything it held. */
  const cut = (upload: Upload, error: ServeError): void => {
    const { request, reply, socket } = upload;
    finish(request);
    if (reply.sent) return;
    reply.header('connection', 'close');
    // The body parser still waits on the socket; once the socket goes it fails too and fastify
    // finds the reply sent: not worth a warning for a request refused on purpose.
    reply.log = request.log.child({}, { level: 'error' });
    reply.raw.once('finish', () => socket.destroy());
    void reply.send(error);
  };

  const watch = (): void => {
    const now = performance.now();
    for (const upload of uploads) {
      const { request } = upload;
      if (request.raw.complete) {
        // The whole body is here: it keeps what it holds until it is answered.
        uploads.delete(upload);
        request.upload = null;
        continue;
      }
      const elapsed = now - upload.startedAt;
      const received = Math.max(0, upload.socket.bytesRead - upload.baseline);
      if (elapsed > upload.deadlineMs) {
        cut(
          upload,
          new ServeError(
            'BODY_TIMEOUT',
            `The request body did not arrive within ${Math.round(upload.deadlineMs)} ms (--body-timeout-ms ${options.bodyTimeoutMs} per MiB): ${received} bytes came.`,
          ),
        );
        continue;
      }
      if (!upload.slow && upload.canShrink && elapsed > RATE_GRACE_MS && received < minRate * (elapsed - RATE_GRACE_MS)) upload.slow = true;
      // A slow upload holds what it has sent, growing as more comes, within the bound.
      if (upload.slow && !held.resize(request, Math.min(upload.declared, received + SLOW_SLACK_BYTES))) {
        cut(upload, queueFull());
      }
    }
    if (uploads.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  app.decorateRequest('upload', null);
  app.decorateRequest('uploadClient', '');
  app.addHook('onRequest', (request, reply, done) => {
    // 1. Auth, on the matched route.
    if (options.apiKeys !== undefined) {
      const refused = authorize(request, options.apiKeys, options.openPaths);
      if (refused !== undefined) {
        done(refused);
        return;
      }
    }
    if (!hasBody(request)) {
      done();
      return;
    }
    // 2. A body only where a route takes one; any other is refused before a byte of it is read.
    const route = request.routeOptions.url;
    if (route === undefined || request.method !== 'POST') {
      done(
        route === undefined
          ? new ServeError('NOT_FOUND', `No route ${request.method} ${request.url}.`)
          : new ServeError('PAYLOAD_TOO_LARGE', `${request.method} ${route} takes no request body.`),
      );
      return;
    }
    // 3. Per-client limit.
    const client = request.ip;
    if (options.maxUploadsPerClient > 0) {
      const n = perClient.get(client) ?? 0;
      if (n >= options.maxUploadsPerClient) {
        done(
          new ServeError(
            'TOO_MANY_UPLOADS',
            `${client} is sending ${n} request bodies already (--max-uploads-per-client ${options.maxUploadsPerClient}); retry when one is answered.`,
            { headers: { 'retry-after': '1' } },
          ),
        );
        return;
      }
    }
    perClient.set(client, (perClient.get(client) ?? 0) + 1);
    request.uploadClient = client;
    // 4. Reserve the body's bytes before reading it: a burst of big uploads gets 503s, not an
    // out-of-memory kill that would lose every request the process holds.
    const declared = Number(request.headers['content-length']);
    // A gzip body may inflate up to the limit, whatever its size on the wire.
    const known = Number.isFinite(declared) && declared >= 0 && !isGzip(request.headers['content-encoding']);
    const bytes = known ? Math.min(declared, options.bodyLimitBytes) : options.bodyLimitBytes;
    if (!held.reserve(bytes)) {
      finish(request);
      done(queueFull());
      return;
    }
    request.heldBytes = bytes;
    const socket = request.raw.socket;
    // What the deadline allows: --body-timeout-ms per MiB on the wire (a gzip or chunked body: the declared length, else the limit).
    const wire = Number.isFinite(declared) && declared >= 0 ? declared : options.bodyLimitBytes;
    const deadlineMs = options.bodyTimeoutMs * Math.max(1, wire / MiB);
    const upload: Upload = {
      request,
      reply,
      socket,
      baseline: socket.bytesRead,
      startedAt: performance.now(),
      deadlineMs,
      declared: bytes,
      canShrink: known,
      slow: false,
    };
    request.upload = upload;
    uploads.add(upload);
    timer ??= setInterval(watch, WATCH_INTERVAL_MS).unref();
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    finish(request);
    done();
  });
  // A client that leaves while uploading gets no response, so onResponse never runs for it.
  app.addHook('onRequestAbort', (request, done) => {
    finish(request);
    done();
  });
  app.addHook('onClose', (_app, done) => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    done();
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The upload the watchdog follows, until its body is complete or it is answered. */
    upload: Upload | null;
    /** The address counted for --max-uploads-per-client ("" when none is). */
    uploadClient: string;
  }
}
