// GET /dashboard (the page), /dashboard/assets/<file> (its script, styles and uPlot, all
// served by this process: no CDN) and /dashboard/stream (the data, newline-delimited JSON,
// streamed while the page is open). The page and its assets hold no data and need no key,
// so a browser can load them and ask for one; the stream is an API route like any other:
// with API keys on it needs `Authorization: Bearer <key>` unless --open-paths opens it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { ServeError } from '../common/errors.js';
import { DASHBOARD_PATH, DASHBOARD_STREAM_PATH, DEFAULT_RANGE_S, MAX_RANGE_S, MIN_RANGE_S } from './contract.js';
import type { DashboardHub } from './hub.js';

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const page = (name: string): Buffer => readFileSync(new URL(`./page/${name}`, import.meta.url));
  const uplot = (name: string): Buffer => readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${name}`));
  return new Map([
    ['index.html', { type: 'text/html; charset=utf-8', body: page('index.html') }],
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: page('dashboard.js') }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: page('dashboard.css') }],
    ['uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: uplot('uPlot.iife.min.js') }],
    ['uPlot.min.css', { type: 'text/css; charset=utf-8', body: uplot('uPlot.min.css') }],
  ]);
}

// Scripts and styles only from this origin; the data comes from the same origin too.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const htmlSchema = (summary: string, description: string) =>
  ({
    summary,
    tags: ['dashboard'],
    response: { 200: { description, content: { 'text/html': { schema: { type: 'string' } } } } },
  }) as const;

export function registerDashboard(app: FastifyInstance, hub: DashboardHub): void {
  const assets = loadAssets();
  const index = assets.get('index.html')!;
  app.get(
    DASHBOARD_PATH,
    { schema: htmlSchema('The live dashboard (an HTML page; needs no key, asks for one when keys are on)', 'The page.') },
    (_request, reply) => reply.type(index.type).header('content-security-policy', CSP).header('cache-control', 'no-cache').send(index.body),
  );
  app.get(
    '/dashboard/assets/:file',
    {
      schema: {
        summary: "The dashboard's script, styles and charting library (uPlot), served by this process",
        tags: ['dashboard'],
        params: { type: 'object', required: ['file'], properties: { file: { type: 'string' } } },
        response: {
          200: { description: 'The file.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
        },
      },
    },
    (request, reply) => {
      const asset = assets.get((request.params as { file: string }).file);
      if (asset === undefined || asset === index) throw new ServeError('NOT_FOUND', `No dashboard asset ${request.url}.`);
      return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
    },
  );
  app.get(
    DASHBOARD_STREAM_PATH,
    {
      schema: {
        summary: "The dashboard's data: newline-delimited JSON, a hello, the history of the range, then a tick every second (docs/dashboard.md)",
        tags: ['dashboard'],
        querystring: {
          type: 'object',
          properties: { range: { type: 'string', description: `seconds of history, ${MIN_RANGE_S}-${MAX_RANGE_S} (default ${DEFAULT_RANGE_S})` } },
        },
        response: {
          200: {
            description: 'A stream of JSON lines, open until the client leaves or the server stops.',
            content: { 'application/x-ndjson': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (request, reply) => {
      const given = (request.query as { range?: string }).range;
      const rangeS = given === undefined ? DEFAULT_RANGE_S : Number(given);
      if (!Number.isInteger(rangeS) || rangeS < MIN_RANGE_S || rangeS > MAX_RANGE_S)
        throw new ServeError('BAD_PARAMETER', `range must be a whole number of seconds from ${MIN_RANGE_S} to ${MAX_RANGE_S}; got "${given}".`);
      if (hub.openStreams >= hub.maxStreams)
        throw new ServeError('TOO_MANY_STREAMS', `This gateway already serves ${hub.openStreams} dashboard streams (at most ${hub.maxStreams}).`, {
          headers: { 'retry-after': '5' },
        });
      // The stream is written by the hub from now on; fastify's reply is done with.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-request-id': request.id,
        // Proxies (nginx) must pass each line on as it comes.
        'x-accel-buffering': 'no',
        // Its connection ends with it: a finished stream must not linger as a keep-alive connection that holds a drain open.
        connection: 'close',
      });
      res.flushHeaders();
      await hub.open(res, rangeS);
    },
  );
}
