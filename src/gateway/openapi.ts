// The OpenAPI document (/openapi.json) and Swagger UI (/docs), built by @fastify/swagger from
// the routes' own schemas. Registered before any route: the plugin collects routes as they are
// added. The document describes this server as configured: with API keys on, the routes that
// are not in --open-paths carry a bearer security requirement.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { packageVersion } from '../config/paths.js';
import { isOpenPath } from './auth.js';
import { SHARED_SCHEMAS, predictRequestBody } from './schemas.js';

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';
const SCHEME = 'bearerAuth';

/** Request bodies fastify must not validate (see schemas.ts), added to the document only. */
const DOC_ONLY_BODIES: Record<string, object> = { 'POST /predict': predictRequestBody };

export interface OpenApiOptions {
  keysRequired: boolean;
  openPaths: readonly string[];
}

export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'swarmserve',
        version: packageVersion(),
        description: `Image classification served by dynamic-batching ONNX Runtime workers. API keys are ${options.keysRequired ? 'on: the routes with a lock need `Authorization: Bearer <key>` (Authorize).' : 'off: every route is open.'}`,
      },
      tags: [
        { name: 'inference', description: 'Classify images.' },
        { name: 'service', description: 'Health, metrics and this documentation.' },
        { name: 'oip', description: 'Open Inference Protocol v2 (KServe / Triton REST): metadata, health, infer.' },
      ],
      components: {
        securitySchemes: { [SCHEME]: { type: 'http', scheme: 'bearer', description: 'An API key of --api-keys-file.' } },
      },
    },
    // Shared schemas appear under their $id in components.schemas (not def-0, def-1, …).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const methods = typeof route.method === 'string' ? [route.method] : route.method;
      const body = methods.map((m) => DOC_ONLY_BODIES[`${m} ${url}`]).find((b) => b !== undefined);
      const protectedRoute = options.keysRequired && !isOpenPath(url, options.openPaths);
      return {
        url,
        schema: {
          ...schema,
          ...(body === undefined ? {} : { body }),
          ...(protectedRoute ? { security: [{ [SCHEME]: [] }] } : {}),
        },
      };
    },
  });
  // Assets are served from node_modules by the plugin itself: the page fetches nothing from
  // the internet, and validatorUrl stays null (no call to validator.swagger.io). A key typed
  // into Authorize is not kept in the browser's localStorage.
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true, persistAuthorization: false } });
  const documentSchema = {
    summary: 'This document (OpenAPI 3.0)',
    tags: ['service'],
    response: { 200: { description: 'The OpenAPI document.', type: 'object', additionalProperties: true } },
  };
  app.get(OPENAPI_PATH, { schema: documentSchema }, () => app.swagger());
}
