// Image bytes → normalised float tensor, as the model's config declares.
import sharp, { type Metadata } from 'sharp';
import { ServeError } from '../common/errors.js';
import { sniffImageFormat } from '../common/image-format.js';
import type { PreprocessConfig } from '../model/repository/config-schema.js';

export const DEFAULT_MAX_PIXELS = 40_000_000;
const CHANNELS = 3;

// sharp/libvips run on libuv's threadpool; keep its cache off so memory stays flat.
sharp.cache(false);

export class ImagePreprocessor {
  /** Floats per image in the model input. */
  readonly itemSize: number;
  private readonly gain: Float32Array;
  private readonly offset: Float32Array;
  private readonly sourceChannel: Uint8Array;
  private scratch: Float32Array | undefined;

  constructor(
    readonly config: PreprocessConfig,
    readonly maxPixels: number = DEFAULT_MAX_PIXELS,
  ) {
    this.itemSize = config.width * config.height * CHANNELS;
    // value = pixel * gain[c] + offset[c], with gain = scale/std, offset = -mean/std.
    this.gain = Float32Array.from([0, 1, 2], (c) => config.scale / (config.std[c] as number));
    this.offset = Float32Array.from([0, 1, 2], (c) => -(config.mean[c] as number) / (config.std[c] as number));
    this.sourceChannel = Uint8Array.from(config.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2]);
  }

  /**
   * Decodes to packed RGB bytes: already resized to the model's size, or (tf-bilinear)
   * at full size, to be resampled by `fill`.
   */
  async decode(bytes: Uint8Array): Promise<DecodedImage> {
    sniffImageFormat(bytes);
    const cfg = this.config;
    try {
      const input = sharp(bytes, { limitInputPixels: this.maxPixels, failOn: 'truncated', sequentialRead: true });
      const meta = await input.metadata();
      if (meta.width * meta.height > this.maxPixels) throw new ServeError('IMAGE_TOO_LARGE', tooLarge(meta.width, meta.height, this.maxPixels));
      let img = input.autoOrient().toColourspace('srgb').flatten({ background: '#000000' });
      if (cfg.kernel === 'tf-bilinear') {
        const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
        if (info.channels !== CHANNELS) throw new ServeError('INVALID_IMAGE', `decoded to ${info.channels} channels, expected 3`);
        return { pixels: data, width: info.width, height: info.height };
      }
      if (cfg.resize === 'fill') {
        img = img.resize(cfg.width, cfg.height, { fit: 'fill', kernel: cfg.kernel });
      } else if (cfg.resize === 'letterbox') {
        const [r, g, b] = cfg.padColor;
        img = img.resize(cfg.width, cfg.height, { fit: 'contain', kernel: cfg.kernel, background: { r, g, b } });
      } else {
        img = img.extract(centerCropRegion(orientedSize(meta), cfg)).resize(cfg.width, cfg.height, { fit: 'fill', kernel: cfg.kernel });
      }
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== CHANNELS || data.length !== this.itemSize) {
        throw new ServeError('INVALID_IMAGE', `decoded to ${info.width}×${info.height}×${info.channels}, expected ${cfg.width}×${cfg.height}×3`);
      }
      return { pixels: data, width: cfg.width, height: cfg.height };
    } catch (err) {
      throw toImageError(err, this.maxPixels);
    }
  }

  /** Writes one decoded image, normalised, into `target` at item `index`. */
  fill(image: DecodedImage, target: Float32Array, index: number): void {
    const { width, height } = this.config;
    // fill is synchronous, so one scratch buffer per preprocessor is enough.
    const pixels =
      image.width === width && image.height === height
        ? image.pixels
        : resizeBilinearAlignCorners(image, width, height, (this.scratch ??= new Float32Array(this.itemSize)));
    const base = index * this.itemSize;
    const { gain, offset, sourceChannel } = this;
    const planeSize = this.config.width * this.config.height;
    if (this.config.layout === 'NCHW') {
      for (let c = 0; c < CHANNELS; c++) {
        const g = gain[c] as number;
        const o = offset[c] as number;
        const src = sourceChannel[c] as number;
        const planeBase = base + c * planeSize;
        for (let p = 0; p < planeSize; p++) target[planeBase + p] = (pixels[p * 3 + src] as number) * g + o;
      }
    } else {
      const [g0, g1, g2] = gain as unknown as [number, number, number];
      const [o0, o1, o2] = offset as unknown as [number, number, number];
      const [s0, s1, s2] = sourceChannel as unknown as [number, number, number];
      for (let p = 0; p < planeSize; p++) {
        const i = p * 3;
        target[base + i] = (pixels[i + s0] as number) * g0 + o0;
        target[base + i + 1] = (pixels[i + s1] as number) * g1 + o1;
        target[base + i + 2] = (pixels[i + s2] as number) * g2 + o2;
      }
    }
  }

  /** Decode + fill into a fresh tensor of one image (for tests and tools). */
  async toTensorData(bytes: Uint8Array): Promise<Float32Array> {
    const out = new Float32Array(this.itemSize);
    this.fill(await this.decode(bytes), out, 0);
    return out;
  }
}

