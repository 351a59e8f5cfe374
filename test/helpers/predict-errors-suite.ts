// The malformed-input suite, shared by every deployment mode: every kind of bad input gets
// a clear 4xx JSON error with a code, and the server keeps serving. Each mode runs it on
// the same tiny-model repository and the same limits, so a case answering differently in
// one mode fails there with the exact status and code it got.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bombPng, photo } from './images.js';
import { multipart } from './server.js';
import { makeRepository } from './tiny-model.js';

export interface PredictErrorsLimits {
  bodyLimit: number;
  maxPixels: number;
}

export interface PredictErrorsTarget {
  /** Base URL of the HTTP side (embedded server, or gateway). */
  url: string;
  stop: () => Promise<void>;
  /** Checked by a last case, before stop: whatever serves the jobs is still up and ready. */
  alive?: () => Promise<boolean>;
}

export type StartPredictErrorsTarget = (repoRoot: string, limits: PredictErrorsLimits) => Promise<PredictErrorsTarget>;

export const PREDICT_ERRORS_LIMITS: PredictErrorsLimits = { bodyLimit: 1024 * 1024, maxPixels: 40_000_000 };

interface ErrorBody {
  success: boolean;
  error?: { code: string; message: string };
}

export function predictErrorsSuite(name: string, start: StartPredictErrorsTarget): void {
  describe(name, () => {
    let repo: Awaited<ReturnType<typeof makeRepository>> | undefined;
    let target: PredictErrorsTarget | undefined;
    const dog = photo('dog');

    beforeAll(async () => {
      repo = await makeRepository([{ name: 'tiny', classes: 5 }]);
      target = await start(repo.root, PREDICT_ERRORS_LIMITS);
    });
    afterAll(async () => {
      await target?.stop();
      await repo?.cleanup();
    });

    async function post(path: string, init: RequestInit): Promise<{ status: number; body: ErrorBody }> {
      if (target === undefined) throw new Error('the server did not start');
      const response = await fetch(target.url + path, { method: 'POST', ...init });
      return { status: response.status, body: (await response.json()) as ErrorBody };
    }

    function raw(bytes: Uint8Array | string, type = 'image/jpeg'): RequestInit {
      return { body: typeof bytes === 'string' ? bytes : Buffer.from(bytes), headers: { 'content-type': type } };
    }

    function expectError(res: Awaited<ReturnType<typeof post>>, status: number, code: string): void {
      expect(res.status).toBe(status);
      expect(res.body.success).toBe(false);
      expect(res.body.error?.code).toBe(code);
      expect(res.body.error?.message.length).toBeGreaterThan(10);
    }

    // After every bad request, a good one still works.
    afterEach(async () => {
      const ok = await post('/predict', { body: multipart([{ name: 'img_file', filename: 'dog.jpg', type: 'image/jpeg', data: dog }]) });
      expect(ok.status).toBe(200);
    });

    describe('POST /predict rejects bad input with a 4xx and keeps serving', () => {
      it('empty raw body → 400 EMPTY_BODY', async () => {
        expectError(await post('/predict', raw('')), 400, 'EMPTY_BODY');
      });

      it('empty multipart (a field but no file) → 400 EMPTY_BODY', async () => {
        expectError(await post('/predict', { body: multipart([{ name: 'model', data: 'tiny' }]) }), 400, 'EMPTY_BODY');
      });

      it('bytes that are not an image → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
        expectError(await post('/predict', raw('this is plain text, not a picture', 'image/jpeg')), 415, 'UNSUPPORTED_MEDIA_TYPE');
      });

      it('a non-image content type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
        expectError(await post('/predict', raw('{"a":1}', 'application/json')), 415, 'UNSUPPORTED_MEDIA_TYPE');
      });

      it('truncated JPEG → 422 INVALID_IMAGE', async () => {
        expectError(await post('/predict', raw(dog.subarray(0, Math.floor(dog.length / 2)))), 422, 'INVALID_IMAGE');
      });

      it('decompression bomb (20000×20000 PNG) → 422 IMAGE_TOO_LARGE', async () => {
        const bomb = bombPng();
        expect(bomb.length).toBeLessThan(200_000);
        const res = await post('/predict', raw(bomb, 'image/png'));
        expectError(res, 422, 'IMAGE_TOO_LARGE');
        expect(res.body.error?.message).toMatch(/pixels/);
      });

      it('body over the size limit → 413 PAYLOAD_TOO_LARGE (raw and multipart)', async () => {
        const big = Buffer.alloc(2 * 1024 * 1024, 0xff);
        expectError(await post('/predict', raw(big)), 413, 'PAYLOAD_TOO_LARGE');
        expectError(await post('/predict', { body: multipart([{ name: 'img_file', filename: 'big.jpg', data: big }]) }), 413, 'PAYLOAD_TOO_LARGE');
      });

      it('SVG → 415 SVG_REJECTED, without reading the entity it references', async () => {
        const svg =
          '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY secret SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&secret;</text></svg>';
        const res = await post('/predict', raw(svg, 'image/svg+xml'));
        expectError(res, 415, 'SVG_REJECTED');
        expect(JSON.stringify(res.body)).not.toMatch(/root:/);
        expectError(
          await post('/predict', { body: multipart([{ name: 'img_file', filename: 'x.svg', type: 'image/svg+xml', data: svg }]) }),
          415,
          'SVG_REJECTED',
        );
      });

      it('a file in the wrong multipart field → 400 WRONG_FIELD', async () => {
        const res = await post('/predict', { body: multipart([{ name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: dog }]) });
        expectError(res, 400, 'WRONG_FIELD');
        expect(res.body.error?.message).toContain('img_file');
      });

      it('two files → 400 TOO_MANY_FILES', async () => {
        const two = multipart([
          { name: 'img_file', filename: 'a.jpg', type: 'image/jpeg', data: dog },
          { name: 'img_file', filename: 'b.jpg', type: 'image/jpeg', data: dog },
        ]);
        expectError(await post('/predict', { body: two }), 400, 'TOO_MANY_FILES');
        const mixed = multipart([
          { name: 'img_file', filename: 'a.jpg', type: 'image/jpeg', data: dog },
          { name: 'other', filename: 'b.jpg', type: 'image/jpeg', data: dog },
        ]);
        expectError(await post('/predict', { body: mixed }), 400, 'TOO_MANY_FILES');
      });

      it('unknown model → 404 MODEL_NOT_FOUND; unknown version → 404 VERSION_NOT_FOUND', async () => {
        const res = await post('/predict?model=nope', raw(dog));
        expectError(res, 404, 'MODEL_NOT_FOUND');
        expect(res.body.error?.message).toContain('tiny');
        expectError(await post('/predict?model=tiny&version=9', raw(dog)), 404, 'VERSION_NOT_FOUND');
      });

      it('bad top_k → 400 BAD_PARAMETER (0, too many, not a number; query or form field)', async () => {
        for (const value of ['0', '6', 'abc', '1.5', '-1']) {
          expectError(await post(`/predict?top_k=${value}`, raw(dog)), 400, 'BAD_PARAMETER');
        }
        const form = multipart([
          { name: 'top_k', data: 'many' },
          { name: 'img_file', filename: 'dog.jpg', type: 'image/jpeg', data: dog },
        ]);
        expectError(await post('/predict', { body: form }), 400, 'BAD_PARAMETER');
      });

      it('malformed multipart → 400 BAD_MULTIPART', async () => {
        const res = await post('/predict', {
          body: '--xyz\r\nContent-Disposition: form-data; name="img_file"; filename="a.jpg"\r\n\r\nabc',
          headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        });
        expect(res.status).toBe(400);
        expect(['BAD_MULTIPART', 'EMPTY_BODY']).toContain(res.body.error?.code);
      });

      it('unknown route → 404 NOT_FOUND JSON', async () => {
        expectError(await post('/nope', raw(dog)), 404, 'NOT_FOUND');
      });

      describe('Open Inference Protocol infer: every costly shape of request is a coded 400 before any work', () => {
        /** OIP errors are {"error": "..."}; the code is the message's first word in neither, so the status and message tell. */
        async function infer(body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; error: string }> {
          if (target === undefined) throw new Error('the server did not start');
          const response = await fetch(`${target.url}/v2/models/tiny/infer`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json', ...headers },
          });
          return { status: response.status, error: ((await response.json()) as { error?: string }).error ?? '' };
        }
        const image = dog.toString('base64');
        const fp32 = (data: string): string => `{"inputs":[{"name":"input","shape":[1,3,32,32],"datatype":"FP32","data":${data}}]}`;

        it('an output asked for twice, or 20 times → 400; 1,000 times → 413 (more strings than any request needs)', async () => {
          const twice = await infer(
            JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: [image] }], outputs: [{ name: 'logits' }, { name: 'logits' }] }),
          );
          expect(twice.status).toBe(400);
          expect(twice.error).toContain('asked for more than once');
          const outputs = (n: number): string =>
            JSON.stringify({
              inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: [image] }],
              outputs: Array.from({ length: n }, () => ({ name: 'logits', parameters: { classification: 5 } })),
            });
          expect((await infer(outputs(20))).status).toBe(400);
          expect((await infer(outputs(1000))).status).toBe(413);
        });

        it('more BYTES elements than the shape (JSON: 1,000 empty ones; binary: 100,000) → 400; more strings than any request can need → 413', async () => {
          const json = await infer(
            JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: Array.from({ length: 1_000 }, () => '') }] }),
          );
          expect([json.status, json.error]).toEqual([400, 'BYTES input "input" has shape [1] but 1000 elements.']);
          const tooMany = await infer(
            JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: Array.from({ length: 100_000 }, () => '') }] }),
          );
          expect(tooMany.status).toBe(413);
          expect(tooMany.error).toContain('more strings than a request to this model can need');
          const elements = Buffer.alloc(4 * 100_000); // zero-length elements: only their length prefixes
          const header = Buffer.from(
            JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: elements.length } }] }),
          );
          const binary = await infer(Buffer.concat([header, elements]), {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(header.length),
          });
          expect(binary.status).toBe(400);
          expect(binary.error).toContain('more elements follow');
        });

        it('FP32 data nested 1,000 deep, or holding a non-finite value → 400, never a 500', async () => {
          const deep = await infer(fp32(`${'['.repeat(1_000)}0${']'.repeat(1_000)}`));
          expect(deep.status).toBe(400);
          expect(deep.error).toContain('nested deeper than its shape');
          const infinite = await infer(fp32(`[${Array.from({ length: 3 * 32 * 32 }, (_, i) => (i === 9 ? '1e999' : '0')).join(',')}]`));
          expect([infinite.status, infinite.error]).toEqual([400, 'FP32 input "input": element 9 is Infinity; every value must be finite.']);
        });
      });

      it('after all of the above, what serves the jobs is still alive and ready', async () => {
        if (target?.alive === undefined) return;
        expect(await target.alive()).toBe(true);
      });
    });
  });
}
