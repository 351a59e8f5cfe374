import { describe, expect, it } from 'vitest';
import { exceededJsonCount } from './json-cost.js';

const text = (s: string): Buffer => Buffer.from(s);
const exactly = (s: string, strings: number, containers: number, scalars: number): void => {
  expect(exceededJsonCount(text(s), { strings, containers, scalars }), `${s} within`).toBeUndefined();
  if (strings > 0) expect(exceededJsonCount(text(s), { strings: strings - 1, containers, scalars })).toBe('strings');
  if (containers > 0) expect(exceededJsonCount(text(s), { strings, containers: containers - 1, scalars })).toBe('containers');
  if (scalars > 0) expect(exceededJsonCount(text(s), { strings, containers, scalars: scalars - 1 })).toBe('scalars');
};

describe('exceededJsonCount: the values a JSON text would build, counted from its bytes', () => {
  it('counts strings (keys too), arrays and objects, and numbers and literals exactly', () => {
    exactly('{"a":[1,-2.5e3,true,false,null],"b":{"c":"d"}}', 4, 3, 5);
    exactly(' [ [ ] , { } , [ 0 ] ] ', 0, 4, 1);
    exactly('0', 0, 0, 1);
    exactly('""', 1, 0, 0);
  });

  it('an escaped quote or backslash does not end a string; brackets and digits inside strings are not values', () => {
    exactly(String.raw`["a\"b", "c\\", "[1,{2}]", "\u0022"]`, 4, 1, 0);
  });

  it('stops at the first count over its limit (10 MB of empty strings, arrays or zeros)', () => {
    const limits = { strings: 1_000, containers: 1_000, scalars: 1_000 };
    expect(exceededJsonCount(text(`[${'"",'.repeat(3_000_000)}""]`), limits)).toBe('strings');
    expect(exceededJsonCount(text(`[${'[],'.repeat(3_000_000)}[]]`), limits)).toBe('containers');
    expect(exceededJsonCount(text(`[${'0,'.repeat(4_000_000)}0]`), limits)).toBe('scalars');
  });

  it('malformed JSON gives an upper bound, never a throw (JSON.parse refuses it after)', () => {
    expect(exceededJsonCount(text('["unterminated'), { strings: 1, containers: 1, scalars: 0 })).toBeUndefined();
    expect(exceededJsonCount(text('}}]]"\\'), { strings: 1, containers: 0, scalars: 0 })).toBeUndefined();
  });
});