export interface DecodedImage {
  /** Packed RGB, height × width × 3. */
  pixels: Uint8Array;
  width: number;
  height: number;
}

/**
 * TensorFlow's resizeBilinear(alignCorners=true, halfPixelCenters=false), as its CPU
 * kernel computes it, returning RGB samples as floats in 0..255 (no rounding: the
 * normalisation that follows is affine, so resampling before it is exact).
 */
export function resizeBilinearAlignCorners(
  image: DecodedImage,
  outWidth: number,
  outHeight: number,
  out: Float32Array = new Float32Array(outWidth * outHeight * CHANNELS),
): Float32Array {
  const { pixels, width: inW, height: inH } = image;
  const rowRatio = outHeight > 1 ? (inH - 1) / (outHeight - 1) : inH / outHeight;
  const colRatio = outWidth > 1 ? (inW - 1) / (outWidth - 1) : inW / outWidth;
  // Column taps are the same on every row: compute them once.
  const leftAt = new Int32Array(outWidth);
  const rightAt = new Int32Array(outWidth);
  const colFracAt = new Float64Array(outWidth);
  for (let c = 0; c < outWidth; c++) {
    const srcCol = colRatio * c;
    const left = Math.max(0, Math.floor(srcCol));
    leftAt[c] = left * CHANNELS;
    rightAt[c] = Math.min(inW - 1, Math.ceil(srcCol)) * CHANNELS;
    colFracAt[c] = srcCol - left;
  }
  for (let r = 0; r < outHeight; r++) {
    const srcRow = rowRatio * r;
    const top = Math.max(0, Math.floor(srcRow));
    const topBase = top * inW * CHANNELS;
    const bottomBase = Math.min(inH - 1, Math.ceil(srcRow)) * inW * CHANNELS;
    const rowFrac = srcRow - top;
    for (let c = 0; c < outWidth; c++) {
      const tl = topBase + (leftAt[c] as number);
      const tr = topBase + (rightAt[c] as number);
      const bl = bottomBase + (leftAt[c] as number);
      const br = bottomBase + (rightAt[c] as number);
      const colFrac = colFracAt[c] as number;
      const o = (r * outWidth + c) * CHANNELS;
      for (let ch = 0; ch < CHANNELS; ch++) {
        const topValue = (pixels[tl + ch] as number) + ((pixels[tr + ch] as number) - (pixels[tl + ch] as number)) * colFrac;
        const bottomValue = (pixels[bl + ch] as number) + ((pixels[br + ch] as number) - (pixels[bl + ch] as number)) * colFrac;
        out[o + ch] = topValue + (bottomValue - topValue) * rowFrac;
      }
    }
  }
  return out;
}

interface Size {
  width: number;
  height: number;
}

function orientedSize(meta: Metadata): Size {
  // EXIF orientations 5–8 swap width and height once auto-oriented.
  const swap = (meta.orientation ?? 1) >= 5;
  return swap ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

/** The source region that, scaled so its shorter side is resizeShorterTo, gives the centred crop. */
export function centerCropRegion(source: Size, cfg: PreprocessConfig): { left: number; top: number; width: number; height: number } {
  const shorter = cfg.resizeShorterTo ?? Math.max(cfg.width, cfg.height);
  const factor = shorter / Math.min(source.width, source.height);
  const width = Math.max(1, Math.min(source.width, Math.round(cfg.width / factor)));
  const height = Math.max(1, Math.min(source.height, Math.round(cfg.height / factor)));
  return { left: Math.floor((source.width - width) / 2), top: Math.floor((source.height - height) / 2), width, height };
}

function tooLarge(width: number, height: number, max: number): string {
  return `The image is ${width}×${height} = ${width * height} pixels; this server accepts at most ${max}.`;
}

function toImageError(err: unknown, maxPixels: number): ServeError {
  if (err instanceof ServeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) return new ServeError('IMAGE_TOO_LARGE', `The image has more than ${maxPixels} pixels.`);
  if (/unsupported image format|svg/i.test(message)) return new ServeError('UNSUPPORTED_MEDIA_TYPE');
  return new ServeError('INVALID_IMAGE', `The image could not be decoded: ${message.split('\n')[0] ?? message}`);
}
