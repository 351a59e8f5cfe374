// Extra calibration samples made from calibration photos only: a mirror image and a
// centre crop each. Activation ranges see more framings without a new picture; the
// evaluation set never gets any (its photos must stay unseen pictures).
import { join } from 'node:path';
import sharp from 'sharp';
import type { AugmentedEntry, PhotoEntry } from './manifest.js';

export const AUGMENTED_DIR = 'calibration-augmented';

/** Share of each side the centre crop keeps. */
const CROP = 0.7;

export async function augmentCalibration(outDir: string, photos: readonly PhotoEntry[]): Promise<AugmentedEntry[]> {
  const made: AugmentedEntry[] = [];
  for (const photo of photos) {
    if (photo.set !== 'calibration') continue;
    const source = join(outDir, photo.file);
    const stem = photo.file.slice(photo.file.indexOf('/') + 1).replace(/\.jpg$/, '');
    const flip = `${AUGMENTED_DIR}/${stem}-flip.jpg`;
    await sharp(source).flop().jpeg({ quality: 92 }).toFile(join(outDir, flip));
    made.push({ file: flip, from: photo.file, transform: 'flip' });
    const { width, height } = await sharp(source).metadata();
    const w = Math.round(width * CROP);
    const h = Math.round(height * CROP);
    const crop = `${AUGMENTED_DIR}/${stem}-crop.jpg`;
    await sharp(source)
      .extract({ left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h })
      .jpeg({ quality: 92 })
      .toFile(join(outDir, crop));
    made.push({ file: crop, from: photo.file, transform: 'centre-crop-70%' });
  }
  return made;
}
