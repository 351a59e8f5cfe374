import { describe, expect, it } from 'vitest';
import { gatewaySample, statsStoreConformance } from '../../test/helpers/stats-conformance.js';
import { MemoryStatsStore } from './memory-store.js';

statsStoreConformance('memory', () =>
  Promise.resolve({
    store: (historyS: number) => MemoryStatsStore.create({ historyS }),
    cleanup: () => Promise.resolve(),
  }),
);

describe('MemoryStatsStore', () => {
  it('forgets a source silent for a whole history', async () => {
    let now = 1_000_000;
    const store = await MemoryStatsStore.create({ historyS: 10, now: () => now });
    await store.publish(gatewaySample('gone', 1));
    now += 5_000;
    expect((await store.read(0)).samples).toHaveLength(1);
    now += 10_000;
    expect((await store.read(0)).samples).toHaveLength(0);
  });
});
