// `models quantize` end to end on a repository: the new version sits beside the FP32 one,
// shares its config, and serves through the worker's ModelSession.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSession } from '../../worker/model-session.js';
import { loadRepository } from '../repository/repository.js';
import type { ModelEntry } from '../repository/contract.js';
import { encodeModel } from '../../onnx/proto.js';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeVersion } from './quantize.js';
import { smallModel } from '../../../test/helpers/quantize-graphs.js';

const PHOTOS = fileURLToPath(new URL('../../../test/fixtures/images', import.meta.url));
let root: string;

async function entry(): Promise<ModelEntry> {
  return (await loadRepository(root)).models.get('small') as ModelEntry;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmserve-qrepo-'));
  const dir = join(root, 'small');
  await mkdir(join(dir, '1'), { recursive: true });
  await writeFile(join(dir, '1', 'model.onnx'), encodeModel(smallModel()));
  await writeFile(join(dir, 'labels.txt'), 'a\nb\nc\n');
  const config = {
    description: 'small test graph',
    outputName: 'fc',
    preprocess: { resize: 'fill', width: 8, height: 8, layout: 'NCHW', scale: 1 / 255 },
    postprocess: { softmax: true, topK: 3 },
    batching: { maxBatchSize: 4, maxQueueDelayMs: 2, queueBound: 16, timeoutMs: 10_000 },
    threads: { intraOp: 1, interOp: 1 },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('quantizeVersion', () => {
  it('writes the next version, which the worker loads and runs', async () => {
    const progress: number[] = [];
    const result = await quantizeVersion(await entry(), '1', PHOTOS, undefined, { ...DEFAULT_QUANTIZE_OPTIONS, onProgress: (done) => progress.push(done) });
    expect(result.version).toBe('2');
    expect(result.path).toBe(join(root, 'small', '2', 'model.onnx'));
    expect(progress.at(-1)).toBe(5);
    const model = await entry();
    expect(model.versions.map((v) => v.version)).toEqual(['1', '2']);
    const session = await ModelSession.create(model, model.versions[1] as (typeof model.versions)[number]);
    try {
      const out = await session.run(new Float32Array(2 * session.itemSize).fill(0.5), 2);
      expect(out.output).toHaveLength(6);
      expect(out.output.every(Number.isFinite)).toBe(true);
    } finally {
      await session.close();
    }
  });

  it('never overwrites a version, refuses a quantized model, and needs photos', async () => {
    const options = { ...DEFAULT_QUANTIZE_OPTIONS };
    await expect(quantizeVersion(await entry(), '1', PHOTOS, '2', options)).rejects.toMatchObject({ code: 'BAD_PARAMETER' });
    await expect(quantizeVersion(await entry(), '2', PHOTOS, '3', options)).rejects.toMatchObject({
      code: 'QUANTIZE_UNSUPPORTED',
      message: expect.stringContaining('already quantized') as unknown,
    });
    const empty = join(root, 'no-photos');
    await mkdir(empty);
    await expect(quantizeVersion(await entry(), '1', empty, '3', options)).rejects.toMatchObject({ code: 'CALIBRATION_FAILED' });
    await expect(quantizeVersion(await entry(), '7', PHOTOS, '3', options)).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
  });
});
