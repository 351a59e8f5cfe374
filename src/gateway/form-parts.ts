// Multipart parts of a decompressed (gzip) body. @fastify/multipart reads `request.raw`, so
// it would see the gzip bytes: these parts come from busboy, the same parser it uses, fed
// from the decompressed stream, with the same limits and the same errors as its own parts.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Busboy } from '@fastify/busboy';
import { ServeError } from '../common/errors.js';

/** What the /predict route reads of a part; @fastify/multipart's parts have this shape too. */
export type FormPart =
  { type: 'field'; fieldname: string; value: unknown } | { type: 'file'; fieldname: string; mimetype: string; toBuffer: () => Promise<Buffer> };

export interface MultipartLimits {
  fileSize: number;
  files: number;
  fields: number;
  fieldSize: number;
  parts: number;
  headerPairs: number;
}

/** The one set of multipart limits: @fastify/multipart's and the gzip path's. */
export function multipartLimits(bodyLimit: number): MultipartLimits {
  return { fileSize: bodyLimit, files: 2, fields: 16, fieldSize: 1024, parts: 20, headerPairs: 100 };
}

type Entry = FormPart | { type: 'error'; error: unknown };

/**
 * The parts of `body` in order; an error (a limit, malformed multipart, or the body's own:
 * over the limit once decompressed, bad gzip) ends the iteration where it happened.
 */
export async function* formParts(body: Readable, headers: IncomingHttpHeaders, limits: MultipartLimits): AsyncGenerator<FormPart> {
  const queue: Entry[] = [];
  let ended = false;
  let failed = false;
  let wake: (() => void) | undefined;
  let current: Readable | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const add = (entry: Entry): void => {
    if (failed) return;
    queue.push(entry);
    notify();
  };
  const fail = (error: unknown): void => {
    add({ type: 'error', error });
    failed = true;
    // A file still arriving would never end: its reader gets the error instead.
    current?.destroy(error instanceof Error ? error : undefined);
  };

  try {
    const bb = Busboy({ headers: { ...headers, 'content-type': headers['content-type'] ?? '' }, limits });
    // As @fastify/multipart does: a name such as __proto__ must not reach a params object.
    const named = (name: string): boolean => {
      if (name in Object.prototype) fail(new ServeError('BAD_MULTIPART', `The multipart field name "${name}" is not allowed.`));
      return !failed;
    };
    bb.on('field', (fieldname, value, _nameTruncated, valueTruncated, _encoding, mimetype) => {
      if (!named(fieldname)) return;
      const parsed = mimetype.startsWith('application/json') ? jsonField(value, valueTruncated) : { value };
      if (parsed !== undefined) add({ type: 'field', fieldname, value: parsed.value });
      else fail(new ServeError('BAD_PARAMETER', `Multipart field "${fieldname}" is not valid JSON, as its Content-Type says.`));
    });
    bb.on('file', (fieldname, file, _filename, _encoding, mimetype) => {
      if (!named(fieldname)) {
        file.resume();
        return;
      }
      current = file;
      add({ type: 'file', fieldname, mimetype, toBuffer: collect(file) });
    });
    bb.on('filesLimit', () => fail(new ServeError('TOO_MANY_FILES', 'The multipart body has more files than allowed.')));
    bb.on('partsLimit', () => fail(new ServeError('PAYLOAD_TOO_LARGE', 'The multipart body has more parts than allowed.')));
    bb.on('fieldsLimit', () => fail(new ServeError('PAYLOAD_TOO_LARGE', 'The multipart body has more fields than allowed.')));
    let sawData = false;
    body.once('data', () => (sawData = true));
    pipeline(body, bb).then(
      () => {
        ended = true;
        notify();
      },
      (err: unknown) => {
        // An empty body is an empty form, as for plain multipart (then EMPTY_BODY).
        if (!sawData && err instanceof Error && err.message === 'Unexpected end of multipart data') {
          ended = true;
          notify();
        } else fail(err);
      },
    );

    for (;;) {
      const entry = queue.shift();
      if (entry?.type === 'error') throw entry.error;
      if (entry !== undefined) yield entry;
      else if (ended) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    // The route stopped early (e.g. two images), or busboy refused the headers: stop decompressing.
    body.destroy();
  }
}

/** Reads the file as it arrives (busboy waits for each file to be read before the next part). */
function collect(file: Readable): () => Promise<Buffer> {
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    file.on('data', (chunk: Buffer) => chunks.push(chunk));
    file.on('limit', () => reject(new ServeError('PAYLOAD_TOO_LARGE')));
    file.on('end', () => resolve(Buffer.concat(chunks)));
    file.on('error', reject);
  });
  // The iteration reports the same error if the route never asks for this file.
  done.catch(() => undefined);
  return () => done;
}

/** @fastify/multipart parses fields sent as application/json (undefined: not JSON, or cut at fieldSize). */
function jsonField(value: string, truncated: boolean): { value: unknown } | undefined {
  if (truncated) return undefined;
  try {
    return { value: JSON.parse(value) as unknown };
  } catch {
    return undefined;
  }
}
