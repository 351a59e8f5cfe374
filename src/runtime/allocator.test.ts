import { describe, expect, it } from 'vitest';
import { afterModelLoad, beforeModelLoad, mallocTuningAvailable, releaseFreeMemory, runsOnGlibc } from './allocator.js';

describe('malloc tuning around model loading', () => {
  it('is available exactly on glibc (koffi ships the binary)', () => {
    expect(mallocTuningAvailable()).toBe(process.platform === 'linux' && runsOnGlibc());
  });

  it('applies the load and serving settings where available (their effect: src/planner/measure.test.ts)', () => {
    const available = mallocTuningAvailable();
    expect(beforeModelLoad()).toBe(available);
    expect(releaseFreeMemory() && !available).toBe(false);
    expect(afterModelLoad()).toBe(available);
  });
});
