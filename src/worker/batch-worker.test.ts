import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { makeRepository } from '../../test/helpers/tiny-model.js';
import { solidPng } from '../../test/helpers/images.js';
import { loadRepository } from '../model/repository/repository.js';
import type { ModelEntry } from '../model/repository/contract.js';
import type { JobOutcome, JobRequest } from '../queue/contract.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import { BatchWorker } from './batch-worker.js';
import type { BatchObserver, SessionFactory } from './contract.js';
import { ModelSession } from './model-session.js';

class BatchLog implements BatchObserver {
  sizes: number[] = [];
  skipped: string[] = [];
  observeBatch(_model: string, _version: string, size: number): void {
    this.sizes.push(size);
  }
  observeSkipped(_model: string, _version: string, reason: string): void {
    this.skipped.push(reason);
  }
  observeDuplicate(): void {}
  observeQueueWait(): void {}
  observeDecode(): void {}
}

let repo: Awaited<ReturnType<typeof makeRepository>>;
let entry: ModelEntry;
let image: Buffer;

beforeAll(async () => {
  repo = await makeRepository([{ name: 'tiny', classes: 5 }]);
  entry = (await loadRepository(repo.root)).models.get('tiny')!;
  image = await solidPng(40, 30, [200, 30, 60]);
});
afterAll(async () => repo.cleanup());

/** Closes the workers and the queue when the test ends, passed or failed (closing twice is harmless). */
function closeAfterTest(queue: MemoryQueue, ...workers: BatchWorker[]): void {
  onTestFinished(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
  });
}

async function startWorker(
  overrides: { maxBatchSize?: number; maxQueueDelayMs?: number } = {},
): Promise<{ queue: MemoryQueue; worker: BatchWorker; log: BatchLog }> {
  const queue = await MemoryQueue.create();
  const log = new BatchLog();
  const worker = await BatchWorker.create({ consumer: queue.consumer(), entry, version: entry.versions[0]!, metrics: log, ...overrides });
  closeAfterTest(queue, worker);
  worker.start();
  return { queue, worker, log };
}

function job(id: string, body: Uint8Array = image, timeoutMs = 10_000): JobRequest {
  return { requestId: id, model: 'tiny', version: '1', payload: { kind: 'image', contentType: 'image/png', bytes: body }, topK: 5, timeoutMs };
}

