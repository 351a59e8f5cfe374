// Embedded mode has the same byte bound as a gateway: uploads beyond --max-queued-bytes
// get 503 QUEUE_FULL before their bodies are read, and the bytes are released afterwards.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { photo } from '../helpers/images.js';
import { startServer } from '../helpers/server.js';
import { makeRepository } from '../helpers/tiny-model.js';

let repo: Awaited<ReturnType<typeof makeRepository>>;
let server: EmbeddedServer;
let url: string;

beforeAll(async () => {
  repo = await makeRepository([{ name: 'tiny', classes: 5 }]);
  ({ server, url } = await startServer({ models: repo.root, defaultModel: 'tiny', maxQueuedBytes: 3 * 1024 * 1024, bodyLimit: 2 * 1024 * 1024 }));
});
afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

async function heldBytes(): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^swarmserve_held_request_bytes (\d+)/m.exec(text)?.[1]);
}

it('refuses uploads beyond --max-queued-bytes with 503 QUEUE_FULL, and releases the bytes', async () => {
  const body = Buffer.alloc(1024 * 1024, 7);
  body.set([0xff, 0xd8, 0xff]);
  const answers = await Promise.all(
    Array.from({ length: 12 }, async () => {
      const response = await fetch(`${url}/predict`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });
      return {
        status: response.status,
        code: ((await response.json()) as { error?: { code: string } }).error?.code,
        retryAfter: response.headers.get('retry-after'),
      };
    }),
  );
  const refused = answers.filter((a) => a.status === 503);
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.every((a) => a.code === 'QUEUE_FULL' && a.retryAfter === '1')).toBe(true);
  // Those let in were read and decoded (and failed as the fake JPEGs they are).
  expect(answers.filter((a) => a.status !== 503).every((a) => a.status === 422)).toBe(true);
  expect(answers.filter((a) => a.status === 422).length).toBeGreaterThan(0);
  expect(await heldBytes()).toBe(0);
  const ok = await fetch(`${url}/predict`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
  expect(ok.status).toBe(200);
});
