import { writeFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeRepository } from '../../../test/helpers/tiny-model.js';
import { loadRepository } from './repository.js';

let repo: Awaited<ReturnType<typeof makeRepository>>;
beforeEach(async () => {
  repo = await makeRepository([{ name: 'tiny', classes: 3 }]);
});
afterEach(async () => repo.cleanup());

async function writeConfig(config: unknown): Promise<string> {
  const path = join(repo.root, 'tiny', 'config.json');
  await writeFile(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

const valid = { preprocess: { width: 32, height: 32, layout: 'NCHW' }, postprocess: { softmax: true, topK: 3 } };

describe('model repository', () => {
  it('loads configs with defaults, labels and versions', async () => {
    await mkdir(join(repo.root, 'tiny', '7'));
    await writeFile(join(repo.root, 'tiny', '7', 'model.onnx'), 'x');
    const entry = (await loadRepository(repo.root)).models.get('tiny')!;
    expect(entry.labels).toEqual(['class-0', 'class-1', 'class-2']);
    expect(entry.versions.map((v) => v.version)).toEqual(['1', '7']);
    expect(entry.defaultVersion).toBe('7');
    expect(entry.config.batching.maxBatchSize).toBe(4);
  });

  it('names the file and the field of an invalid config', async () => {
    const path = await writeConfig({ ...valid, preprocess: { width: -1, height: 32, layout: 'CHW' } });
    const err = (await loadRepository(repo.root).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/preprocess\.width/);
    expect(err.message).toMatch(/preprocess\.layout/);
  });

  it('rejects unknown fields (typos do not pass silently)', async () => {
    await writeConfig({ ...valid, batching: { maxBatchSzie: 8 } });
    await expect(loadRepository(repo.root)).rejects.toThrow(/batching.*maxBatchSzie|Unrecognized key/);
  });

  it('reports bad JSON, missing labels, topK over the label count, and a missing version', async () => {
    await writeConfig('{ not json');
    await expect(loadRepository(repo.root)).rejects.toThrow(/config\.json is not valid JSON/);
    await writeConfig({ ...valid, postprocess: { softmax: true, topK: 3, labels: 'missing.txt' } });
    await expect(loadRepository(repo.root)).rejects.toThrow(/postprocess\.labels: cannot read/);
    await writeConfig({ ...valid, postprocess: { softmax: true, topK: 9 } });
    await expect(loadRepository(repo.root)).rejects.toThrow(/topK \(9\) exceeds the 3 labels/);
    await writeConfig(valid);
    await rm(join(repo.root, 'tiny', '1'), { recursive: true });
    await expect(loadRepository(repo.root)).rejects.toThrow(/has no version/);
  });

  it('takes batching.executeDelayMs (a test double) as a whole number of ms in 0..60000', async () => {
    await writeConfig({ ...valid, batching: { maxBatchSize: 1, executeDelayMs: 100 } });
    expect((await loadRepository(repo.root)).models.get('tiny')!.config.batching.executeDelayMs).toBe(100);
    await writeConfig(valid);
    expect((await loadRepository(repo.root)).models.get('tiny')!.config.batching.executeDelayMs).toBeUndefined();
    for (const bad of [-1, 60_001, 2.5, '100']) {
      await writeConfig({ ...valid, batching: { executeDelayMs: bad } });
      await expect(loadRepository(repo.root)).rejects.toThrow(/batching\.executeDelayMs/);
    }
  });

  it('reports a model asked for that is not there', async () => {
    await expect(loadRepository(repo.root, ['tiny', 'ghost'])).rejects.toThrow(/"ghost" has no config\.json/);
  });
});
