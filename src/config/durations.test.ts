import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { parseDuration, parseWaitRange } from './durations.js';

function usageError(run: () => unknown): ServeError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ServeError);
    expect((err as ServeError).code).toBe('USAGE');
    return err as ServeError;
  }
  throw new Error('expected a USAGE error');
}

describe('parseDuration', () => {
  it('takes a bare number of seconds, or number+unit parts in any order, summed', () => {
    const cases: Array<[string, number]> = [
      ['90', 90_000],
      ['2.5', 2_500],
      ['20s', 20_000],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['500ms', 500],
      ['2.5s', 2_500],
      ['1m30s', 90_000],
      ['30s1m', 90_000],
      ['1h30m', 5_400_000],
      ['1m 30s', 90_000],
      [' 25S ', 25_000],
      ['0', 0],
    ];
    for (const [text, ms] of cases) expect(parseDuration(text), text).toBe(ms);
  });

  it('bad input is a USAGE error naming the text and what was expected', () => {
    for (const bad of ['', 's', '10 parsecs', '-5s', '1x', 'm5', 'ten', '5s-', '1.s']) {
      expect(usageError(() => parseDuration(bad)).message, bad).toBe(
        `expected a duration such as 20s, 1m30s, 500ms or 90 (seconds), got ${JSON.stringify(bad)}`,
      );
    }
  });
});

describe('parseWaitRange', () => {
  it('takes A-B, A, or 0; each side a duration', () => {
    expect(parseWaitRange('0.5-5')).toEqual({ minMs: 500, maxMs: 5_000 });
    expect(parseWaitRange(' 1 - 2 ')).toEqual({ minMs: 1_000, maxMs: 2_000 });
    expect(parseWaitRange('2')).toEqual({ minMs: 2_000, maxMs: 2_000 });
    expect(parseWaitRange('0')).toEqual({ minMs: 0, maxMs: 0 });
    expect(parseWaitRange('500ms-2s')).toEqual({ minMs: 500, maxMs: 2_000 });
    expect(parseWaitRange('3600')).toEqual({ minMs: 3_600_000, maxMs: 3_600_000 });
  });

  it('bad input is a USAGE error: B < A, over 1 h, a negative, a missing side', () => {
    for (const bad of ['5-1', '-1', 'a-b', '1-', '', '1-9999', '1-2-3'])
      expect(usageError(() => parseWaitRange(bad)).message, bad).toMatch(/expected a wait range A-B/);
  });
});
