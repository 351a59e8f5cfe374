import { describe, expect, it } from 'vitest';
import { ArgumentError, checkSchedule, parseDuration, parseReplicas, parseWait } from './schedule.js';

describe('parseDuration', () => {
  it('reads seconds, units and combinations', () => {
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('2.5')).toBe(2_500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration(' 25S ')).toBe(25_000);
  });

  it('refuses anything else, naming the text', () => {
    for (const bad of ['', 'abc', '10x', '1m 30s', '-5s', 's', '5s5']) {
      expect(() => parseDuration(bad, '--step'), bad).toThrow(ArgumentError);
    }
    expect(() => parseDuration('ten', '--step')).toThrow('--step "ten" is not a duration');
  });
});

describe('parseReplicas', () => {
  it('reads a comma-separated list of worker counts', () => {
    expect(parseReplicas('1,2,3')).toEqual([1, 2, 3]);
    expect(parseReplicas(' 4 , 1 ')).toEqual([4, 1]);
    expect(parseReplicas('2')).toEqual([2]);
  });

  it('refuses empty items, zero, fractions and words', () => {
    for (const bad of ['', '1,,2', '0,1', '1.5', 'two', '1,', '257']) expect(() => parseReplicas(bad), bad).toThrow(ArgumentError);
  });
});

describe('parseWait', () => {
  it('0 is a closed loop; a-b and a are think times in seconds', () => {
    expect(parseWait('0')).toBeUndefined();
    expect(parseWait('0-0')).toBeUndefined();
    expect(parseWait('1-5')).toEqual({ minS: 1, maxS: 5 });
    expect(parseWait('0.5 - 1.5')).toEqual({ minS: 0.5, maxS: 1.5 });
    expect(parseWait('2')).toEqual({ minS: 2, maxS: 2 });
  });

  it('refuses a > b, negatives and words', () => {
    for (const bad of ['5-1', '-1', 'x', '1-', '', '1-9999']) expect(() => parseWait(bad), bad).toThrow(ArgumentError);
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
