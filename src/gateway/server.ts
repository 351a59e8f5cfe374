// The HTTP gateway: fastify app with /predict, health and metrics. It only validates,
// enqueues and answers; the work happens behind the JobProducer.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { ServeError } from '../common/errors.js';
import { DEFAULT_OPEN_PATHS } from '../config/security-options.js';
import { DEFAULT_BODY_TIMEOUT_MS } from '../config/serve-config.js';
import { HeldBytes, registerAdmission } from './admission.js';

export { HeldBytes } from './admission.js';
import type { GatewayOptions } from './contract.js';
import { sendError } from '../common/http-errors.js';
import { countRequest } from './errors.js';
import { multipartLimits } from './form-parts.js';
import { leavesBodyUnread, registerGzip } from './gzip.js';
import { registerHome } from './home.js';
import { registerOip } from './oip/routes.js';
import { registerOpenApi } from './openapi.js';
import { registerPredictRoute } from './predict-route.js';
import { registerDashboard } from '../dashboard/routes.js';
import { liveSchema, metricsSchema, readySchema } from './schemas.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

export async function buildGateway(options: GatewayOptions, held = new HeldBytes(options.maxHeldBytes)): Promise<FastifyInstance> {
  // With `https` fastify types the instance by its https.Server; every route and hook here is
  // the same for both, and listeningUrl tells the scheme from the server itself.
  const app = Fastify({
    https: options.tls ?? null,
    loggerInstance: options.logger,
    // Per-request logs cost more than the request at high rates; errors are logged where handled.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    requestIdHeader: false,
    bodyLimit: options.bodyLimitBytes,
    // Keep-alive connections that sit idle are closed on shutdown; busy ones finish.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  app.decorateRequest('errorCode', '');
  app.decorateRequest('modelName', '');
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('counted', false);
  app.decorateRequest('heldBytes', 0);

  await app.register(multipart, { limits: multipartLimits(options.bodyLimitBytes) });
  const passBytes = (_req: unknown, body: string | Buffer, done: (err: null, body: string | Buffer) => void): void => done(null, body);
  // No route here takes JSON or text (the OIP routes have their own parser): refused unread
  // with 415, never parsed only to be refused after — 10 MB of `[]` costs ~800 ms and 200 MB.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, passBytes);
  app.addContentTypeParser(/^image\//, { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, passBytes);

  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now();
    reply.header('x-request-id', request.id);
    done();
  });
  // Auth → a body only where a route takes one → per-client limit → byte reservation, and
  // the watchdog that follows each upload's bytes.
  registerAdmission(
    app,
    {
      apiKeys: options.apiKeys,
      openPaths: options.openPaths ?? DEFAULT_OPEN_PATHS,
      bodyLimitBytes: options.bodyLimitBytes,
      maxHeldBytes: options.maxHeldBytes,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
      maxUploadsPerClient: options.maxUploadsPerClient ?? 0,
    },
    held,
  );
  // While draining, every answer closes its connection, so keep-alive clients cannot hold
  // the shutdown open; so does one that leaves a gzip body unread.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (options.isDraining() || leavesBodyUnread(request)) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    countRequest(options.metrics, request, reply.statusCode, request.errorCode);
    done();
  });
  // A client that leaves while uploading gets no response, so onResponse never runs for it.
  app.addHook('onRequestAbort', (request, done) => {
    countRequest(options.metrics, request, 499, 'CLIENT_CLOSED');
    done();
  });
  registerGzip(app, options.bodyLimitBytes);
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ServeError('NOT_FOUND', `No route ${request.method} ${request.url}.`)));

  // Before every route: @fastify/swagger collects routes as they are added.
  await registerOpenApi(app, { keysRequired: options.apiKeys !== undefined, openPaths: options.openPaths ?? DEFAULT_OPEN_PATHS });
  registerPredictRoute(app, options);
  registerHome(app, options.apiKeys !== undefined);
  await registerOip(app, options);
  if (options.dashboard !== undefined) {
    const hub = options.dashboard;
    registerDashboard(app, hub);
    // Before the listener closes: an open dashboard stream must never hold a drain open.
    app.addHook('preClose', (done) => {
      hub.close();
      done();
    });
  }
  app.get('/health/live', { schema: liveSchema }, () => ({ status: 'live' }));
  app.get('/health/ready', { schema: readySchema }, (_request, reply) => {
    const reason = options.notReadyReason();
    if (reason !== undefined) throw new ServeError('NOT_READY', `Not ready: ${reason}.`);
    return reply.send({ status: 'ready', models: [...options.catalog.keys()] });
  });
  const registry = options.metricsRegistry ?? options.metrics.registry;
  app.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return app;
}
