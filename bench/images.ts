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

/** Open Inference Protocol infer bodies for the photos (bench/embedded.ts), and the one header they all take. */
export interface OipBodies {
  bodies: LoadRequestBody[];
  /** `Inference-Header-Content-Length`: the JSON header's bytes, the same for every body. */
  headerLength: number;
}

/**
 * One Open Inference Protocol v2 infer body per photo, built once as a Triton client would:
 * a JSON header asking for a BYTES input [1] in binary (`binary_data_size`) and the top-`topK`
 * classification of `outputName`, then the binary data: a uint32 little-endian length and the
 * JPEG. The load generator sends one set of headers with every body, so a header shorter than
 * the longest is padded with trailing spaces (JSON whitespace) to one Inference-Header-Content-Length.
 */
export function oipBodies(inputName: string, outputName: string, topK: number): OipBodies {
  const headers = imageBodies().map(({ body }) =>
    JSON.stringify({
      inputs: [{ name: inputName, shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 4 + body.length } }],
      outputs: [{ name: outputName, parameters: { classification: topK } }],
    }),
  );
  const headerLength = Math.max(...headers.map((h) => Buffer.byteLength(h, 'utf8')));
  const bodies = imageBodies().map(({ body }, i) => {
    const header = Buffer.alloc(headerLength, ' ');
    header.write(headers[i] as string, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(body.length);
    return { body: Buffer.concat([header, length, body]), contentType: 'application/octet-stream' };
  });
  return { bodies, headerLength };
}
