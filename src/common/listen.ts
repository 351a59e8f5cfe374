// Starting an HTTP listener, with the usual failures (port taken, no permission) turned
// into coded errors the CLI prints in one line, not stack traces.
import { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { ServeError } from './errors.js';

export async function listenOrExplain(app: FastifyInstance, port: number, host: string, flag: string): Promise<void> {
  try {
    await app.listen({ port, host });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ServeError('CONFIG_INVALID', `${host}:${port} is already in use (${flag}); pick another port, or 0 for a free one.`);
    if (code === 'EACCES') throw new ServeError('CONFIG_INVALID', `No permission to listen on ${host}:${port} (${flag}); ports below 1024 need privileges.`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new ServeError('CONFIG_INVALID', `${host} is not an address of this host (${flag}).`);
    throw err;
  }
}

/** The base URL a listening fastify app answers on (loopback when it listens on every interface). */
export function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening');
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const scheme = (app.server as unknown) instanceof TlsServer ? 'https' : 'http';
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${address.port}`;
}
