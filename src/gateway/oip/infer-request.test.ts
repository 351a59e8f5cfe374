// The infer request's size and cost model: every way to make a small request expensive is
// refused with a coded error before any work, and the refusal itself costs little.
import { describe, expect, it } from 'vitest';
import { ServeError } from '../../common/errors.js';
import type { CatalogModel } from '../contract.js';
import { MAX_ANSWER_ELEMENTS, jsonValueLimits, readInferRequest } from './infer-request.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);

function model(over: Partial<CatalogModel> = {}): CatalogModel {
  const labelCount = over.labelCount ?? 5;
  return {
    name: 'm',
    versions: ['1'],
    defaultVersion: '1',
    labelCount,
    labels: Array.from({ length: labelCount }, (_, i) => `class ${i}`),
    inputName: 'input',
    outputName: 'output',
    itemDims: [3, 2, 2],
    defaultTopK: 3,
    queueBound: 100,
    timeoutMs: 1000,
    ...over,
  };
}

function json(header: object): Buffer {
  return Buffer.from(JSON.stringify(header));
}

/** The error `read` throws, as [code, status]; fails if it throws none. */
function refusal(read: () => unknown): [string, number, string] {
  try {
    read();
  } catch (err) {
    if (err instanceof ServeError) return [err.code, err.status, err.message];
    throw err;
  }
  throw new Error('the request was accepted');
}

const bytesInput = (n: number, data: unknown[]): object => ({ name: 'input', shape: [n], datatype: 'BYTES', data });
const fp32Input = (shape: number[], data: unknown): object => ({ name: 'input', shape, datatype: 'FP32', data });

/** BYTES binary data: each element a 4-byte little-endian length, then its bytes. */
function binaryElements(elements: Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), e]));
}

describe('readInferRequest: outputs', () => {
  const image = PNG.toString('base64');

  it('an output asked for twice is refused, and so are lists of 20 and 1,000 before any data is read', () => {
    const twice = json({ inputs: [bytesInput(1, [image])], outputs: [{ name: 'output' }, { name: 'output' }] });
    expect(refusal(() => readInferRequest(twice, undefined, model(), 64)).slice(0, 2)).toEqual(['BAD_INFER_REQUEST', 400]);
    const outputs = (n: number): Buffer =>
      json({
        inputs: [
          bytesInput(
            64,
            Array.from({ length: 64 }, () => image),
          ),
        ],
        outputs: Array.from({ length: n }, () => ({ name: 'output', parameters: { classification: 5 } })),
      });
    // 20: refused by the header schema (at most 16 listed), so no answer is built per repeat.
    const [code, status, message] = refusal(() => readInferRequest(outputs(20), undefined, model(), 64));
    expect([code, status]).toEqual(['BAD_INFER_REQUEST', 400]);
    expect(message).toContain('"outputs"');
    // 1,000: 4,000 strings, more than any request needs: refused before it is parsed.
    expect(refusal(() => readInferRequest(outputs(1000), undefined, model(), 64)).slice(0, 2)).toEqual(['PAYLOAD_TOO_LARGE', 413]);
  });

  it('an answer above MAX_ANSWER_ELEMENTS is refused with ANSWER_TOO_LARGE, one at the limit is accepted', () => {
    const labelCount = MAX_ANSWER_ELEMENTS / 4;
    const header = (n: number): Buffer =>
      json({
        inputs: [
          bytesInput(
            n,
            Array.from({ length: n }, () => image),
          ),
        ],
      });
    expect(readInferRequest(header(4), undefined, model({ labelCount, labels: [] }), 64).items).toHaveLength(4);
    const [code, status, message] = refusal(() => readInferRequest(header(5), undefined, model({ labelCount, labels: [] }), 64));
    expect([code, status]).toEqual(['ANSWER_TOO_LARGE', 400]);
    expect(message).toContain(`at most ${MAX_ANSWER_ELEMENTS}`);
  });

  it('a distinct, known output with classification k is what the request asks for', () => {
    const ok = json({ inputs: [bytesInput(1, [image])], outputs: [{ name: 'output', parameters: { classification: 2 } }] });
    expect(readInferRequest(ok, undefined, model(), 64).outputs).toEqual([{ name: 'output', binary: false, classification: 2 }]);
  });
});