describe('BatchWorker', () => {
  it('gathers concurrent jobs into batches of at most maxBatchSize and answers each', async () => {
    const { queue, worker, log } = await startWorker({ maxBatchSize: 4, maxQueueDelayMs: 50 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => queue.submit(job(`j${i}`), { bound: 64 })));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(log.sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...log.sizes)).toBeLessThanOrEqual(4);
    expect(log.sizes.length).toBeLessThanOrEqual(4);
    const first = outcomes[0] as Extract<JobOutcome, { ok: true }>;
    expect(first.predictions).toHaveLength(5);
    expect(first.predictions.reduce((a, p) => a + p.probability, 0)).toBeCloseTo(1, 5);
    await worker.close();
  });

  it('waits up to maxQueueDelayMs for a batch to fill, then runs what it has', async () => {
    // A delay long enough that b (40 ms after a) arrives inside it however busy this machine is.
    const { queue, worker, log } = await startWorker({ maxBatchSize: 8, maxQueueDelayMs: 1_000 });
    const started = Date.now();
    const a = queue.submit(job('a'), { bound: 64 });
    await new Promise((r) => setTimeout(r, 40));
    const b = queue.submit(job('b'), { bound: 64 });
    await Promise.all([a, b]);
    expect(log.sizes).toEqual([2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    await worker.close();
  });

  it('with maxBatchSize 1 every job runs alone', async () => {
    const { queue, worker, log } = await startWorker({ maxBatchSize: 1 });
    await Promise.all(Array.from({ length: 5 }, (_, i) => queue.submit(job(`j${i}`), { bound: 64 })));
    expect(log.sizes).toEqual([1, 1, 1, 1, 1]);
    await worker.close();
  });

  it('never computes an expired job: it is answered DEADLINE_EXCEEDED', async () => {
    const { queue, worker, log } = await startWorker();
    const outcome = await queue.submit(job('late', image, 0), { bound: 64 });
    expect(outcome).toMatchObject({ ok: false, error: { code: 'DEADLINE_EXCEEDED' } });
    expect(log.sizes).toEqual([]);
    expect(log.skipped).toEqual(['expired']);
    await worker.close();
  });

  it('drops a job whose client left before its batch started, and runs the rest', async () => {
    const { queue, worker, log } = await startWorker({ maxBatchSize: 8, maxQueueDelayMs: 1_000 });
    const leaving = new AbortController();
    const gone = queue.submit(job('gone'), { bound: 64, signal: leaving.signal });
    const staying = queue.submit(job('stays'), { bound: 64 });
    await new Promise((r) => setTimeout(r, 50)); // both taken, batch still gathering
    leaving.abort();
    await expect(gone).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(staying).resolves.toMatchObject({ ok: true });
    expect(log.sizes).toEqual([1]);
    expect(log.skipped).toEqual(['cancelled']);
    await worker.close();
  });

  it('a tensor payload skips decoding; a wrong shape fails alone; the output row comes back when asked', async () => {
    const { queue, worker, log } = await startWorker({ maxBatchSize: 4, maxQueueDelayMs: 50 });
    const dims = worker.session.itemDims;
    const tensor = new Float32Array(worker.session.itemSize).fill(0.5);
    const request = (shape: readonly number[], bytes: Uint8Array): JobRequest => ({
      ...job('t'),
      payload: { kind: 'tensor', dtype: 'float32', shape, bytes },
      wantOutput: true,
    });
    const [good, bad] = await Promise.all([
      queue.submit(request(dims, new Uint8Array(tensor.buffer)), { bound: 64 }),
      queue.submit(request([1, 2, 3], new Uint8Array(12)), { bound: 64 }),
    ]);
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_TENSOR' } });
    const ok = good as Extract<JobOutcome, { ok: true }>;
    expect(ok.ok).toBe(true);
    expect(ok.output).toHaveLength(5);
    expect(log.sizes).toEqual([1]);
    await worker.close();
  });

  it('a bad image fails alone; the other jobs of its batch are answered', async () => {
    const { queue, worker, log } = await startWorker({ maxBatchSize: 4, maxQueueDelayMs: 50 });
    const truncated = (await solidPng(64, 64, [1, 2, 3])).subarray(0, 60);
    const [good1, bad, good2] = await Promise.all([
      queue.submit(job('g1'), { bound: 64 }),
      queue.submit(job('bad', truncated), { bound: 64 }),
      queue.submit(job('g2'), { bound: 64 }),
    ]);
    expect(good1?.ok).toBe(true);
    expect(good2?.ok).toBe(true);
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_IMAGE' } });
    expect(log.sizes).toEqual([2]);
    await worker.close();
  });

  it('respects a batch dim fixed in the graph', async () => {
    const fixed = await makeRepository([{ name: 'fixed', classes: 3, fixedBatch: 1 }]);
    onTestFinished(fixed.cleanup);
    const fixedEntry = (await loadRepository(fixed.root)).models.get('fixed')!;
    const queue = await MemoryQueue.create();
    const log = new BatchLog();
    const worker = await BatchWorker.create({ consumer: queue.consumer(), entry: fixedEntry, version: fixedEntry.versions[0]!, metrics: log });
    closeAfterTest(queue, worker);
    worker.start();
    expect(worker.maxBatchSize).toBe(1);
    await Promise.all(Array.from({ length: 3 }, (_, i) => queue.submit({ ...job(`f${i}`), model: 'fixed' }, { bound: 64 })));
    expect(log.sizes).toEqual([1, 1, 1]);
    await worker.close();
  });

  describe('prefetch while a batch runs (two workers share one queue)', () => {
    // Each batch takes BATCH_MS more than the tiny model needs, like a big model would; long
    // enough that the idle worker starts (100 ms in) well before a just-in-time prefetch
    // (~BATCH_MS - 25 ms in), however late this machine's timers fire.
    const BATCH_MS = 1_000;
    const slowSession: SessionFactory = async (e, v, o) => {
      const session = await ModelSession.create(e, v, o);
      const run = session.run.bind(session);
      session.run = async (input, size) => {
        await new Promise((r) => setTimeout(r, BATCH_MS));
        return run(input, size);
      };
      return session;
    };

    async function whoComputedTheSecondWave(prefetch: 'batch' | 'just-in-time'): Promise<{ busy: number[]; idle: number[] }> {
      const queue = await MemoryQueue.create();
      const busyLog = new BatchLog();
      const idleLog = new BatchLog();
      const common = { entry, version: entry.versions[0]!, maxBatchSize: 4, maxQueueDelayMs: 5, openSession: slowSession, prefetch };
      const busy = await BatchWorker.create({ ...common, consumer: queue.consumer(), metrics: busyLog });
      const idle = await BatchWorker.create({ ...common, consumer: queue.consumer(), metrics: idleLog });
      closeAfterTest(queue, busy, idle);
      busy.start();
      // batches through the first worker alone, so it has timings to go by
      for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: 4 }, (_, i) => queue.submit(job(`warm${round}-${i}`), { bound: 64 })));
      const warmBatches = busyLog.sizes.length;
      const first = Promise.all(Array.from({ length: 4 }, (_, i) => queue.submit(job(`a${i}`), { bound: 64 })));
      await new Promise((r) => setTimeout(r, 50)); // its batch is running now
      const second = Promise.all(Array.from({ length: 4 }, (_, i) => queue.submit(job(`b${i}`), { bound: 64 })));
      await new Promise((r) => setTimeout(r, 50));
      idle.start(); // a peer frees up while the first batch still runs
      const outcomes = [...(await first), ...(await second)];
      expect(outcomes.every((o) => o.ok)).toBe(true);
      await Promise.all([busy.close(), idle.close()]);
      return { busy: busyLog.sizes.slice(warmBatches), idle: idleLog.sizes };
    }

    it("'batch': the busy worker takes the next batch while its batch runs", async () => {
      const { busy, idle } = await whoComputedTheSecondWave('batch');
      expect(busy).toEqual([4, 4]);
      expect(idle).toEqual([]);
    });

    it("'just-in-time': the jobs stay in the queue, and the idle worker takes them", async () => {
      const { busy, idle } = await whoComputedTheSecondWave('just-in-time');
      expect(busy).toEqual([4]);
      expect(idle).toEqual([4]);
    });
  });
});
