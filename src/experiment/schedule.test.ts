import { describe, expect, it } from 'vitest';
import { checkSchedule, parseReplicas, parseUsers } from './schedule.js';

describe('parseReplicas', () => {
  it('reads a comma-separated list of worker counts', () => {
    expect(parseReplicas('1,2,3')).toEqual([1, 2, 3]);
    expect(parseReplicas(' 4 , 1 ')).toEqual([4, 1]);
    expect(parseReplicas('2')).toEqual([2]);
  });

  it('refuses empty items, zero, fractions and words', () => {
    for (const bad of ['', '1,,2', '0,1', '1.5', 'two', '1,', '257']) expect(() => parseReplicas(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('parseUsers', () => {
  it('reads one count (every step) or a list, one per step', () => {
    expect(parseUsers('16')).toBe(16);
    expect(parseUsers('5, 40,5')).toEqual([5, 40, 5]);
  });

  it('refuses empty items, zero, fractions and words', () => {
    for (const bad of ['', '5,,5', '0', '1.5', 'many', '10001']) expect(() => parseUsers(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('checkSchedule', () => {
  it('wants settle shorter than a step', () => {
    expect(() => checkSchedule({ stepMs: 25_000, settleMs: 8_000, windowMs: 10_000 })).not.toThrow();
    expect(() => checkSchedule({ stepMs: 10_000, settleMs: 10_000, windowMs: 10_000 })).toThrow('--settle (10s) must be shorter than --step (10s)');
    expect(() => checkSchedule({ stepMs: 500, settleMs: 0, windowMs: 10_000 })).toThrow('--step must be at least 1s');
    expect(() => checkSchedule({ stepMs: 5_000, settleMs: 0, windowMs: 0 })).toThrow('--window');
  });
});
