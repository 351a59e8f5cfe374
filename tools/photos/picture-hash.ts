// Perceptual hash: is this the same picture (at another size, re-encoded, cropped by a
// few pixels)? A 64-bit dHash of the structure, plus a 4×4 colour thumbnail, because
// dHash alone cannot tell apart dim, low-contrast photos: a beige dune and a dark-blue
// dusk lake came within 4 bits of each other (their colours differ by 68 of 255).
import sharp from 'sharp';

export interface PictureHash {
  /** dHash: 9×8 grey pixels, one bit per horizontal neighbour pair (left brighter). */
  bits: bigint;
  /** 4×4 RGB average colours, 48 bytes. */
  colour: Uint8Array;
}

/**
 * Limits for the same picture. Measured on the Debian set: a wallpaper and its
 * screenshot or another size differ by 0–5 bits and ≤ 2.2 in colour; distinct photos
 * that close in bits differ by ≥ 45 in colour.
 */
export const SAME_PICTURE = { maxBits: 6, maxColourDifference: 16 } as const;

export async function pictureHash(input: string | Buffer): Promise<PictureHash> {
  // Stretching to a fixed grid ignores aspect ratio, so 16:10 and 16:9 cuts still match.
  const base = sharp(input, { failOn: 'error' }).rotate().flatten({ background: '#000000' }).toColourspace('srgb');
  const grey = await base.clone().greyscale().resize(9, 8, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
  const colour = await base.clone().removeAlpha().resize(4, 4, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
  return { bits: dHashFromGrey(grey), colour: new Uint8Array(colour) };
}

/** The dHash of 72 grey pixels (9 wide, 8 high, row-major). */
export function dHashFromGrey(grey: Uint8Array): bigint {
  if (grey.length !== 72) throw new Error(`dHash wants 9×8 grey pixels, got ${grey.length} values`);
  let hash = 0n;
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const left = grey[y * 9 + x] ?? 0;
      const right = grey[y * 9 + x + 1] ?? 0;
      hash = (hash << 1n) | (left > right ? 1n : 0n);
    }
  }
  return hash;
}

export function hammingDistance(a: bigint, b: bigint): number {
  let diff = a ^ b;
  let bits = 0;
  while (diff !== 0n) {
    bits += Number(diff & 1n);
    diff >>= 1n;
  }
  return bits;
}

/** Mean absolute difference of the colour thumbnails, 0..255. */
export function colourDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return a.length === 0 ? 0 : sum / a.length;
}

export function isSamePicture(a: PictureHash, b: PictureHash): boolean {
  return hammingDistance(a.bits, b.bits) <= SAME_PICTURE.maxBits && colourDifference(a.colour, b.colour) <= SAME_PICTURE.maxColourDifference;
}

export function hashHex(hash: PictureHash): string {
  return hash.bits.toString(16).padStart(16, '0');
}
