// Candidate files: every raster image under an extracted package (or a directory of the
// project's own photos). Symlinks are skipped: dpkg ships one wallpaper under a dozen
// names that way, and a link is not a picture of its own.
import { readdir } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';

/** What sharp decodes (with the formats wallpapers and data sets use). */
export const RASTER_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif']);
const VECTOR_EXTENSIONS: ReadonlySet<string> = new Set(['.svg', '.svgz']);

export interface Candidate {
  package: string;
  version: string | null;
  /** Path below the package root (`usr/share/…`), `/`-separated. */
  pathInPackage: string;
  /** Where it is on disk. */
  file: string;
}

export async function collectImages(root: string, pkg: string, version: string | null): Promise<{ candidates: Candidate[]; vectors: number }> {
  const candidates: Candidate[] = [];
  let vectors = 0;
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue; // directories, and symlinks (not followed)
    const ext = extname(entry.name).toLowerCase();
    const file = join(entry.parentPath, entry.name);
    if (VECTOR_EXTENSIONS.has(ext)) vectors++;
    if (!RASTER_EXTENSIONS.has(ext)) continue;
    candidates.push({ package: pkg, version, pathInPackage: relative(root, file).split('\\').join('/'), file });
  }
  candidates.sort((a, b) => (a.pathInPackage < b.pathInPackage ? -1 : a.pathInPackage > b.pathInPackage ? 1 : 0));
  return { candidates, vectors };
}
