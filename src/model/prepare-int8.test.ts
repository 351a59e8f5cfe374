// models prepare's INT8 step on a small repository model: built only from the photo set,
// kept while current, rebuilt or removed when its FP32 source changes; and the message
// when the photos are absent.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { encodeModel } from '../onnx/proto.js';
import { prepareInt8 } from './prepare-int8.js';
import { prepareBundledModels } from './prepare.js';
import { loadRepository } from './repository/repository.js';
import { smallModel } from '../../test/helpers/quantize-graphs.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/images', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let root: string;
let photos: string;
const logger = createLogger('silent');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmserve-int8-'));
  const dir = join(root, 'models', 'small');
  await mkdir(join(dir, '1'), { recursive: true });
  await writeFile(join(dir, '1', 'model.onnx'), encodeModel(smallModel()));
  await writeFile(join(dir, '1', '.generator'), 'small/1\n');
  await writeFile(join(dir, 'labels.txt'), 'a\nb\nc\n');
  const config = {
    defaultVersion: '1',
    outputName: 'fc',
    preprocess: { resize: 'fill', width: 8, height: 8, layout: 'NCHW', scale: 1 / 255 },
    postprocess: { softmax: true, topK: 3 },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  photos = join(root, 'photos');
  await mkdir(join(photos, 'calibration'), { recursive: true });
  for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.jpg'))) await cp(join(FIXTURES, f), join(photos, 'calibration', f));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('prepareInt8', () => {
  const dir = (): string => join(root, 'models', 'small');

  it('builds nothing without the photo set (no manifest.json)', async () => {
    const outcome = await prepareInt8(dir(), 'small', photos, logger);
    expect(outcome.state).toBe('no-photos');
    expect(existsSync(join(dir(), '2'))).toBe(false);
  });

  it('with the photo set: builds version 2, stamped; the pinned default stays 1', async () => {
    await writeFile(join(photos, 'manifest.json'), '{}');
    const outcome = await prepareInt8(dir(), 'small', photos, logger);
    expect(outcome.state).toBe('built');
    const stamp = (await readFile(join(dir(), '2', '.generator'), 'utf8')).trim().split(' ');
    expect(stamp.slice(0, 2)).toEqual(['quantize/3', 'small/1']);
    const entry = (await loadRepository(join(root, 'models'))).models.get('small');
    expect(entry?.versions.map((v) => v.version)).toEqual(['1', '2']);
    expect(entry?.defaultVersion).toBe('1');
    expect((await prepareInt8(dir(), 'small', photos, logger)).state).toBe('current');
  });

  it('a changed calibration set rebuilds it', async () => {
    await rm(join(photos, 'calibration', readdirSync(join(photos, 'calibration'))[0] as string));
    expect((await prepareInt8(dir(), 'small', photos, logger)).state).toBe('built');
  });

  it('without photos: kept while its FP32 source is the same, removed once version 1 changed', async () => {
    const none = join(root, 'no-photos');
    expect((await prepareInt8(dir(), 'small', none, logger)).state).toBe('current');
    await writeFile(join(dir(), '1', '.generator'), 'small/2\n');
    expect((await prepareInt8(dir(), 'small', none, logger)).state).toBe('removed-stale');
    expect(existsSync(join(dir(), '2'))).toBe(false);
  });
});

describe('prepareBundledModels without photos', () => {
  it('says so, names the command, and builds no version 2', async () => {
    const models = join(root, 'bundled');
    await mkdir(join(models, 'moderation'), { recursive: true });
    for (const f of ['config.json', 'labels.txt', '1']) await cp(join(ROOT, 'models', 'moderation', f), join(models, 'moderation', f), { recursive: true });
    const lines: string[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    await prepareBundledModels(models, capture, { only: ['moderation'], photosDir: join(root, 'absent') });
    expect(existsSync(join(models, 'moderation', '2'))).toBe(false);
    expect(lines.join('')).toContain('INT8 version 2 of moderation not built');
    expect(lines.join('')).toContain('npm run photos');
  });
});
