import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { colourStats, judgePhoto, measureImage, PHOTO_RULE, type ImageStats } from './photo-rule.js';

const PHOTO: ImageStats = { width: 800, height: 600, distinctColours: 3000, lumaEntropy: 7.2, greyscale: false };

/** Deterministic pseudo-random bytes (no flaky tests). */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 23;
  }
  return out;
}

describe('judgePhoto', () => {
  it('applies each threshold', () => {
    expect(judgePhoto(PHOTO)).toBeNull();
    expect(judgePhoto({ ...PHOTO, width: 200 })).toBe('too-small');
    expect(judgePhoto({ ...PHOTO, width: 1600, height: 600 })).toBe('extreme-aspect');
    expect(judgePhoto({ ...PHOTO, distinctColours: PHOTO_RULE.minDistinctColours - 1 })).toBe('few-colours');
    expect(judgePhoto({ ...PHOTO, lumaEntropy: PHOTO_RULE.minLumaEntropy - 0.1 })).toBe('flat-luminance');
    // Black-and-white photos have at most 32 quantised levels: judged on their own bar.
    expect(judgePhoto({ ...PHOTO, greyscale: true, distinctColours: 30 })).toBeNull();
    expect(judgePhoto({ ...PHOTO, greyscale: true, distinctColours: PHOTO_RULE.minGreyLevels - 1 })).toBe('few-colours');
  });
});

describe('measureImage on synthetic images', () => {
  const size = { width: 512, height: 384, channels: 3 } as const;

  it('rejects a flat colour and a two-tone logo', async () => {
    const flat = await sharp({ create: { ...size, background: '#3366cc' } })
      .png()
      .toBuffer();
    expect(judgePhoto(await measureImage(flat))).toBe('few-colours');
    const logo = await sharp({ create: { ...size, background: '#ffffff' } })
      .composite([{ input: { create: { width: 200, height: 120, channels: 3, background: '#e95420' } }, left: 150, top: 130 }])
      .png()
      .toBuffer();
    expect(judgePhoto(await measureImage(logo))).toBe('few-colours');
  });

  it('rejects a black-and-white two-level drawing but keeps grey noise (like film grain)', async () => {
    const drawing = await sharp({ create: { ...size, background: '#000000' } })
      .composite([{ input: { create: { width: 256, height: 384, channels: 3, background: '#ffffff' } }, left: 0, top: 0 }])
      .png()
      .toBuffer();
    expect(judgePhoto(await measureImage(drawing))).not.toBeNull();
    const grain = await sharp(noise(512 * 384, 7), { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toBuffer();
    const stats = await measureImage(grain);
    expect(stats.greyscale).toBe(true);
    expect(judgePhoto(stats)).toBeNull();
  });

  it('keeps colour noise and the project test photos, rejects them scaled to an icon', async () => {
    const colourNoise = await sharp(noise(512 * 384 * 3, 11), { raw: size })
      .blur(1)
      .png()
      .toBuffer();
    expect(judgePhoto(await measureImage(colourNoise))).toBeNull();
    for (const name of ['dog', 'eagle', 'giraffe', 'horses', 'person']) {
      const file = join('test/fixtures/images', `${name}.jpg`);
      expect(judgePhoto(await measureImage(file)), name).toBeNull();
      expect(judgePhoto(await measureImage(await sharp(file).resize(128).toBuffer())), name).toBe('too-small');
    }
  });

  it('reports the sides after EXIF orientation', async () => {
    const rotated = await sharp({ create: { width: 300, height: 240, channels: 3, background: '#808080' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const stats = await measureImage(rotated);
    expect([stats.width, stats.height]).toEqual([240, 300]);
  });

  it('computes colour statistics from raw pixels', () => {
    const two = colourStats(Uint8Array.of(0, 0, 0, 255, 255, 255), 3);
    expect(two).toEqual({ distinctColours: 2, lumaEntropy: 1, greyscale: true });
    expect(colourStats(Uint8Array.of(255, 0, 0, 0, 0, 255), 3).greyscale).toBe(false);
  });
});
