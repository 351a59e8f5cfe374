// The photo files of a directory, for calibration and evaluation alike.
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ServeError, type ErrorCode } from '../common/errors.js';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

/** Image files of `dir` (not recursive), sorted by name; `code` names the failure for the caller. */
export async function listImageFiles(dir: string, code: ErrorCode, purpose: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    throw new ServeError(code, `cannot read the ${purpose} directory ${dir}: ${(err as Error).message}`);
  });
  const files = names
    .filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase()))
    .sort()
    .map((n) => join(dir, n));
  if (files.length === 0) throw new ServeError(code, `${dir} holds no photo (${[...IMAGE_EXTENSIONS].join(', ')})`);
  return files;
}
