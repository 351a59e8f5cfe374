// Hostile HTTP clients, for the hardening tests and bench:hostile: raw sockets that send a
// request head and then a body slowly, or never.
import { connect, type Socket } from 'node:net';

export interface RawRequest {
  socket: Socket;
  /** Resolves with the response's status code (0 if the connection closed without one). */
  status: Promise<number>;
  /** Everything the server sent. */
  received: () => string;
  /** Whether the server closed the connection. */
  closed: () => boolean;
  close: () => void;
}

/** Sends a request head and `initial` bytes of its body, then nothing: the caller decides what follows. */
export function rawRequest(
  url: string,
  head: { method: string; path: string; headers: Record<string, string>; initial?: Buffer; localAddress?: string },
): RawRequest {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), ...(head.localAddress === undefined ? {} : { localAddress: head.localAddress }) });
  let text = '';
  let closed = false;
  const lines = [`${head.method} ${head.path} HTTP/1.1`, `host: ${hostname}:${port}`, ...Object.entries(head.headers).map(([k, v]) => `${k}: ${v}`), '', ''];
  socket.write(lines.join('\r\n'));
  if (head.initial !== undefined && head.initial.length > 0) socket.write(head.initial);
  const status = new Promise<number>((resolve) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (match) resolve(Number(match[1]));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      resolve(0);
    });
  });
  return { socket, status, received: () => text, closed: () => closed, close: () => socket.destroy() };
}

/** Sends one more byte every `everyMs` until stopped: a client that uploads as slowly as it can. */
export function trickle(request: RawRequest, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (!request.socket.destroyed) request.socket.write('x');
  }, everyMs);
  return () => clearInterval(timer);
}

/** Starts a /predict upload declaring a 10 MiB JPEG, of which only the first 3 bytes are sent: the slow-upload attack. */
export function slowImageUpload(url: string): RawRequest {
  return rawRequest(url, {
    method: 'POST',
    path: '/predict',
    headers: { 'content-type': 'image/jpeg', 'content-length': String(10 * 1024 * 1024 - 1) },
    initial: Buffer.from([0xff, 0xd8, 0xff]),
  });
}
