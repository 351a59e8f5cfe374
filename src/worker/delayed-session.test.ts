import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { delayModelImage, makeDelayRepository } from '../../test/helpers/delay-model.js';
import { loadRepository } from '../model/repository/repository.js';
import type { ModelEntry } from '../model/repository/contract.js';
import type { JobRequest } from '../queue/contract.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import { BatchWorker } from './batch-worker.js';
import type { BatchSession } from './contract.js';
import { DelayedSession, withExecuteDelay } from './delayed-session.js';

const DELAY_MS = 100;

let repo: Awaited<ReturnType<typeof makeDelayRepository>>;
let entry: ModelEntry;
let image: Buffer;

beforeAll(async () => {
  repo = await makeDelayRepository({ delayMs: DELAY_MS, maxBatch: 4 });
  entry = (await loadRepository(repo.root)).models.get('delay')!;
  image = await delayModelImage();
});
afterAll(async () => repo.cleanup());

/** A session that answers at once, counting its runs and warm-ups. */
function instantSession(): BatchSession & { runs: number; warmUps: number } {
  return {
    itemDims: [3, 8, 8],
    itemSize: 192,
    outputSize: 3,
    maxBatch: 4,
    runs: 0,
    warmUps: 0,
    run(input, batchSize) {
      this.runs++;
      return Promise.resolve({ output: new Float32Array(batchSize * 3), inferenceMs: 0.5, input: new Float32Array(input.buffer as ArrayBuffer) });
    },
    warmUp() {
      this.warmUps++;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

function job(id: string): JobRequest {
  return { requestId: id, model: 'delay', version: '1', payload: { kind: 'image', contentType: 'image/png', bytes: image }, topK: 3, timeoutMs: 10_000 };
}

describe('DelayedSession', () => {
  it('a run takes at least the delay and reports it as inference time; warming up is not delayed', async () => {
    const inner = instantSession();
    const session = withExecuteDelay(inner, DELAY_MS);
    expect(session).toBeInstanceOf(DelayedSession);
    const warmStarted = performance.now();
    await session.warmUp([1, 4]);
    expect(performance.now() - warmStarted).toBeLessThan(DELAY_MS / 2);
    expect(inner.warmUps).toBe(1);
    const started = performance.now();
    const result = await session.run(new Float32Array(4 * 192), 4);
    expect(performance.now() - started).toBeGreaterThanOrEqual(DELAY_MS);
    expect(result.inferenceMs).toBeGreaterThanOrEqual(DELAY_MS);
    expect(result.output).toHaveLength(12);
    expect(inner.runs).toBe(1);
  });

  it('no delay (absent or 0) leaves the session as it is', () => {
    const inner = instantSession();
    expect(withExecuteDelay(inner, 0)).toBe(inner);
  });
});

describe('BatchWorker on a model with executeDelayMs', () => {
  it('runs each batch in at least the delay, counts it as busy time, and warns once at load', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const queue = await MemoryQueue.create();
    const worker = await BatchWorker.create({ consumer: queue.consumer(), entry, version: entry.versions[0]!, logger, maxQueueDelayMs: 200 });
    onTestFinished(async () => {
      await worker.close();
      await queue.close();
    });
    expect(lines.map((l) => l.msg)).toEqual(['model delay:1 adds 100 ms to every batch (executeDelayMs): a test double for load and autoscaling tests']);
    worker.start();
    const started = performance.now();
    // Four jobs sent together share one batch (maxBatch 4): one delay for all of them.
    const outcomes = await Promise.all(Array.from({ length: 4 }, (_, i) => queue.submit(job(`j${i}`), { bound: 64 })));
    const elapsed = performance.now() - started;
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(DELAY_MS);
    expect(worker.counters.items).toBe(4);
    expect(worker.counters.busyMs).toBeGreaterThanOrEqual(DELAY_MS * worker.counters.batches);
    expect(worker.counters.busyMs).toBeLessThanOrEqual(elapsed);
    for (const outcome of outcomes) if (outcome.ok) expect(outcome.timings.inferenceMs).toBeGreaterThanOrEqual(DELAY_MS);
    expect(lines).toHaveLength(1);
  });
});
