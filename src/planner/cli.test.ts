import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSize } from '../cli/plan-command.js';
import { ServeError } from '../common/errors.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { planReportSchema, type PlanReport } from './contract.js';
import { plan } from '../../test/helpers/plan-cli.js';
import { writeTinyModel } from '../../test/helpers/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'swarmserve-plan-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modelFile(name: string, build: (g: GraphBuilder) => void): string {
  const g = new GraphBuilder(name);
  build(g);
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, g.toBytes());
  return path;
}

const cnn = modelFile('cnn', (g) => {
  const x = g.input('x', ['N', 3, 32, 32]);
  const c = g.node('Relu', [
    g.node('Conv', [x, g.floatTensor('w', [16, 3, 3, 3], new Float32Array(432).fill(0.1))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
  ]);
  const f = g.node('Flatten', [g.node('GlobalAveragePool', [c])], { axis: 1 });
  g.output(g.node('Gemm', [f, g.floatTensor('fc', [10, 16], new Float32Array(160).fill(0.1))], { transB: 1 }), ['N', 10]);
});

const unknown = modelFile('unknown', (g) => {
  const x = g.input('x', ['N', 4]);
  g.output(g.node('Relu', [g.node('Mystery', [x])]), ['N', 4]);
});

describe('swarmserve plan', () => {
  it('--format json: a report that matches the documented schema', async () => {
    const { stdout } = await plan([cnn, '--format', 'json', '--node-cpus', '4', '--node-memory', '8G']);
    const report: PlanReport = planReportSchema.parse(JSON.parse(stdout));
    expect(report.complete).toBe(true);
    // conv 16·3·9 = 432, fc 160 (no biases)
    expect(report.totals.parameters).toBe(592);
    expect(report.totals.macsPerImage).toBe(16 * 32 * 32 * 27 + 160);
    expect(report.batches.map((b) => b.batch)).toEqual([1, 8, 32]);
    expect(report.batches.every((b) => b.memory.totalBytes > report.calibration.baselineBytes)).toBe(true);
    expect(report.recommendation?.replicasPerNode).toBe(4);
    expect(report.measurements).toBeNull();
    expect(report.layers.map((l) => l.op)).toEqual(['Conv', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm']);
  });

  it("table: layers, totals, the sizing article's formula and the recommendation", async () => {
    const { stdout } = await plan([cnn, '--node-cpus', '2', '--node-memory', '4G', '--batch', '1,4']);
    expect(stdout).toMatch(/^Layers \(per image\)$/m);
    expect(stdout).toMatch(/^ {2}parameters {8}592$/m);
    expect(stdout).toMatch(/sizing article's formula /);
    expect(stdout).toMatch(/^Recommendation$/m);
    const noLayers = await plan([cnn, '--no-layers', '--batch', '1']);
    expect(noLayers.stdout).not.toMatch(/^Layers/m);
  });

  it('names unknown operators; no compose snippet for an incomplete analysis', async () => {
    const { stdout, stderr } = await plan([unknown, '--no-layers']);
    expect(stdout).toMatch(/unknown operator Mystery: 1 node\(s\): mystery_node/);
    expect(stderr).toMatch(/incomplete analysis \(unknown operator Mystery\)/);
    await expect(plan([unknown, '--format', 'compose'])).rejects.toMatchObject({ code: 'BAD_PARAMETER' });
  });

  it('takes its options from env vars too, and refuses bad values', async () => {
    process.env.SWARMSERVE_PLAN_FORMAT = 'json';
    process.env.SWARMSERVE_PLAN_BATCH = '2';
    try {
      const report = planReportSchema.parse(JSON.parse((await plan([cnn])).stdout));
      expect(report.batches.map((b) => b.batch)).toEqual([2]);
    } finally {
      delete process.env.SWARMSERVE_PLAN_FORMAT;
      delete process.env.SWARMSERVE_PLAN_BATCH;
    }
    await expect(plan([cnn, '--batch', '0,8'])).rejects.toMatchObject({ code: 'USAGE' });
    await expect(plan([cnn, '--node-memory', 'lots'])).rejects.toThrow(/not a memory size/);
    await expect(plan(['no-such-model'])).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    // a version the repository model does not have (e.g. the INT8 version 2 before `models quantize`)
    const repo = join(dir, 'models');
    await writeTinyModel(repo, { name: 'tiny', classes: 3 });
    await expect(plan(['tiny', '-m', repo, '--model-version', '99'])).rejects.toMatchObject({
      code: 'VERSION_NOT_FOUND',
      message: expect.stringMatching(/no version 99 \(versions: 1/) as unknown,
    });
    await expect(plan([])).rejects.toBeInstanceOf(ServeError);
  });

  it('--json-schema prints the JSON Schema of the report', async () => {
    const schema = JSON.parse((await plan(['--json-schema'])).stdout) as { $schema: string; properties: Record<string, unknown> };
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(Object.keys(schema.properties)).toContain('recommendation');
  });

  it('parses memory sizes with binary units', () => {
    expect(parseSize('16G')).toBe(16 * 2 ** 30);
    expect(parseSize('512M')).toBe(512 * 2 ** 20);
    expect(parseSize('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseSize('1048576')).toBe(2 ** 20);
    expect(parseSize('16 gb')).toBe(16 * 2 ** 30);
    expect(parseSize('x')).toBeUndefined();
  });
});
