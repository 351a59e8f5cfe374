// models prepare's INT8 step on a small repository model, without any photo set: version 2
// is built from the calibration file beside config.json — the same bytes every run, and the
// same bytes as quantizing on the photos the file was measured on; kept while current,
// rebuilt when the file changes, refused (with the command to measure it again) when the
// file does not fit version 1, and the message when there is no file.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { photoSource } from './quantize/calibrate.js';
import { CALIBRATION_FILE, readCalibrationFile, writeCalibrationFile, type CalibrationFile } from './quantize/calibration-file.js';
import { decodeModel, encodeModel, loadModel } from '../onnx/proto.js';
import { calibrateVersion, DEFAULT_QUANTIZE_OPTIONS, quantizeModel } from './quantize/quantize.js';
import { prepareInt8 } from './prepare-int8.js';
import { prepareBundledModels } from './prepare.js';
import { loadRepository } from './repository/repository.js';
import type { ModelEntry } from './repository/contract.js';
import { argmax, runModel, SMALL_DIMS, smallModel } from '../../test/helpers/quantize-graphs.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/images', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let root: string;
let file: CalibrationFile;
const logger = createLogger('silent');
const dir = (): string => join(root, 'models', 'small');
const v2 = (): string => join(dir(), '2', 'model.onnx');

