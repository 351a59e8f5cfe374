import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { preprocessSchema, type PreprocessConfig } from '../model/repository/config-schema.js';
import { centerCropRegion, ImagePreprocessor, resizeBilinearAlignCorners } from './preprocess.js';

function config(overrides: Partial<PreprocessConfig>): PreprocessConfig {
  return preprocessSchema.parse({ width: 4, height: 4, layout: 'NCHW', ...overrides });
}

/** A 2×1 image: left pixel red, right pixel blue. */
async function twoPixels(): Promise<Buffer> {
  return sharp(Buffer.from([255, 0, 0, 0, 0, 255]), { raw: { width: 2, height: 1, channels: 3 } })
    .png()
    .toBuffer();
}

describe('ImagePreprocessor', () => {
  it('NCHW: channel planes, scale, mean and std', async () => {
    const pre = new ImagePreprocessor(config({ width: 2, height: 1, kernel: 'nearest', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }));
    const data = Array.from(await pre.toTensorData(await twoPixels()));
    [1, -1, -1, -1, -1, 1].forEach((want, i) => expect(data[i]).toBeCloseTo(want, 5));
  });

  it('NHWC keeps pixels interleaved; BGR swaps channels', async () => {
    const nhwc = new ImagePreprocessor(config({ width: 2, height: 1, kernel: 'nearest', layout: 'NHWC', scale: 1 }));
    expect(Array.from(await nhwc.toTensorData(await twoPixels()))).toEqual([255, 0, 0, 0, 0, 255]);
    const bgr = new ImagePreprocessor(config({ width: 2, height: 1, kernel: 'nearest', layout: 'NHWC', channelOrder: 'BGR', scale: 1 }));
    expect(Array.from(await bgr.toTensorData(await twoPixels()))).toEqual([0, 0, 255, 255, 0, 0]);
  });

  it('center-crop takes the middle of the shorter-side-scaled image', () => {
    const cfg = config({ resize: 'center-crop', width: 224, height: 224, resizeShorterTo: 256 });
    // 512×384 → shorter side 384 scaled to 256 (factor 2/3); a 224 crop is 336 source pixels.
    expect(centerCropRegion({ width: 512, height: 384 }, cfg)).toEqual({ left: 88, top: 24, width: 336, height: 336 });
  });

  it('letterbox pads with padColor instead of stretching', async () => {
    const pre = new ImagePreprocessor(config({ resize: 'letterbox', width: 4, height: 4, layout: 'NHWC', scale: 1, padColor: [0, 255, 0], kernel: 'nearest' }));
    const wide = await sharp({ create: { width: 8, height: 2, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const data = await pre.toTensorData(wide);
    const rowColour = (row: number): number[] => Array.from(data.subarray(row * 12, row * 12 + 3));
    expect(rowColour(0)).toEqual([0, 255, 0]); // padding above
    expect(rowColour(3)).toEqual([0, 255, 0]); // padding below
    expect([rowColour(1), rowColour(2)]).toContainEqual([255, 0, 0]); // the 4×1 image between
  });

  it('tf-bilinear resamples like TensorFlow with alignCorners: corners kept, midpoints averaged', () => {
    // 3×1 source, values 0, 100, 200 → 5 wide: 0, 50, 100, 150, 200.
    const src = { pixels: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200]), width: 3, height: 1 };
    expect(Array.from(resizeBilinearAlignCorners(src, 5, 1)).filter((_, i) => i % 3 === 0)).toEqual([0, 50, 100, 150, 200]);
  });

  it('tf-bilinear is refused with any resize but fill', async () => {
    const { modelConfigSchema } = await import('../model/repository/config-schema.js');
    const result = modelConfigSchema.safeParse({
      preprocess: { width: 4, height: 4, layout: 'NHWC', resize: 'center-crop', kernel: 'tf-bilinear' },
      postprocess: { softmax: true },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['preprocess', 'kernel']);
  });

  it('decodes greyscale and alpha images to 3 channels', async () => {
    const pre = new ImagePreprocessor(config({ width: 2, height: 2, layout: 'NHWC', scale: 1, kernel: 'nearest' }));
    const grey = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 9, g: 9, b: 9 } } })
      .greyscale()
      .png()
      .toBuffer();
    expect(Array.from(await pre.toTensorData(grey))).toEqual(Array.from({ length: 12 }, () => 9));
    const rgba = await sharp({ create: { width: 2, height: 2, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } } })
      .png()
      .toBuffer();
    expect(Array.from((await pre.toTensorData(rgba)).subarray(0, 3))).toEqual([10, 20, 30]);
  });
});
