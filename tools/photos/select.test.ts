import { describe, expect, it } from 'vitest';
import type { PictureHash } from './picture-hash.js';
import { dedupe, splitSets, type Hashed } from './select.js';

const grey = (level: number): Uint8Array => new Uint8Array(48).fill(level);
const hash = (bits: bigint, level = 100): PictureHash => ({ bits, colour: grey(level) });
const item = (key: string, h: PictureHash, width = 800, height = 600): Hashed => ({ key, hash: h, width, height });

describe('dedupe', () => {
  it('keeps the largest file of each picture', () => {
    const small = item('a:small.jpg', hash(0xf0f0n), 400, 250);
    const large = item('a:large.jpg', hash(0xf0f1n), 2560, 1600);
    const other = item('b:other.jpg', hash(0xffff_ffff_0000_0000n));
    const { kept, duplicates } = dedupe([small, other, large]);
    expect(kept).toEqual([large, other]);
    expect(duplicates).toEqual([{ item: small, of: large, distance: 1 }]);
  });

  it('needs the colours to agree too', () => {
    const dune = item('a:dune.jpg', hash(0b1111n, 180));
    const lake = item('b:lake.jpg', hash(0b0111n, 40));
    expect(dedupe([dune, lake]).kept).toHaveLength(2);
  });
});

describe('splitSets', () => {
  const items = Array.from({ length: 51 }, (_, i) => item(`p:${i}.jpg`, hash(BigInt(i) * 0x9e3779b97f4a7c15n)));

  it('makes two disjoint halves, evaluation taking the odd one', () => {
    const sets = splitSets(items);
    expect(sets.size).toBe(51);
    const evaluation = items.filter((i) => sets.get(i) === 'evaluation');
    const calibration = items.filter((i) => sets.get(i) === 'calibration');
    expect([evaluation.length, calibration.length]).toEqual([26, 25]);
    expect(evaluation.filter((i) => calibration.includes(i))).toEqual([]);
  });

  it('does not depend on input order', () => {
    const a = splitSets(items);
    const b = splitSets([...items].reverse());
    expect(items.map((i) => b.get(i))).toEqual(items.map((i) => a.get(i)));
    // …nor on where a photo sits in a package listing: the order follows a digest.
    expect(items.slice(0, 10).map((i) => a.get(i))).not.toEqual(Array(10).fill('evaluation'));
  });
});
