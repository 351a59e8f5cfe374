// A plain node:http server on a free loopback port whose answers a test scripts, for the load
// tester's tests. Each test closes what it started (closeAllStubs in afterEach), even on failure.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubHandler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

export interface StubServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  port: number;
  /** Requests received so far. */
  received(): number;
  close(): Promise<void>;
}

const open = new Set<StubServer>();

export async function startStub(handler: StubHandler): Promise<StubServer> {
  let received = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received++;
      handler(req, Buffer.concat(chunks), res);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const stub: StubServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        open.delete(stub);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.add(stub);
  return stub;
}

export async function closeAllStubs(): Promise<void> {
  await Promise.all([...open].map((s) => s.close()));
}

/** Calls `fn` no sooner than `ms` from now (a timer alone may fire up to ~1 ms early). */
export function after(ms: number, fn: () => void): void {
  const due = performance.now() + ms;
  const tick = (): void => {
    const left = due - performance.now();
    if (left <= 0) fn();
    else setTimeout(tick, Math.ceil(left));
  };
  setTimeout(tick, ms);
}

/** Answers like swarmserve's /predict: 200 `{"success":true,…}`. */
export function answerOk(res: ServerResponse): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"success":true,"predictions":[{"label":"dog","probability":0.9}],"model":"stub","version":"1"}');
}

export function answerJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
