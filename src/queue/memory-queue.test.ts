import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import type { InferenceJob } from './contract.js';
import { MemoryQueue } from './memory-queue.js';

function job(id: string, deadline = Date.now() + 10_000): InferenceJob {
  return { id, model: 'm', version: '1', contentType: 'image/jpeg', body: new Uint8Array([1]), topK: 1, deadline, enqueuedAt: Date.now() };
}

describe('MemoryQueue', () => {
  it('hands jobs to a waiting receiver and routes the outcome back', async () => {
    const queue = await MemoryQueue.create();
    const received = queue.receive('m:1', 4, 1000);
    const result = queue.submit(job('a'), { bound: 10 });
    const [delivery] = await received;
    expect(delivery?.job.id).toBe('a');
    await queue.complete(delivery!, { ok: true, predictions: [{ label: 'x', probability: 1 }], timings: { queueMs: 0, inferenceMs: 1, batchSize: 1 } });
    await expect(result).resolves.toMatchObject({ ok: true });
  });

  it('refuses with QUEUE_FULL and Retry-After beyond its bound', async () => {
    const queue = await MemoryQueue.create();
    void queue.submit(job('a'), { bound: 2 });
    void queue.submit(job('b'), { bound: 2 });
    expect(queue.depth('m:1')).toBe(2);
    const err = await queue.submit(job('c'), { bound: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServeError);
    expect((err as ServeError).code).toBe('QUEUE_FULL');
    expect((err as ServeError).headers['retry-after']).toBe('1');
  });

  it('returns at most maxItems and [] after the wait when empty', async () => {
    const queue = await MemoryQueue.create();
    for (const id of ['a', 'b', 'c']) void queue.submit(job(id), { bound: 10 });
    expect((await queue.receive('m:1', 2, 0)).map((d) => d.job.id)).toEqual(['a', 'b']);
    expect((await queue.receive('m:1', 2, 0)).map((d) => d.job.id)).toEqual(['c']);
    const started = Date.now();
    expect(await queue.receive('m:1', 2, 50)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('drops a queued job whose caller aborts, rejecting with the abort reason', async () => {
    const queue = await MemoryQueue.create();
    const stop = new AbortController();
    const result = queue.submit(job('a'), { bound: 10, signal: stop.signal });
    stop.abort(new ServeError('DEADLINE_EXCEEDED'));
    await expect(result).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(queue.depth('m:1')).toBe(0);
    expect(await queue.receive('m:1', 4, 0)).toEqual([]);
  });

  it('marks a taken job cancelled when its caller aborts, and ignores its late outcome', async () => {
    const queue = await MemoryQueue.create();
    const stop = new AbortController();
    const result = queue.submit(job('a'), { bound: 10, signal: stop.signal });
    const [delivery] = await queue.receive('m:1', 1, 0);
    expect(delivery?.isCancelled()).toBe(false);
    stop.abort();
    expect(delivery?.isCancelled()).toBe(true);
    await expect(result).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await queue.complete(delivery!, { ok: false, error: { code: 'CLIENT_CLOSED', message: 'x' } });
  });

  it('close rejects waiting jobs with SHUTTING_DOWN, wakes receivers and refuses new jobs', async () => {
    const queue = await MemoryQueue.create();
    const waiting = queue.submit(job('a'), { bound: 10 });
    const receiver = queue.receive('other:1', 1, 10_000);
    await queue.close();
    await expect(waiting).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    await expect(receiver).resolves.toEqual([]);
    await expect(queue.submit(job('b'), { bound: 10 })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
