// A model's `batching.executeDelayMs` (a test double's service time, after Triton's
// identity backend's execute_delay_ms): every batch takes at least that long, the rest
// waited on a timer, so load and autoscaling tests know each worker's capacity and many
// workers fit on few cores.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchSession } from './contract.js';
import type { RunResult } from './model-session.js';

export class DelayedSession implements BatchSession {
  constructor(
    private readonly inner: BatchSession,
    readonly delayMs: number,
  ) {}

  get itemDims(): readonly number[] {
    return this.inner.itemDims;
  }

  get itemSize(): number {
    return this.inner.itemSize;
  }

  get outputSize(): number {
    return this.inner.outputSize;
  }

  get maxBatch(): number {
    return this.inner.maxBatch;
  }

  /** The real run, then a timer for what is left of the delay; inferenceMs is the whole time, so busy time and batch metrics include the delay. */
  async run(input: Float32Array, batchSize: number): Promise<RunResult> {
    const started = performance.now();
    const result = await this.inner.run(input, batchSize);
    // Timers may fire a fraction of a millisecond early by performance.now(): wait again until the delay has really passed.
    for (let left = this.delayMs - (performance.now() - started); left > 0; left = this.delayMs - (performance.now() - started)) {
      await sleep(Math.ceil(left));
    }
    return { ...result, inferenceMs: Math.max(result.inferenceMs, performance.now() - started) };
  }

  /** Warming up sizes the arena: no delay, so start-up stays quick. */
  warmUp(batchSizes: readonly number[]): Promise<void> {
    return this.inner.warmUp(batchSizes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The session as the model's config asks: delayed when it sets a positive executeDelayMs. */
export function withExecuteDelay(session: BatchSession, delayMs: number): BatchSession {
  return delayMs > 0 ? new DelayedSession(session, delayMs) : session;
}
