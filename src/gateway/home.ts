// `GET /`: what a person (or a probe) opening the server's address sees — the service, its
// version and where to go next — instead of a 404.
import type { FastifyInstance } from 'fastify';
import { packageVersion } from '../config/paths.js';
import { DOCS_PREFIX, OPENAPI_PATH } from './openapi.js';
import { homeSchema } from './schemas.js';
import { DASHBOARD_PATH } from '../dashboard/contract.js';

export function registerHome(app: FastifyInstance, keysRequired: boolean): void {
  const body = {
    service: 'swarmserve',
    version: packageVersion(),
    predict: 'POST /predict (multipart field "img_file", or the raw image bytes)',
    auth: keysRequired ? 'API key required: Authorization: Bearer <key>' : 'open (no API key)',
    links: { ready: '/health/ready', live: '/health/live', metrics: '/metrics', docs: DOCS_PREFIX, openapi: OPENAPI_PATH, dashboard: DASHBOARD_PATH },
  };
  app.get('/', { schema: homeSchema }, () => body);
}
