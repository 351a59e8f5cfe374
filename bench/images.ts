// The photos the benchmarks send: test/fixtures/images/*.jpg, round-robin, as raw image/jpeg
// request bodies.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadRequestBody } from '../src/loadtest/contract.js';
import { ROOT } from './driver.js';

export const IMAGES_DIR = join(ROOT, 'test', 'fixtures', 'images');

/** The JPEG files, sorted by name. */
export function imagePaths(): string[] {
  return readdirSync(IMAGES_DIR)
    .filter((f) => f.toLowerCase().endsWith('.jpg'))
    .sort()
    .map((f) => join(IMAGES_DIR, f));
}

/** `dog.jpg (160 KB)`, … for the reports. */
export function imageNames(): string[] {
  return imagePaths().map((p) => `${p.slice(IMAGES_DIR.length + 1)} (${Math.round(statSync(p).size / 1024)} KB)`);
}

let bodiesCache: LoadRequestBody[] | undefined;

/** The images as request bodies, read once; a Buffer is a Uint8Array and survives the structured-clone IPC as bytes. */
export function imageBodies(): LoadRequestBody[] {
  bodiesCache ??= imagePaths().map((path) => ({ body: readFileSync(path), contentType: 'image/jpeg' }));
  return bodiesCache;
}
