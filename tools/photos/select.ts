// Which measured photographs are kept (one per picture) and which set each joins.
import { createHash } from 'node:crypto';
import { hammingDistance, hashHex, isSamePicture, type PictureHash } from './picture-hash.js';

export interface Hashed {
  /** Unique and stable (package + path): breaks ties so every run decides alike. */
  key: string;
  hash: PictureHash;
  width: number;
  height: number;
}

export interface Duplicate<T> {
  item: T;
  of: T;
  /** dHash bits that differ. */
  distance: number;
}

/**
 * One file per picture: largest first, each file is a duplicate of the first kept file
 * that is the same picture, so a wallpaper shipped at several sizes keeps its largest.
 */
export function dedupe<T extends Hashed>(items: readonly T[]): { kept: T[]; duplicates: Duplicate<T>[] } {
  const ordered = [...items].sort((a, b) => b.width * b.height - a.width * a.height || compare(a.key, b.key));
  const kept: T[] = [];
  const duplicates: Duplicate<T>[] = [];
  for (const item of ordered) {
    let match: Duplicate<T> | undefined;
    for (const other of kept) {
      if (isSamePicture(item.hash, other.hash)) {
        match = { item, of: other, distance: hammingDistance(item.hash.bits, other.hash.bits) };
        break;
      }
    }
    if (match) duplicates.push(match);
    else kept.push(item);
  }
  return { kept, duplicates };
}

export type PhotoSet = 'calibration' | 'evaluation';

/**
 * Disjoint sets, half each (evaluation gets the odd one): photos ordered by a digest of
 * their perceptual hash, so the order is stable across runs and machines and does not
 * follow package or file name (each set mixes all sources).
 */
export function splitSets<T extends Hashed>(items: readonly T[]): Map<T, PhotoSet> {
  const digest = (item: T): string =>
    createHash('sha256')
      .update(`${hashHex(item.hash)} ${item.key}`)
      .digest('hex');
  const ordered = [...items].map((item) => ({ item, order: digest(item) })).sort((a, b) => compare(a.order, b.order));
  return new Map(ordered.map(({ item }, rank) => [item, rank % 2 === 0 ? 'evaluation' : 'calibration']));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
