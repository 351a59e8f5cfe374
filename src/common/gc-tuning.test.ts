import { describe, expect, it } from 'vitest';
import { tuneServerHeap } from './gc-tuning.js';

describe('tuneServerHeap', () => {
  it('leaves a growing percent given on the node command line alone', () => {
    expect(tuneServerHeap(200, ['--heap-growing-percent=50'])).toBe(false);
    expect(tuneServerHeap(200, ['--inspect', '--heap_growing_percent=50'])).toBe(false);
  });

  it('sets it otherwise', () => {
    expect(tuneServerHeap(200, ['--enable-source-maps'])).toBe(true);
  });
});
