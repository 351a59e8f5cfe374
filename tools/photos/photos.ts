// The whole selection: candidates → photograph rule → reviewed exclusions → one file per
// picture → calibration / evaluation sets, written as JPEG copies (plus flips and crops
// of the calibration photos) with a manifest.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import { AUGMENTED_DIR, augmentCalibration } from './augment.js';
import { collectImages, type Candidate } from './collect.js';
import { hashHex, pictureHash } from './picture-hash.js';
import { manifestProblems, type PhotoCounts, type PhotoEntry, type PhotoManifest, type RejectedEntry } from './manifest.js';
import { judgePhoto, measureImage } from './photo-rule.js';
import { reviewedExclusion } from './review.js';
import { dedupe, splitSets, type Hashed } from './select.js';

export interface PhotoSource {
  package: string;
  version: string | null;
  /** Directory holding the files (an extracted package's root). */
  root: string;
  /** Shown before the path inside the source in the manifest (`/` for a package). */
  pathPrefix: string;
  licenceFor: (pathInPackage: string) => string;
}

export interface SelectOptions {
  sources: readonly PhotoSource[];
  outDir: string;
  /** Longest side of the copies written (the models read 224 px). */
  maxSide?: number;
  log?: (line: string) => void;
}

interface Measured extends Hashed {
  candidate: Candidate;
  source: PhotoSource;
}

/** How many images are decoded at once (sharp also uses threads of its own). */
const CONCURRENCY = 4;

export async function selectPhotos(options: SelectOptions): Promise<PhotoManifest> {
  const log = options.log ?? ((): void => undefined);
  const rejected: RejectedEntry[] = [];
  const measured: Measured[] = [];
  let candidates = 0;
  let vectorSkipped = 0;
  for (const source of options.sources) {
    const found = await collectImages(source.root, source.package, source.version);
    candidates += found.candidates.length;
    vectorSkipped += found.vectors;
    log(`${source.package}: ${found.candidates.length} candidate images`);
    await forEachLimited(found.candidates, CONCURRENCY, async (candidate) => {
      const originalPath = source.pathPrefix + candidate.pathInPackage;
      const reject = (reason: string): void => void rejected.push({ package: source.package, originalPath, reason });
      let stats;
      try {
        stats = await measureImage(candidate.file);
      } catch {
        return reject('undecodable');
      }
      const ruled = judgePhoto(stats);
      if (ruled !== null) return reject(ruled);
      if (reviewedExclusion(source.package, candidate.pathInPackage)) return reject('reviewed-not-a-photo');
      const hash = await pictureHash(candidate.file);
      measured.push({ key: `${source.package}:${candidate.pathInPackage}`, hash, width: stats.width, height: stats.height, candidate, source });
    });
  }

  const { kept, duplicates } = dedupe(measured);
  const sets = splitSets(kept);
  const duplicatesOf = new Map<Measured, string[]>();
  for (const d of duplicates) duplicatesOf.set(d.of, [...(duplicatesOf.get(d.of) ?? []), originalPathOf(d.item)]);

  for (const set of ['calibration', 'evaluation', AUGMENTED_DIR]) {
    await rm(join(options.outDir, set), { recursive: true, force: true });
    await mkdir(join(options.outDir, set), { recursive: true });
  }
  const photos: PhotoEntry[] = [];
  for (const item of [...kept].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    const set = sets.get(item) ?? 'calibration';
    const file = `${set}/${copyName(item)}`;
    await sharp(item.candidate.file)
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .resize(options.maxSide ?? 1024, options.maxSide ?? 1024, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 92 })
      .toFile(join(options.outDir, file));
    photos.push({
      file,
      set,
      package: item.source.package,
      version: item.source.version,
      originalPath: originalPathOf(item),
      licence: item.source.licenceFor(item.candidate.pathInPackage),
      width: item.width,
      height: item.height,
      dhash: hashHex(item.hash),
      colour: Buffer.from(item.hash.colour).toString('hex'),
      duplicates: (duplicatesOf.get(item) ?? []).sort(),
    });
  }

  const augmented = await augmentCalibration(options.outDir, photos);

  rejected.sort((a, b) => (a.originalPath < b.originalPath ? -1 : 1));
  const byReason: Record<string, number> = {};
  for (const r of rejected) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  const counts: PhotoCounts = {
    candidates,
    vectorSkipped,
    rejected: byReason,
    duplicates: duplicates.length,
    kept: photos.length,
    calibration: photos.filter((p) => p.set === 'calibration').length,
    evaluation: photos.filter((p) => p.set === 'evaluation').length,
    augmented: augmented.length,
  };
  const manifest: PhotoManifest = { counts, photos, augmented, rejected };
  const problems = manifestProblems(manifest);
  if (problems.length > 0) throw new Error(`the photo manifest is inconsistent: ${problems.join('; ')}`);
  await writeFile(join(options.outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function originalPathOf(item: Measured): string {
  return item.source.pathPrefix + item.candidate.pathInPackage;
}

/** `<package>--<file name>-<hash>.jpg`: readable, and unique (Plasma names every file `2560x1600.jpg`). */
function copyName(item: Measured): string {
  const path = item.candidate.pathInPackage;
  const stem = basename(path, extname(path)).replace(/[^A-Za-z0-9_-]+/g, '_');
  return `${item.source.package}--${stem}-${hashHex(item.hash).slice(0, 8)}.jpg`;
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
