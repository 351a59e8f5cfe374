// `swarmserve plan` on the INT8 resnet50 (version 2, made by `swarmserve models quantize` on
// the calibration photos): the analysis counts int8 parameters and MACs, and --measure finds
// the memory estimate within ±25 %. Without .cache/photos the test is skipped with a
// message, except under CI=true, where the photos (and so version 2) must exist.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../config/paths.js';
import { analyzeGraph, inferAt } from './analyze.js';
import { planReportSchema, type PlanReport } from './contract.js';
import { readOnnxGraph } from '../onnx/read-graph.js';
import { fuseQdq } from './qdq-fusion.js';

const ROOT = packageRoot();
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PHOTOS = join(ROOT, '.cache', 'photos', 'calibration');
const INT8 = join(ROOT, 'models', 'resnet50', '2', 'model.onnx');
const FP32 = join(ROOT, 'models', 'resnet50', '1', 'model.onnx');
const required = process.env.CI === 'true';
const available = existsSync(INT8) || existsSync(PHOTOS);

if (!available && !required)
  console.warn(`int8-measure: neither ${INT8} nor ${PHOTOS} exists (npm run photos), skipping the INT8 resnet50 measurement (it runs under CI=true)`);

function cli(args: string[], timeout: number): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout, maxBuffer: 64 * 2 ** 20 });
  if (run.status !== 0) throw new Error(`swarmserve ${args.join(' ')} exited ${run.status ?? run.signal}:\n${run.stderr}`);
  return run.stdout;
}

describe.skipIf(!available && !required)('swarmserve plan on the INT8 resnet50', () => {
  let report: PlanReport;

  beforeAll(() => {
    if (!existsSync(CLI) || !existsSync(FP32)) throw new Error('run "npm run build && node dist/src/cli/main.js models prepare" first');
    if (!existsSync(INT8)) {
      if (!existsSync(PHOTOS)) throw new Error(`${PHOTOS} is required under CI=true (npm run photos)`);
      cli(['models', 'quantize', 'resnet50', '--version', '1', '--calibration', PHOTOS, '--out-version', '2'], 180_000);
    }
    report = planReportSchema.parse(
      JSON.parse(
        cli(
          [
            'plan',
            'resnet50',
            '--model-version',
            '2',
            '--measure',
            '--measure-seconds',
            '0',
            '--batch',
            '1,8,32',
            '--threads',
            '1',
            '--format',
            'json',
            '--no-layers',
          ],
          240_000,
        ),
      ),
    );
  }, 420_000);

  it("counts the FP32 model's convolution and classifier weights as int8 parameters, and its MACs as int8 MACs", () => {
    const fp32 = analyzeGraph(readOnnxGraph(readFileSync(FP32), FP32));
    expect(report.model.version).toBe('2');
    expect(report.complete).toBe(true);
    // the int8 weights are exactly the FP32 Conv and Gemm weights; the int32 biases one per output channel
    // (BN folded into every convolution) and the classifier's bias
    const weighted = fp32.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm');
    const size = (name: string | undefined): number => fp32.graph.constants.get(name ?? '')?.elementCount ?? 0;
    expect(report.totals.parametersByPrecision.int8).toBe(weighted.reduce((a, n) => a + size(n.inputs[1]), 0));
    expect(report.totals.parametersByPrecision.int32).toBe(
      weighted.reduce((a, n) => a + (n.opType === 'Conv' ? (fp32.graph.constants.get(n.inputs[1] ?? '')?.dims[0] ?? 0) : size(n.inputs[2])), 0),
    );
    expect(report.totals.parametersByPrecision.float32 ?? 0).toBe(0);
    expect(report.totals.parameterBytes).toBe((report.totals.parametersByPrecision.int8 ?? 0) + 4 * (report.totals.parametersByPrecision.int32 ?? 0));
    expect(report.totals.macsByPrecision).toEqual({ int8: fp32.totals.macsPerImage });
    // per-channel scales and zero points are stored, not parameters: a few per output channel
    expect(report.totals.nonParameterValues).toBeLessThan(0.01 * report.totals.parameters);
  });

  it("the fused view has the kernels of onnxruntime's own optimized graph", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmserve-int8-test-'));
    try {
      const file = join(dir, 'optimized.onnx');
      await (await ort.InferenceSession.create(INT8, { graphOptimizationLevel: 'all', optimizedModelFilePath: file, intraOpNumThreads: 1 })).release();
      const count = (ops: string[]): Record<string, number> =>
        Object.fromEntries([...new Set(ops)].sort().map((op) => [op, ops.filter((o) => o === op).length]));
      const graph = readOnnxGraph(readFileSync(INT8), INT8);
      const ours = fuseQdq(graph, inferAt(graph, 1))?.inference.nodes.map((r) => (r.node.opType === 'MaxPool' ? 'NhwcMaxPool' : r.node.opType)) ?? [];
      expect(count(ours)).toEqual(count(readOnnxGraph(readFileSync(file), file).nodes.map((n) => n.opType)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--measure: memory within ±25 % at batch 1, 8 and 32', () => {
    const rows = (report.measurements ?? []).map((m) => ({
      batch: m.batch,
      estimateMiB: Math.round(m.estimated.totalBytes / 2 ** 20),
      measuredMiB: Math.round(m.measured.peakBytes / 2 ** 20),
      errorPct: Math.round(m.memoryErrorPct * 10) / 10,
    }));
    console.log(`INT8 resnet50, estimate against measurement: ${JSON.stringify(rows)}`);
    expect(rows.map((r) => r.batch)).toEqual([1, 8, 32]);
    for (const r of rows) expect(Math.abs(r.errorPct), `batch ${r.batch}`).toBeLessThanOrEqual(25);
  });
});
