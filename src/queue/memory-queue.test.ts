import { describe, expect, it } from 'vitest';
import { queueConformance, request } from '../../test/helpers/queue-conformance.js';
import type { JobConsumer } from './contract.js';
import { MemoryQueue } from './memory-queue.js';

queueConformance('memory', async () => {
  const queue = await MemoryQueue.create();
  const consumers: JobConsumer[] = [];
  return {
    // Producers of one process share its queue.
    producer: () => Promise.resolve(queue),
    consumer: () => {
      const consumer = queue.consumer();
      consumers.push(consumer);
      return Promise.resolve(consumer);
    },
    takeoverMs: 0,
    cleanup: async () => {
      await Promise.all(consumers.map((c) => c.close()));
      await queue.close();
    },
  };
});

describe('MemoryQueue', () => {
  it('close wakes waiting receivers', async () => {
    const queue = await MemoryQueue.create();
    const receiver = queue.consumer().receive('other:1', 1, 10_000);
    await queue.close();
    await expect(receiver).resolves.toEqual([]);
    await expect(queue.submit(request('m', 'b'), { bound: 10 })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
