// A worker's own small HTTP listener: Prometheus scrapes every replica here, and container
// health checks use it without depending on Redis.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ServeError } from '../common/errors.js';
import { sendError } from '../common/http-errors.js';

/** GET /metrics, /health/live and /health/ready, with the gateway's error bodies. */
export function buildHealthApp(
  registry: Registry,
  reason: () => string | undefined,
  keys: () => readonly string[],
  logger: FastifyBaseLogger,
): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // Scrapers keep connections open; they must not hold the shutdown.
    forceCloseConnections: true,
  });
  app.decorateRequest('errorCode', '');
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ServeError('NOT_FOUND', `No route ${request.method} ${request.url}.`)));
  app.get('/health/live', () => ({ status: 'live' }));
  app.get('/health/ready', (_request, reply) => {
    const why = reason();
    if (why !== undefined) throw new ServeError('NOT_READY', `Not ready: ${why}.`);
    return reply.send({ status: 'ready', models: keys() });
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return app;
}