async function entry(): Promise<ModelEntry> {
  return (await loadRepository(join(root, 'models'))).models.get('small') as ModelEntry;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmserve-int8-'));
  await mkdir(join(dir(), '1'), { recursive: true });
  await writeFile(join(dir(), '1', 'model.onnx'), encodeModel(smallModel()));
  await writeFile(join(dir(), '1', '.generator'), 'small/1\n');
  await writeFile(join(dir(), 'labels.txt'), 'a\nb\nc\n');
  const config = {
    defaultVersion: '1',
    outputName: 'fc',
    preprocess: { resize: 'fill', width: 8, height: 8, layout: 'NCHW', scale: 1 / 255 },
    postprocess: { softmax: true, topK: 3 },
  };
  await writeFile(join(dir(), 'config.json'), JSON.stringify(config));
  // What `models quantize small --calibration FIXTURES --write-calibration …` writes.
  file = (await calibrateVersion(await entry(), '1', [FIXTURES], DEFAULT_QUANTIZE_OPTIONS, 'small/1')).file;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('prepareInt8 from a calibration file (no photos)', () => {
  it('builds nothing without a calibration file', async () => {
    const outcome = await prepareInt8(dir(), 'small', logger);
    expect(outcome.state).toBe('no-calibration');
    expect(existsSync(join(dir(), '2'))).toBe(false);
  });

  it('the file holds the ranges, bias corrections, settings and digests; it reads back to the same numbers', async () => {
    expect(file.generator).toBe('quantize/3');
    expect(file.source.generator).toBe('small/1');
    expect(file.photos).toMatchObject({ dirs: ['images'], items: 5, manifestSha256: null });
    expect(file.settings).toEqual({ ...DEFAULT_QUANTIZE_OPTIONS, keep: [] });
    expect(Object.keys(file.ranges).length).toBeGreaterThan(3);
    expect(Object.keys(file.biasCorrections)).toContain('dw_node');
    await writeCalibrationFile(join(dir(), CALIBRATION_FILE), file);
    expect(await readCalibrationFile(join(dir(), CALIBRATION_FILE))).toEqual(file);
  });

  it('builds version 2: stamped, the pinned default stays 1, it predicts like version 1; then current', async () => {
    const outcome = await prepareInt8(dir(), 'small', logger);
    expect(outcome.state).toBe('built');
    const stamp = (await readFile(join(dir(), '2', '.generator'), 'utf8')).trim().split(' ');
    expect(stamp.slice(0, 2)).toEqual(['quantize/3', 'small/1']);
    const small = await entry();
    expect(small.versions.map((v) => v.version)).toEqual(['1', '2']);
    expect(small.defaultVersion).toBe('1');
    const source = await photoSource(FIXTURES, small.config.preprocess);
    const size = SMALL_DIMS.reduce((a, b) => a * b, 1);
    const input = new Float32Array(source.count * size);
    for (let i = 0; i < source.count; i++) await source.fill(i, input, i);
    const dims = [source.count, ...SMALL_DIMS];
    const [fp32, int8] = [await runModel(await loadModel(join(dir(), '1', 'model.onnx')), input, dims), await runModel(await loadModel(v2()), input, dims)];
    for (let i = 0; i < source.count; i++) expect(argmax(int8.subarray(i * 3, i * 3 + 3))).toBe(argmax(fp32.subarray(i * 3, i * 3 + 3)));
    expect((await prepareInt8(dir(), 'small', logger)).state).toBe('current');
  });

  it('deterministic: a rebuild writes the same bytes, the same as quantizing on the photos the file was measured on', async () => {
    const first = await readFile(v2());
    expect((await prepareInt8(dir(), 'small', logger, true)).state).toBe('built');
    expect(Buffer.compare(await readFile(v2()), first)).toBe(0);
    const fromPhotos = await loadModel(join(dir(), '1', 'model.onnx'));
    await quantizeModel(fromPhotos, await photoSource(FIXTURES, (await entry()).config.preprocess), DEFAULT_QUANTIZE_OPTIONS);
    expect(Buffer.compare(Buffer.from(encodeModel(fromPhotos)), first)).toBe(0);
  });

  it('a changed calibration file rebuilds it', async () => {
    const before = await readFile(v2());
    const [name, [lo, hi]] = Object.entries(file.ranges).find(([, [a, b]]) => b > a) as [string, [number, number]];
    await writeCalibrationFile(join(dir(), CALIBRATION_FILE), { ...file, ranges: { ...file.ranges, [name]: [lo, hi * 2] } });
    expect((await prepareInt8(dir(), 'small', logger)).state).toBe('built');
    expect(Buffer.compare(await readFile(v2()), before)).not.toBe(0);
    decodeModel(await readFile(v2())); // still a model
    await writeCalibrationFile(join(dir(), CALIBRATION_FILE), file);
  });

  it('a file measured on another version 1 or by another quantizer is refused, with the reason', async () => {
    const other = join(root, 'other', 'small');
    await cp(dir(), other, { recursive: true });
    await rm(join(other, '2'), { recursive: true });
    await writeFile(join(other, '1', 'model.onnx'), encodeModel(smallModel('Relu')));
    const changed = await prepareInt8(other, 'small', logger);
    expect(changed.state).toBe('stale-calibration');
    expect(changed.reason).toMatch(/model\.onnx differs from the one it was measured on/);
    await writeCalibrationFile(join(other, CALIBRATION_FILE), { ...file, generator: 'quantize/0' });
    expect((await prepareInt8(other, 'small', logger)).reason).toMatch(/measured by quantize\/0, this quantizer is quantize\/3/);
    await writeFile(join(other, CALIBRATION_FILE), '{"schema": "nope"}');
    expect((await prepareInt8(other, 'small', logger)).reason).toMatch(/not a calibration file/);
    expect(existsSync(join(other, '2'))).toBe(false);
  });

  it('without a fitting file: kept while its FP32 source is the same, removed once version 1 changed', async () => {
    await rm(join(dir(), CALIBRATION_FILE));
    expect((await prepareInt8(dir(), 'small', logger)).state).toBe('current');
    await writeFile(join(dir(), '1', '.generator'), 'small/2\n');
    expect((await prepareInt8(dir(), 'small', logger)).state).toBe('removed-stale');
    expect(existsSync(join(dir(), '2'))).toBe(false);
  });
});

describe('prepareBundledModels without a calibration file', () => {
  it('says so, names the command that measures it, and builds no version 2', async () => {
    const models = join(root, 'bundled');
    await mkdir(join(models, 'moderation'), { recursive: true });
    for (const f of ['config.json', 'labels.txt', '1']) await cp(join(ROOT, 'models', 'moderation', f), join(models, 'moderation', f), { recursive: true });
    const lines: string[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    await prepareBundledModels(models, capture, { only: ['moderation'] });
    expect(existsSync(join(models, 'moderation', '2'))).toBe(false);
    expect(lines.join('')).toContain('INT8 version 2 of moderation not built');
    expect(lines.join('')).toContain(`--write-calibration models/moderation/${CALIBRATION_FILE}`);
  });
});
