// /openapi.json: a valid OpenAPI document (checked by @apidevtools/swagger-parser) that has
// every route the gateway registers, found independently of @fastify/swagger by an onRoute
// hook on the app as fastify creates it; so a route added later (e.g. /v2/models/{model_name}/infer)
// is checked without editing this file. Also: the response schemas do not strip fields, the
// security requirements follow --open-paths, and /docs is open with keys on.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { packageVersion } from '../../src/config/paths.js';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { photo } from '../helpers/images.js';
import { multipart, startServer } from '../helpers/server.js';
import { makeRepository } from '../helpers/tiny-model.js';

interface Route {
  method: string;
  url: string;
}
const registered = vi.hoisted(() => [] as Route[]);

// Wraps the fastify factory so every app the gateway builds reports its routes from the start.
vi.mock('fastify', async (importOriginal) => {
  const mod = await importOriginal<typeof import('fastify')>();
  // The factory is overloaded (http, https, http2); the arguments pass through untouched.
  const create = mod.default as unknown as (...args: unknown[]) => import('fastify').FastifyInstance;
  const wrapped = ((...args: unknown[]) => {
    const app = create(...args);
    app.addHook('onRoute', (route) => {
      const methods: readonly string[] = typeof route.method === 'string' ? [route.method] : route.method;
      for (const method of methods) registered.push({ method, url: route.url });
    });
    return app;
  }) as typeof mod.default;
  return { ...mod, default: wrapped };
});

const KEY = 'openapi-test-key';
const V2_INFER = '/v2/models/{model_name}/infer';

let repo: Awaited<ReturnType<typeof makeRepository>>;
let keyDir: string;
let open: { server: EmbeddedServer; url: string };
let keyed: { server: EmbeddedServer; url: string };
let openRoutes: Route[];

/** Fastify's `:name` parameters are OpenAPI's `{name}`. */
const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

async function documentOf(url: string): Promise<OpenAPIV3.Document> {
  const res = await fetch(`${url}/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as OpenAPIV3.Document;
}

beforeAll(async () => {
  repo = await makeRepository([{ name: 'tiny', classes: 5, config: { notice: 'test notice: random weights' } }]);
  keyDir = await mkdtemp(join(tmpdir(), 'swarmserve-openapi-'));
  await writeFile(join(keyDir, 'keys'), `${KEY}\n`);
  open = await startServer({ models: repo.root, defaultModel: 'tiny' });
  openRoutes = [...registered];
  keyed = await startServer({ models: repo.root, defaultModel: 'tiny', apiKeysFile: join(keyDir, 'keys') });
});
afterAll(async () => {
  await open?.server.close();
  await keyed?.server.close();
  await repo?.cleanup();
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

describe('OpenAPI document', () => {
  it('validates as OpenAPI 3 and carries the package version', async () => {
    const doc = await documentOf(open.url);
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.version).toBe(packageVersion());
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('has every route the gateway registers, with its method (the /docs UI internals aside)', async () => {
    const doc = await documentOf(open.url);
    // HEAD routes are fastify's automatic twins of the GET ones.
    const routes = openRoutes.filter((r) => r.method !== 'HEAD' && r.url !== '/docs' && !r.url.startsWith('/docs/'));
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining(['POST /predict', 'GET /', 'GET /health/live', 'GET /health/ready', 'GET /metrics', 'GET /openapi.json']),
    );
    for (const route of routes) {
      const item = doc.paths[openapiPath(route.url)] as Record<string, unknown> | undefined;
      expect(item?.[route.method.toLowerCase()], `${route.method} ${route.url} in /openapi.json`).toBeDefined();
    }
    // The Open Inference Protocol's infer route, once it is registered.
    if (openRoutes.some((r) => r.method === 'POST' && openapiPath(r.url) === V2_INFER)) expect(doc.paths[V2_INFER]?.post).toBeDefined();
    // The UI's own routes are not operations of the API.
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
  });

  it('describes /predict: both body forms, the query parameters, the answers', async () => {
    const predict = (await documentOf(open.url)).paths['/predict']?.post;
    const body = predict?.requestBody as OpenAPIV3.RequestBodyObject;
    expect(Object.keys(body.content).sort()).toEqual(['application/octet-stream', 'image/*', 'multipart/form-data']);
    expect((body.content['multipart/form-data']?.schema as OpenAPIV3.SchemaObject).required).toEqual(['img_file']);
    const params = (predict?.parameters as OpenAPIV3.ParameterObject[]).map((p) => `${p.in}:${p.name}`);
    expect(params.sort()).toEqual(['query:model', 'query:timeout_ms', 'query:top_k', 'query:version']);
    expect(Object.keys(predict?.responses ?? {}).sort()).toEqual(['200', '4XX', '5XX']);
  });

  it('response schemas leave every field in: predict (with notice), errors, home, health', async () => {
    const form = multipart([
      { name: 'img_file', filename: 'dog.jpg', type: 'image/jpeg', data: photo('dog') },
      { name: 'top_k', data: '2' },
    ]);
    const res = await fetch(`${open.url}/predict?version=1`, { method: 'POST', body: form });
    const answer = (await res.json()) as Record<string, unknown> & { predictions: Array<Record<string, unknown>> };
    expect(res.status).toBe(200);
    expect(Object.keys(answer).sort()).toEqual(['model', 'notice', 'predictions', 'success', 'version']);
    expect(answer).toMatchObject({ success: true, model: 'tiny', version: '1', notice: 'test notice: random weights' });
    expect(answer.predictions).toHaveLength(2);
    expect(Object.keys(answer.predictions[0]!).sort()).toEqual(['label', 'probability']);

    const raw = await fetch(`${open.url}/predict?top_k=0`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ success: false, error: { code: 'BAD_PARAMETER', message: expect.stringContaining('top_k') as unknown } });

    const home = (await (await fetch(`${open.url}/`)).json()) as Record<string, unknown>;
    expect(Object.keys(home).sort()).toEqual(['auth', 'links', 'predict', 'service', 'version']);
    expect(home.links).toEqual({
      ready: '/health/ready',
      live: '/health/live',
      metrics: '/metrics',
      docs: '/docs',
      openapi: '/openapi.json',
      dashboard: '/dashboard',
    });
    expect(await (await fetch(`${open.url}/health/ready`)).json()).toEqual({ status: 'ready', models: ['tiny'] });
    expect(await (await fetch(`${open.url}/health/live`)).json()).toEqual({ status: 'live' });
  });

  it('without API keys no operation asks for one', async () => {
    const doc = await documentOf(open.url);
    for (const [path, item] of Object.entries(doc.paths)) expect(item?.get?.security ?? item?.post?.security, path).toBeUndefined();
  });

  it('with API keys: the routes not in --open-paths need the bearer key, and the docs stay open', async () => {
    const doc = await documentOf(keyed.url);
    expect(doc.paths['/predict']?.post?.security).toEqual([{ bearerAuth: [] }]);
    for (const path of ['/', '/health/live', '/health/ready', '/metrics', '/openapi.json']) expect(doc.paths[path]?.get?.security, path).toBeUndefined();
    for (const path of ['/docs', '/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const res = await fetch(`${keyed.url}${path}`);
      await res.arrayBuffer(); // read to the end, or the server's close waits for it (its drain timeout)
      expect(res.status, path).toBe(200);
    }
    const refused = await fetch(`${keyed.url}/predict`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
  });
});
