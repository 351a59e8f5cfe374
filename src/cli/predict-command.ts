import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { request } from 'undici';
import { samplePhotoPath } from '../config/paths.js';
import { addTlsClientOptions, tlsDispatcher, type TlsClientOptions } from './tls-client.js';

export { samplePhotoPath } from '../config/paths.js';

export function registerPredictCommand(program: Command): void {
  const command = program
    .command('predict [image]')
    .description('send an image to a running server and print its predictions (default: the bundled sample photo)')
    .option('-u, --url <url>', 'server base URL [env: SWARMSERVE_URL]', process.env.SWARMSERVE_URL ?? 'http://127.0.0.1:8080')
    .option('--model <name>', 'model to ask')
    .option('-k, --top-k <n>', 'number of predictions')
    .option('--api-key <key>', 'API key, sent as "Authorization: Bearer <key>" [env: SWARMSERVE_API_KEY]', process.env.SWARMSERVE_API_KEY);
  addTlsClientOptions(command).action(
    async (image: string | undefined, opts: { url: string; model?: string; topK?: string; apiKey?: string } & TlsClientOptions) => {
      const path = image ?? samplePhotoPath();
      const bytes = await readFile(path);
      const query = new URLSearchParams();
      if (opts.model !== undefined) query.set('model', opts.model);
      if (opts.topK !== undefined) query.set('top_k', opts.topK);
      const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
      if (opts.apiKey !== undefined && opts.apiKey !== '') headers.authorization = `Bearer ${opts.apiKey}`;
      const dispatcher = tlsDispatcher(opts);
      const response = await request(`${opts.url}/predict?${query.toString()}`, {
        method: 'POST',
        body: bytes,
        headers,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
      const text = await response.body.text();
      process.stdout.write(`${path} → HTTP ${response.statusCode}\n${JSON.stringify(JSON.parse(text), null, 2)}\n`);
      if (response.statusCode >= 400) process.exitCode = 1;
    },
  );
}
