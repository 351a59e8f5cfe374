// Is this file a photograph? Cheap measurements on a small copy, then a rule. The rule
// catches the clear cases (icons, test patterns, text, flat artwork); wallpapers drawn
// to look rich are left to the reviewed list (review.ts).
import sharp from 'sharp';

export interface ImageStats {
  width: number;
  height: number;
  /** Distinct colours after quantising to 5 bits a channel, on a copy ≤ 256 px a side. */
  distinctColours: number;
  /** Shannon entropy (bits) of the 256-bin luminance histogram of that copy. */
  lumaEntropy: number;
  /** Almost no pixel has colour (a black-and-white photo has at most 32 "colours"). */
  greyscale: boolean;
}

export type RejectReason = 'too-small' | 'extreme-aspect' | 'few-colours' | 'flat-luminance';

/** Thresholds of the rule; documented in docs/photos.md. */
export const PHOTO_RULE = {
  /** The models' input is 224 px: smaller files are icons, thumbnails or test patterns. */
  minSide: 224,
  /** Panoramas and banners beyond 2.5:1 lose most of themselves in a square crop. */
  maxAspect: 2.5,
  /**
   * Logos, icons and flat vector art use a few dozen quantised colours. Photos with a
   * shallow depth of field can use as few as ~120, so the bar stays low; measured on
   * the Debian candidates (docs/photos.md).
   */
  minDistinctColours: 100,
  /** The same for black-and-white images, of the 32 quantised grey levels. */
  minGreyLevels: 20,
  /** A photo's luminance spreads over many levels; flat shapes and two-tone art do not. */
  minLumaEntropy: 4,
  /** A pixel whose channels differ by at most this much is grey (JPEG noise tints a little). */
  greyTolerance: 12,
  /** An image is black-and-white when fewer than this share of its pixels have colour. */
  maxColouredShareInGrey: 0.02,
} as const;

/** The first rule an image breaks, or null for a photograph. */
export function judgePhoto(stats: ImageStats): RejectReason | null {
  const short = Math.min(stats.width, stats.height);
  const long = Math.max(stats.width, stats.height);
  if (short < PHOTO_RULE.minSide) return 'too-small';
  if (long / short > PHOTO_RULE.maxAspect) return 'extreme-aspect';
  const minColours = stats.greyscale ? PHOTO_RULE.minGreyLevels : PHOTO_RULE.minDistinctColours;
  if (stats.distinctColours < minColours) return 'few-colours';
  if (stats.lumaEntropy < PHOTO_RULE.minLumaEntropy) return 'flat-luminance';
  return null;
}

export async function measureImage(input: string | Buffer): Promise<ImageStats> {
  const image = sharp(input, { failOn: 'error' }).rotate();
  const meta = await image.metadata();
  // Orientation 5–8 swaps the sides (rotate() above applies it to the pixels).
  const swap = (meta.orientation ?? 1) >= 5;
  const width = swap ? meta.height : meta.width;
  const height = swap ? meta.width : meta.height;
  const { data, info } = await image
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width, height, ...colourStats(data, info.channels) };
}

/** Colour and luminance statistics of raw interleaved pixels (3 or more channels). */
export function colourStats(data: Uint8Array, channels: number): Omit<ImageStats, 'width' | 'height'> {
  const colours = new Set<number>();
  let coloured = 0;
  const histogram = new Float64Array(256);
  const pixels = Math.floor(data.length / channels);
  for (let i = 0; i < pixels; i++) {
    const r = data[i * channels] ?? 0;
    const g = data[i * channels + 1] ?? 0;
    const b = data[i * channels + 2] ?? 0;
    colours.add(((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3));
    if (Math.max(r, g, b) - Math.min(r, g, b) > PHOTO_RULE.greyTolerance) coloured++;
    const luma = Math.min(255, Math.round(0.299 * r + 0.587 * g + 0.114 * b));
    histogram[luma] = (histogram[luma] ?? 0) + 1;
  }
  let entropy = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const p = count / pixels;
    entropy -= p * Math.log2(p);
  }
  return { distinctColours: colours.size, lumaEntropy: entropy, greyscale: coloured < pixels * PHOTO_RULE.maxColouredShareInGrey };
}
