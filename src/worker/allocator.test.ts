import { describe, expect, it } from 'vitest';
import { afterModelLoad, beforeModelLoad, mallocTuningAvailable, releaseFreeMemory, runsOnGlibc } from './allocator.js';

describe('malloc tuning around model loading', () => {
  it('is available exactly on glibc (koffi ships the binary)', () => {
    expect(mallocTuningAvailable()).toBe(process.platform === 'linux' && runsOnGlibc());
  });

  it('applies the load and serving settings and releases freed memory', () => {
    const available = mallocTuningAvailable();
    expect(beforeModelLoad()).toBe(available);
    // 64 MiB in 512 KiB blocks (above the load threshold: mmapped), freed, then released
    const blocks = Array.from({ length: 128 }, () => Buffer.alloc(512 * 1024, 1));
    expect(blocks.length).toBe(128);
    expect(typeof releaseFreeMemory()).toBe('boolean');
    expect(afterModelLoad()).toBe(available);
  });
});
