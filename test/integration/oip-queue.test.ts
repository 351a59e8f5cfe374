// Open Inference Protocol infer requests go through the queue and batching of /predict:
// their items share batches with other requests, and they are queued all or nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { photo } from '../helpers/images.js';
import { MODELS_DIR } from '../helpers/oip.js';
import { startServer } from '../helpers/server.js';
import { makeRepository } from '../helpers/tiny-model.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The worker's batch size histogram for one model: cumulative bucket counts by `le`, and the sum. */
async function batchSizes(url: string, model: string): Promise<{ buckets: Map<string, number>; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = new Map<string, number>();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('swarmserve_batch_size') || !line.includes(`model="${model}"`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (line.startsWith('swarmserve_batch_size_bucket{') && le !== undefined) buckets.set(le, value);
    else if (line.startsWith('swarmserve_batch_size_sum{')) sum = value;
  }
  return { buckets, sum };
}

function infer(url: string, model: string, inputs: unknown[]): Promise<Response> {
  return fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs }) });
}

describe('Open Inference Protocol v2: the queue and batching of /predict', () => {
  it('concurrent infer requests share batches with each other and with /predict', async () => {
    // A long batching delay: every job below arrives while the first batch is still gathering.
    const { server, url } = await startServer({ models: MODELS_DIR, only: 'moderation', defaultModel: 'moderation', maxQueueDelayMs: 800, maxBatchSize: 32 });
    cleanups.push(() => server.close());
    const before = await batchSizes(url, 'moderation');
    const images = (['dog', 'eagle', 'giraffe'] as const).map((name) => photo(name).toString('base64'));
    // Three infer requests of 3 items and one /predict: 10 jobs, at most 4 of them from one
    // infer request plus the /predict one.
    const answers = await Promise.all([
      ...[0, 1, 2].map(() => infer(url, 'moderation', [{ name: 'input', shape: [3], datatype: 'BYTES', data: images }])),
      fetch(`${url}/predict`, { method: 'POST', body: photo('horses'), headers: { 'content-type': 'image/jpeg' } }),
    ]);
    for (const answer of answers) expect(answer.status, await answer.clone().text()).toBe(200);
    const after = await batchSizes(url, 'moderation');
    const delta = (le: string): number => (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
    expect(after.sum - before.sum).toBe(10);
    // A batch of more than 4 held items of at least two infer requests.
    expect(delta('+Inf') - delta('4'), JSON.stringify([...after.buckets])).toBeGreaterThanOrEqual(1);
    // The /predict job was computed with others, and only infer items were there to join it.
    const predictBatch = Number(/batch (\d+)/.exec(answers[3]?.headers.get('server-timing') ?? '')?.[1]);
    expect(predictBatch).toBeGreaterThan(1);
  }, 60_000);

  it('an infer request is queued all or nothing against the bound: too many items are refused whole, none computed', async () => {
    const repo = await makeRepository([{ name: 'tiny', classes: 3, config: { batching: { queueBound: 4 } } }]);
    cleanups.push(repo.cleanup);
    const { server, url } = await startServer({ models: repo.root, defaultModel: 'tiny' });
    cleanups.push(() => server.close());
    const items = (n: number) => [
      { name: 'input', shape: [n, 3, 32, 32], datatype: 'FP32', data: Array.from({ length: n * 3 * 32 * 32 }, (_, i) => (i % 256) / 255) },
    ];
    const before = await batchSizes(url, 'tiny');
    const refused = await infer(url, 'tiny', items(5));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: string }).error).toMatch(/5 more do not fit/);
    expect((await batchSizes(url, 'tiny')).sum).toBe(before.sum);
    // Exactly the bound fits.
    const fits = await infer(url, 'tiny', items(4));
    expect(fits.status, await fits.clone().text()).toBe(200);
    expect((await batchSizes(url, 'tiny')).sum).toBe(before.sum + 4);
  }, 60_000);
});