describe('readInferRequest: element counts checked while parsing', () => {
  it('BYTES binary: millions of empty elements stop at the first one beyond the shape', () => {
    // 2.5 million zero-length elements are 10 MB of zero length prefixes.
    const elements = Buffer.concat([binaryElements([PNG]), Buffer.alloc(4 * 2_500_000)]);
    const body = Buffer.concat([
      json({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: elements.length } }] }),
      elements,
    ]);
    const [code, , message] = refusal(() => readInferRequest(body, String(body.length - elements.length), model(), 64));
    expect(code).toBe('BAD_INFER_REQUEST');
    // Stopped at element 1 (counting them all would report how many there were).
    expect(message).toContain('has shape [1] but more elements follow');
  });

  it('BYTES JSON: an element count other than the shape is refused before anything is decoded', () => {
    const body = json({
      inputs: [
        bytesInput(
          1,
          Array.from({ length: 1_000 }, () => ''),
        ),
      ],
    });
    const [code, , message] = refusal(() => readInferRequest(body, undefined, model(), 64));
    expect(code).toBe('BAD_INFER_REQUEST');
    expect(message).toContain('has shape [1] but 1000 elements');
    // Nested data for a shape [N] input is not base64 strings.
    expect(refusal(() => readInferRequest(json({ inputs: [bytesInput(1, [[PNG.toString('base64')]])] }), undefined, model(), 64))[0]).toBe('BAD_INFER_REQUEST');
  });

  it('FP32 JSON: more values than the shape holds stop at the first extra one; fewer are refused too', () => {
    const more = json({
      inputs: [
        fp32Input(
          [1, 3, 2, 2],
          Array.from({ length: 1_500 }, () => 0),
        ),
      ],
    });
    expect(refusal(() => readInferRequest(more, undefined, model(), 64)).slice(0, 2)).toEqual(['INVALID_TENSOR', 400]);
    const fewer = json({ inputs: [fp32Input([1, 3, 2, 2], [1, 2, 3])] });
    expect(refusal(() => readInferRequest(fewer, undefined, model(), 64))[2]).toContain('needs 12 floats; "data" has 3');
  });

  it("FP32 JSON: flat or nested up to the shape's rank gives the same tensor; deeper nesting is a 400, never a 500", () => {
    const values = Array.from({ length: 12 }, (_, i) => i / 4);
    const nested = [
      [
        [values.slice(0, 2), values.slice(2, 4)],
        [values.slice(4, 6), values.slice(6, 8)],
        [values.slice(8, 10), values.slice(10, 12)],
      ],
    ];
    const flat = readInferRequest(json({ inputs: [fp32Input([1, 3, 2, 2], values)] }), undefined, model(), 64).items[0];
    const tree = readInferRequest(json({ inputs: [fp32Input([1, 3, 2, 2], nested)] }), undefined, model(), 64).items[0];
    expect(tree).toEqual(flat);
    expect(
      flat?.kind === 'tensor' ? [...new Float32Array(flat.bytes.buffer.slice(flat.bytes.byteOffset, flat.bytes.byteOffset + flat.bytes.length))] : [],
    ).toEqual(values);
    // Array.prototype.flat(Infinity) threw a RangeError (500) on deep data.
    const body = Buffer.from(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":${'['.repeat(1_000)}0${']'.repeat(1_000)}}]}`);
    const [code, status, message] = refusal(() => readInferRequest(body, undefined, model(), 64));
    expect([code, status]).toEqual(['BAD_INFER_REQUEST', 400]);
    expect(message).toContain('nested deeper than its shape');
  });

  it('a JSON header with more strings, arrays or numbers than the model can need is a 413, refused before it is parsed', () => {
    // model(): items of [3, 2, 2], at most 64 → 64 + 1,024 strings, 64 × (1 + 3 + 3 × 2) + 1,024 arrays, 64 × 12 + 1,024 numbers.
    expect(jsonValueLimits(model(), 64)).toEqual({ strings: 1_088, containers: 1_664, scalars: 1_792 });
    const cases: Array<[string, string]> = [
      [`"data":[${Array.from({ length: 3_000_000 }, () => '""').join(',')}]`, 'more strings'],
      [`"data":[${Array.from({ length: 2_000 }, () => '[]').join(',')}]`, 'more arrays and objects'],
      [`"data":${'['.repeat(100_000)}0${']'.repeat(100_000)}`, 'more arrays and objects'],
      [`"data":[${Array.from({ length: 3_000_000 }, () => '0').join(',')}]`, 'more numbers and literals'],
      [`"data":[0],"parameters":{${Array.from({ length: 2_000 }, (_, i) => `"k${i}":null`).join(',')}}`, 'more strings'],
    ];
    for (const [data, what] of cases) {
      const body = Buffer.from(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32",${data}}]}`);
      const [code, status, message] = refusal(() => readInferRequest(body, undefined, model(), 64));
      expect([code, status], what).toEqual(['PAYLOAD_TOO_LARGE', 413]);
      expect(message).toContain(what);
    }
  });

  it('FP32: non-finite values are refused with INVALID_TENSOR, from JSON (1e999) and from binary data (NaN, -Infinity)', () => {
    const big = Buffer.from(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":[0,0,0,0,0,1e999,0,0,0,0,0,0]}]}`);
    const [code, , message] = refusal(() => readInferRequest(big, undefined, model(), 64));
    expect(code).toBe('INVALID_TENSOR');
    expect(message).toContain('element 5 is Infinity');
    for (const bad of [Number.NaN, Number.NEGATIVE_INFINITY]) {
      const floats = new Float32Array(12);
      floats[7] = bad;
      const data = Buffer.from(floats.buffer);
      const header = json({ inputs: [{ name: 'input', shape: [1, 3, 2, 2], datatype: 'FP32', parameters: { binary_data_size: data.length } }] });
      const [binaryCode, , binaryMessage] = refusal(() => readInferRequest(Buffer.concat([header, data]), String(header.length), model(), 64));
      expect(binaryCode).toBe('INVALID_TENSOR');
      expect(binaryMessage).toContain(`element 7 is ${bad}`);
    }
  });

  it('a shape of more than 16 dimensions, or more than 16 inputs, is refused by the header schema', () => {
    expect(
      refusal(() =>
        readInferRequest(
          json({
            inputs: [
              fp32Input(
                Array.from({ length: 17 }, () => 1),
                [0],
              ),
            ],
          }),
          undefined,
          model(),
          64,
        ),
      )[0],
    ).toBe('BAD_INFER_REQUEST');
    expect(refusal(() => readInferRequest(json({ inputs: Array.from({ length: 17 }, () => fp32Input([1], [0])) }), undefined, model(), 64))[0]).toBe(
      'BAD_INFER_REQUEST',
    );
  });
});
