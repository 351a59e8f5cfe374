import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { colourDifference, dHashFromGrey, hammingDistance, isSamePicture, pictureHash, SAME_PICTURE } from './picture-hash.js';

const PHOTOS = ['dog', 'eagle', 'giraffe', 'horses', 'person'].map((n) => join('test/fixtures/images', `${n}.jpg`));
const DOG = PHOTOS[0] ?? '';

describe('dHash', () => {
  it('sets a bit where the left pixel is brighter', () => {
    const falling = Uint8Array.from({ length: 72 }, (_, i) => 200 - (i % 9) * 10);
    const rising = Uint8Array.from({ length: 72 }, (_, i) => (i % 9) * 10);
    expect(dHashFromGrey(falling)).toBe((1n << 64n) - 1n);
    expect(dHashFromGrey(rising)).toBe(0n);
    expect(() => dHashFromGrey(new Uint8Array(64))).toThrow(/9×8/);
  });

  it('counts differing bits', () => {
    expect(hammingDistance(0n, 0n)).toBe(0);
    expect(hammingDistance(0b1011n, 0b0001n)).toBe(2);
    expect(hammingDistance((1n << 64n) - 1n, 0n)).toBe(64);
    expect(colourDifference(Uint8Array.of(0, 10), Uint8Array.of(4, 0))).toBe(7);
  });
});

describe('pictureHash', () => {
  it('finds one photo resized, re-encoded and cut by a few pixels to be the same picture', async () => {
    const original = await pictureHash(DOG);
    const variants = [
      await sharp(DOG).resize(200).jpeg({ quality: 50 }).toBuffer(),
      await sharp(DOG).resize(1600).png().toBuffer(),
      await sharp(DOG).extract({ left: 6, top: 4, width: 756, height: 566 }).webp().toBuffer(),
    ];
    for (const variant of variants) {
      const hash = await pictureHash(variant);
      expect(hammingDistance(hash.bits, original.bits)).toBeLessThanOrEqual(SAME_PICTURE.maxBits);
      expect(isSamePicture(hash, original)).toBe(true);
    }
  });

  it('keeps different photos apart', async () => {
    const hashes = await Promise.all(PHOTOS.map((p) => pictureHash(p)));
    for (const [i, a] of hashes.entries()) {
      for (const b of hashes.slice(i + 1)) {
        expect(isSamePicture(a, b)).toBe(false);
        expect(hammingDistance(a.bits, b.bits)).toBeGreaterThan(SAME_PICTURE.maxBits);
      }
    }
  });

  it('keeps a mirrored photo apart (flips are new calibration samples, not the same picture)', async () => {
    const flipped = await pictureHash(await sharp(DOG).flop().toBuffer());
    expect(isSamePicture(flipped, await pictureHash(DOG))).toBe(false);
  });
});
