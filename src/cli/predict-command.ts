import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { request } from 'undici';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { addOptions, cliFlags, resolveOptions, type OptionTable } from '../config/options.js';
import { samplePhotoPath } from '../config/paths.js';
import { TLS_CLIENT_OPTIONS, tlsDispatcher } from './tls-client.js';

export { samplePhotoPath } from '../config/paths.js';

export const PREDICT_OPTIONS = {
  url: {
    flag: '-u, --url <url>',
    env: 'SWARMSERVE_URL',
    description: 'server base URL (default http://127.0.0.1:8080)',
    schema: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://127.0.0.1:8080' }).default('http://127.0.0.1:8080'),
  },
  model: { flag: '--model <name>', env: 'SWARMSERVE_PREDICT_MODEL', description: "model to ask (default: the server's)", schema: z.string().min(1).optional() },
  topK: {
    flag: '-k, --top-k <n>',
    env: 'SWARMSERVE_PREDICT_TOP_K',
    description: "number of predictions (default: the model's)",
    schema: z.coerce.number().int().min(1).max(1000).optional(),
  },
  apiKey: { flag: '--api-key <key>', env: 'SWARMSERVE_API_KEY', description: 'API key, sent as "Authorization: Bearer <key>"', schema: z.string().optional() },
  ...TLS_CLIENT_OPTIONS,
} satisfies OptionTable;

export function registerPredictCommand(program: Command): void {
  const command = program
    .command('predict [image]')
    .description('send an image to a running server and print its predictions (default: the bundled sample photo)');
  addOptions(command, PREDICT_OPTIONS).action(async (image: string | undefined, _opts: unknown, cmd: Command) => {
    const opts = resolveOptions(PREDICT_OPTIONS, cliFlags(cmd));
    const path = image ?? samplePhotoPath();
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new ServeError('USAGE', `predict: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const query = new URLSearchParams();
    if (opts.model !== undefined) query.set('model', opts.model);
    if (opts.topK !== undefined) query.set('top_k', String(opts.topK));
    const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
    if (opts.apiKey !== undefined && opts.apiKey !== '') headers.authorization = `Bearer ${opts.apiKey}`;
    const dispatcher = tlsDispatcher(opts);
    let response;
    try {
      response = await request(`${opts.url.replace(/\/+$/, '')}/predict?${query.toString()}`, {
        method: 'POST',
        body: bytes,
        headers,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
    } catch (err) {
      throw new ServeError('TARGET_UNREACHABLE', `predict: ${opts.url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await response.body.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not JSON (a proxy's error page?): shown as it came.
    }
    process.stdout.write(`${path} → HTTP ${response.statusCode}\n${shown}\n`);
    if (response.statusCode >= 400) process.exitCode = 1;
  });
}
