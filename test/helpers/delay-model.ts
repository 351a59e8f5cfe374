// A model repository for load and autoscaling tests: a tiny real classifier whose every
// batch takes `delayMs` on a timer (batching.executeDelayMs), so one worker serves exactly
// maxBatch × 1000 / delayMs jobs/s (less decoding, which is small at this size) and uses
// almost no CPU: eight workers fit on two cores. Real `swarmserve worker` processes serve it.
import { solidPng } from './images.js';
import { makeRepository } from './tiny-model.js';

/** Side of the model's square input: small, so decoding and inference cost next to nothing. */
export const DELAY_MODEL_SIZE = 8;
const CLASSES = 3;

export interface DelayRepositoryOptions {
  /** Default 'delay'. */
  name?: string;
  /** Every batch takes at least this long (0..60000). */
  delayMs: number;
  /** maxBatchSize (default 1: one job per delay). */
  maxBatch?: number;
}

export async function makeDelayRepository(options: DelayRepositoryOptions): Promise<{ root: string; cleanup: () => Promise<void> }> {
  return makeRepository([
    {
      name: options.name ?? 'delay',
      classes: CLASSES,
      size: DELAY_MODEL_SIZE,
      config: {
        description: `test double: ${options.delayMs} ms per batch`,
        // A deep queue and a long deadline: load tests measure throughput, not refusals.
        batching: { maxBatchSize: options.maxBatch ?? 1, maxQueueDelayMs: 2, queueBound: 10_000, timeoutMs: 120_000, executeDelayMs: options.delayMs },
      },
    },
  ]);
}

/** A request body for the delay model: a PNG of its input size (decoding it takes well under a millisecond). */
export function delayModelImage(rgb: [number, number, number] = [90, 160, 30]): Promise<Buffer> {
  return solidPng(DELAY_MODEL_SIZE, DELAY_MODEL_SIZE, rgb);
}
