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

  /** Decodes and resizes to packed RGB bytes (height × width × 3). */
  async decode(bytes: Uint8Array): Promise<Buffer> {
    sniffImageFormat(bytes);
    const cfg = this.config;
    try {
      const input = sharp(bytes, { limitInputPixels: this.maxPixels, failOn: 'truncated', sequentialRead: true });
      const meta = await input.metadata();
      if (meta.width * meta.height > this.maxPixels) throw new ServeError('IMAGE_TOO_LARGE', tooLarge(meta.width, meta.height, this.maxPixels));
      let img = input.autoOrient().toColourspace('srgb').flatten({ background: '#000000' });
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
      return data;
    } catch (err) {
      throw toImageError(err, this.maxPixels);
    }
  }

  /** Writes one decoded image, normalised, into `target` at item `index`. */
  fill(pixels: Uint8Array, target: Float32Array, index: number): void {
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
