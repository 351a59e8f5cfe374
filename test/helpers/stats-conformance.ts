// One suite for every stats store (the StatsStore contract, src/stats/contract.ts): run by
// src/stats/memory-store.test.ts and src/queue/redis/stats-store.test.ts.
import { describe, expect, it } from 'vitest';
import type { GatewaySample, StatsStore, WorkerSample } from '../../src/stats/contract.js';

export interface StatsStoreUnderTest {
  /** A fresh store (its own namespace) keeping `historyS` samples per source. */
  store(historyS: number): Promise<StatsStore>;
  cleanup(): Promise<void>;
}

let counter = 0;

export function gatewaySample(id: string, requestsTotal: number): GatewaySample {
  return {
    kind: 'gateway',
    id,
    host: 'h',
    pid: 1,
    startedAt: 0,
    intervalMs: 1000,
    requestsTotal,
    inFlight: 0,
    rssBytes: 1,
    models: { 'm:1': { outcomes: [1, 0, 0, 0, 0], total: [[30, 1]], queue: [], inference: [], items: 1, batchSum: 1, backlog: 0, oldestWaitMs: -1 } },
  };
}

export function workerSample(id: string, items: number): WorkerSample {
  return { kind: 'worker', id, host: 'h', pid: 2, startedAt: 0, keys: ['m:1'], batches: items, items, busyMs: items, rssBytes: 1, memoryLimitBytes: 0 };
}

export function statsStoreConformance(name: string, make: () => Promise<StatsStoreUnderTest>): void {
  describe(`Stats store contract: ${name}`, () => {
    async function withStore(historyS: number, body: (store: StatsStore) => Promise<void>): Promise<void> {
      const t = await make();
      try {
        const store = await t.store(historyS);
        try {
          await body(store);
        } finally {
          await store.close();
        }
      } finally {
        await t.cleanup();
      }
    }
    const id = (): string => `s${++counter}`;

    it("reads back every source's samples in order, stamped by the store's clock", () =>
      withStore(60, async (store) => {
        const [g, w] = [id(), id()];
        const before = (await store.read(0)).now;
        expect(await store.publish(gatewaySample(g, 1))).toBe(true);
        expect(await store.publish(workerSample(w, 5))).toBe(true);
        expect(await store.publish(gatewaySample(g, 2))).toBe(true);
        const read = await store.read(before - 1);
        expect(read.now).toBeGreaterThanOrEqual(before);
        const mine = read.samples.filter((s) => s.source === `gateway:${g}`);
        expect(mine.map((s) => (s.sample as GatewaySample).requestsTotal)).toEqual([1, 2]);
        expect(mine[0]!.at).toBeLessThan(mine[1]!.at);
        expect(mine[1]!.at).toBeLessThanOrEqual(read.now);
        expect(read.samples.find((s) => s.source === `worker:${w}`)?.sample).toEqual(workerSample(w, 5));
      }));

    it('returns only samples stamped after `since`, and at most `limit` per source, the newest', () =>
      withStore(60, async (store) => {
        const g = id();
        await store.publish(gatewaySample(g, 1));
        await new Promise((r) => setTimeout(r, 5));
        const cut = (await store.read(0)).now;
        await new Promise((r) => setTimeout(r, 5));
        for (let i = 2; i <= 5; i++) await store.publish(gatewaySample(g, i));
        const after = (await store.read(cut)).samples.filter((s) => s.source === `gateway:${g}`);
        expect(after.map((s) => (s.sample as GatewaySample).requestsTotal)).toEqual([2, 3, 4, 5]);
        const limited = (await store.read(0, 2)).samples.filter((s) => s.source === `gateway:${g}`);
        expect(limited.map((s) => (s.sample as GatewaySample).requestsTotal)).toEqual([4, 5]);
      }));

    it('keeps about `historyS` samples per source, trimming the oldest', () =>
      withStore(10, async (store) => {
        const g = id();
        for (let i = 1; i <= 400; i++) await store.publish(gatewaySample(g, i));
        const kept = (await store.read(0)).samples.filter((s) => s.source === `gateway:${g}`);
        // Trimming is approximate (whole blocks), never below the history nor far above it.
        expect(kept.length).toBeGreaterThanOrEqual(10);
        expect(kept.length).toBeLessThanOrEqual(10 + 128);
        expect((kept.at(-1)!.sample as GatewaySample).requestsTotal).toBe(400);
      }));

    it('with a history of 0 publishes nothing', () =>
      withStore(0, async (store) => {
        const g = id();
        expect(await store.publish(gatewaySample(g, 1))).toBe(false);
        expect((await store.read(0)).samples.filter((s) => s.source === `gateway:${g}`)).toEqual([]);
      }));
  });
}
