import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../config/paths.js';
import { allocatorWarning, MMAP_THRESHOLD_BYTES, runsOnGlibc, WORKER_ALLOCATOR_ENV } from './allocator.js';

describe('worker allocator setting', () => {
  it('warns on glibc when neither MALLOC_MMAP_THRESHOLD_ nor the tunable is set', () => {
    expect(allocatorWarning({}, true)).toMatch(/MALLOC_MMAP_THRESHOLD_=131072/);
    expect(allocatorWarning({ MALLOC_MMAP_THRESHOLD_: '131072' }, true)).toBeUndefined();
    expect(allocatorWarning({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' }, true)).toBeUndefined();
    expect(allocatorWarning({}, false)).toBeUndefined();
  });

  it('is what npm start sets', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(WORKER_ALLOCATOR_ENV).toEqual({ MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD_BYTES) });
    expect(pkg.scripts.start).toContain(`MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD_BYTES} `);
  });

  it('detects the C library', () => {
    expect(typeof runsOnGlibc()).toBe('boolean');
  });
});
