import { createLogger } from '../../src/common/logger.js';
import { resolveOptions } from '../../src/config/options.js';
import { SERVE_OPTIONS, type ServeConfig } from '../../src/config/serve-config.js';
import { EmbeddedServer } from '../../src/embedded/embedded-server.js';

/** Config as the CLI would build it, with test-friendly defaults (free port, loopback, quiet). */
export function testConfig(flags: Record<string, unknown>): ServeConfig {
  return resolveOptions(SERVE_OPTIONS, { port: 0, host: '127.0.0.1', logLevel: 'silent', ...flags }, {});
}

export async function startServer(flags: Record<string, unknown>): Promise<{ server: EmbeddedServer; url: string }> {
  const config = testConfig(flags);
  const server = await EmbeddedServer.create(config, createLogger(config.logLevel));
  const url = await server.listen();
  return { server, url };
}

export function multipart(parts: Array<{ name: string; filename?: string; type?: string; data: Uint8Array | string }>): FormData {
  const form = new FormData();
  for (const part of parts) {
    if (part.filename === undefined) form.append(part.name, typeof part.data === 'string' ? part.data : Buffer.from(part.data).toString());
    else form.append(part.name, new Blob([part.data], { type: part.type ?? 'application/octet-stream' }), part.filename);
  }
  return form;
}
