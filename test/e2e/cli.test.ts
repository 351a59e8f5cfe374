import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nsfwjsModelDir } from '../../src/model/prepare.js';
import { CLI, ensureBuilt } from '../helpers/process.js';

const run = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let scratch: string;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), 'swarmserve-cli-'));
});
afterAll(async () => rm(scratch, { recursive: true, force: true }));

describe('swarmserve CLI', () => {
  it('health: exit 0 on a 2xx answer, 1 on an error status or no answer (container HEALTHCHECK)', async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/health/live' ? 200 : req.url === '/hang' ? 200 : 503;
      if (req.url === '/hang') return; // never answers
      res.end(JSON.stringify({ status: req.url }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const live = await run(['health', `${base}/health/live`]);
      expect(live.code).toBe(0);
      expect(live.stdout).toMatch(/HTTP 200/);
      const ready = await run(['health', `${base}/health/ready`]);
      expect(ready.code).toBe(1);
      expect(ready.stderr).toMatch(/HTTP 503/);
      const started = Date.now();
      const hung = await run(['health', '--timeout-ms', '500', `${base}/hang`]);
      expect(hung.code).toBe(1);
      // Given up after the 500 ms (and the CLI's start-up), instead of hanging for ever.
      expect(Date.now() - started).toBeLessThan(20_000);
      server.closeAllConnections();
      const closed = await run(['health', 'http://127.0.0.1:1/health/live']);
      expect(closed.code).toBe(1);
      expect(closed.stderr).toMatch(/ECONNREFUSED|connect/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a bad flag value fails fast with exit 2 (usage), a bad env value with 78 and a hint; the option named', async () => {
    const flag = await run(['serve', '--port', 'eighty']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/USAGE: --port: /);
    const env = await run(['serve'], { SWARMSERVE_MAX_PIXELS: '-5' });
    expect(env.code).toBe(78);
    expect(env.stderr).toMatch(/CONFIG_INVALID: SWARMSERVE_MAX_PIXELS: /);
    expect(env.stderr).toMatch(/hint: .*--help/);
  });

  it('an unreadable model repository is a clear start-up error', async () => {
    const res = await run(['serve', '--models', join(scratch, 'nope'), '--port', '0']);
    expect(res.code).toBe(78);
    expect(res.stderr).toMatch(/Model repository .*nope cannot be read/);
  });

  it('models list shows the bundled models and flags resnet50 as untrained', async () => {
    const res = await run(['models', 'list']);
    expect(res.code).toBe(0);
    // Version 2 (INT8) is there once models prepare ran (from the shipped calibration); version 1 stays the default.
    expect(res.stdout).toMatch(/^moderation\tversions 1(,2)? \(default 1\)\t5 labels\tNHWC 224×224/m);
    expect(res.stdout).toMatch(/^resnet50\t.*1000 labels\tNCHW 224×224.*untrained/m);
  });

  it('models import-tfjs converts the nsfwjs bundle; models build resnet50 reports 25,557,032 parameters', async () => {
    const onnx = join(scratch, 'mobilenet.onnx');
    const imported = await run(['models', 'import-tfjs', nsfwjsModelDir(), onnx]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/wrote .*mobilenet\.onnx: \d+ layers, input input \[N, 224, 224, 3\], output output \[N, 5\]/);
    expect((await stat(onnx)).size).toBeGreaterThan(5_000_000);
    const built = await run(['models', 'build', 'resnet50', '--out', join(scratch, 'r50.onnx'), '--seed', '7']);
    expect(built.code).toBe(0);
    expect(built.stdout).toContain('25,557,032 parameters');
    expect(built.stdout).toMatch(/untrained/);
    const unknown = await run(['models', 'build', 'vgg16']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown architecture "vgg16"/);
  });

  it('models quantize writes version 2 of moderation beside version 1, with a progress line; bad options are coded errors', async () => {
    const repo = join(scratch, 'models');
    await mkdir(join(repo, 'moderation', '1'), { recursive: true });
    for (const file of ['config.json', 'labels.txt', join('1', 'model.onnx')])
      await copyFile(join(ROOT, 'models', 'moderation', file), join(repo, 'moderation', file));
    const res = await run(['models', 'quantize', 'moderation', '-m', repo, '--calibration', join(ROOT, 'test', 'fixtures', 'images')]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/wrote .*moderation\/2\/model\.onnx \(version 2\): 52 BatchNormalization and 5 Pad folded into Conv/);
    expect(res.stderr).toContain('calibrating moderation: 5/5 photos');
    const list = await run(['models', 'list', '-m', repo]);
    expect(list.stdout).toMatch(/^moderation\tversions 1,2 \(default 1\)/m); // the config pins defaultVersion 1
    const again = await run([
      'models',
      'quantize',
      'moderation',
      '-m',
      repo,
      '--version',
      '1',
      '--out-version',
      '2',
      '--calibration',
      join(ROOT, 'test', 'fixtures', 'images'),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/BAD_PARAMETER: .*already exists/);
    const method = await run(['models', 'quantize', 'moderation', '-m', repo, '--version', '1', '--method', 'entropy', '--calibration', scratch]);
    expect(method.code).toBe(2);
    expect(method.stderr).toMatch(/USAGE: --method: must be one of minmax, percentile/);
    const calibration = join(scratch, 'calibration.json');
    const both = await run([
      'models',
      'quantize',
      'moderation',
      '-m',
      repo,
      '--calibration',
      scratch,
      '--write-calibration',
      calibration,
      '--out-version',
      '3',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/USAGE: --write-calibration writes no version/);
  });

  it('plan resnet50 --format json: exact parameters and ≈4.1 G MACs from the graph', async () => {
    const res = await run(['plan', 'resnet50', '--format', 'json', '--no-layers']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as { totals: { parameters: number; macsPerImage: number } };
    expect(report.totals.parameters).toBe(25_557_032);
    expect(Math.abs(report.totals.macsPerImage / 4.1e9 - 1)).toBeLessThan(0.03);
  });
});
