// manifest.json beside the photo sets: where each photo came from, under which licence,
// and the true counts of the run that made them.
import type { PhotoSet } from './select.js';
import { UNKNOWN_LICENCE } from './debian-copyright.js';

export interface PhotoEntry {
  /** Relative to the manifest: `calibration/…jpg` or `evaluation/…jpg`. */
  file: string;
  set: PhotoSet;
  package: string;
  /** The .deb's version; null for the project's own test photos. */
  version: string | null;
  /** Path inside the package (or the repository, for test photos). */
  originalPath: string;
  licence: string;
  /** Of the original file (the copy is scaled down). */
  width: number;
  height: number;
  /** 64-bit dHash, hex. */
  dhash: string;
  /** 4×4 RGB thumbnail, hex: with dhash, the perceptual hash (picture-hash.ts). */
  colour: string;
  /** Other files collapsed into this one as the same picture. */
  duplicates: string[];
}

/** A calibration sample made from a calibration photo (augment.ts). */
export interface AugmentedEntry {
  file: string;
  /** The photo it was made from (`calibration/…`). */
  from: string;
  transform: string;
}

export interface RejectedEntry {
  package: string;
  originalPath: string;
  reason: string;
}

export interface PhotoCounts {
  /** Raster image files found (symlinks and vector files are not candidates). */
  candidates: number;
  vectorSkipped: number;
  rejected: Record<string, number>;
  duplicates: number;
  kept: number;
  calibration: number;
  evaluation: number;
  /** Extra calibration samples (flips and crops), not photos of their own. */
  augmented: number;
}

export interface PhotoManifest {
  counts: PhotoCounts;
  photos: PhotoEntry[];
  augmented: AugmentedEntry[];
  rejected: RejectedEntry[];
}

/** What must hold of any manifest; empty when it does. */
export function manifestProblems(manifest: PhotoManifest): string[] {
  const problems: string[] = [];
  const { counts, photos } = manifest;
  const sets = new Map<string, PhotoSet>();
  for (const photo of photos) {
    // Dedupe made one file per picture, so an original path is in one set at most.
    if (photo.package === '') problems.push(`${photo.file}: no package`);
    if (photo.licence === '' || photo.licence === UNKNOWN_LICENCE) problems.push(`${photo.file}: no licence`);
    if (!photo.file.startsWith(`${photo.set}/`)) problems.push(`${photo.file}: not in its set's directory (${photo.set})`);
    const other = sets.get(photo.originalPath);
    if (other !== undefined) problems.push(`${photo.originalPath}: listed twice (${other}, ${photo.set})`);
    sets.set(photo.originalPath, photo.set);
  }
  const inSet = (set: PhotoSet): number => photos.filter((p) => p.set === set).length;
  if (counts.kept !== photos.length) problems.push(`counts.kept ${counts.kept} ≠ ${photos.length} photos`);
  if (counts.calibration !== inSet('calibration')) problems.push(`counts.calibration ${counts.calibration} ≠ ${inSet('calibration')}`);
  if (counts.evaluation !== inSet('evaluation')) problems.push(`counts.evaluation ${counts.evaluation} ≠ ${inSet('evaluation')}`);
  const calibrationFiles = new Set(photos.filter((p) => p.set === 'calibration').map((p) => p.file));
  for (const extra of manifest.augmented) {
    if (!calibrationFiles.has(extra.from)) problems.push(`${extra.file}: made from ${extra.from}, not a calibration photo`);
  }
  if (counts.augmented !== manifest.augmented.length) problems.push(`counts.augmented ${counts.augmented} ≠ ${manifest.augmented.length}`);
  const rejected = Object.values(counts.rejected).reduce((a, b) => a + b, 0);
  if (rejected + counts.duplicates + counts.kept !== counts.candidates) {
    problems.push(`rejected ${rejected} + duplicates ${counts.duplicates} + kept ${counts.kept} ≠ candidates ${counts.candidates}`);
  }
  return problems;
}
