import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { leastSquares } from './calibrate.js';
import { CALIBRATION_MODELS } from './calibration-models.js';
import { BUILT_IN_CALIBRATION } from './calibration.js';
import { planReportSchema } from './contract.js';
import { median, percentile, runChild } from './measure.js';
import { peakRssBytes } from './measure-child.js';
import { mallocTuningAvailable } from '../runtime/allocator.js';
import { buildPlan } from './plan.js';

const dir = mkdtempSync(join(tmpdir(), 'swarmserve-measure-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const g = new GraphBuilder('small');
const x = g.input('x', ['N', 3, 64, 64]);
const c = g.node('Relu', [
  g.node('Conv', [x, g.floatTensor('w', [32, 3, 3, 3], new Float32Array(864).fill(0.05))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
]);
g.output(g.node('Flatten', [g.node('GlobalAveragePool', [c])], { axis: 1 }), ['N', 32]);
const model = join(dir, 'small.onnx');
writeFileSync(model, g.toBytes());

describe('measuring in a fresh worker-like process', () => {
  it('reports the baseline, the load, the peak and the latencies', async () => {
    const r = await runChild({ model, batch: 4, threads: 1, minRuns: 3, seconds: 0 });
    expect(r.latenciesMs).toHaveLength(3);
    expect(r.baselinePeakBytes).toBeGreaterThan(30 * 2 ** 20);
    expect(r.loadPeakBytes).toBeGreaterThanOrEqual(r.baselinePeakBytes);
    expect(r.peakBytes).toBeGreaterThanOrEqual(r.loadPeakBytes);
    expect(r.inputBufferBytes).toBe(2 * 4 * 3 * 64 * 64 * 4);
  });

  it("applies the worker's malloc tuning, or not when asked", async () => {
    expect((await runChild({ model, batch: 1, threads: 1, minRuns: 1, seconds: 0 })).mallocTuned).toBe(mallocTuningAvailable());
    expect((await runChild({ model, batch: 1, threads: 1, minRuns: 1, seconds: 0, mallocTuning: false })).mallocTuned).toBe(false);
  });

  it("reports the child's own peak, not its parent's RSS (getrusage's maxRSS inherits it at fork)", async () => {
    const ballast = Buffer.alloc(400 * 2 ** 20, 1); // this process's RSS grows by 400 MiB
    const r = await runChild({ model, batch: 1, threads: 1, minRuns: 1, seconds: 0 });
    expect(ballast[ballast.length - 1]).toBe(1);
    expect(r.peakBytes).toBeLessThan(300 * 2 ** 20);
    expect(r.baselinePeakBytes).toBeLessThan(300 * 2 ** 20);
  });

  it.runIf(mallocTuningAvailable())('with the malloc tuning, loaded weights cost about their size; without it, several times more', async () => {
    // three 512×512×3×3 convolutions + BN: 27 MiB of weights that onnxruntime folds and reorders
    const big = join(dir, 'big.onnx');
    writeFileSync(
      big,
      CALIBRATION_MODELS.find((m) => m.name === 'cal-big-conv-3')
        ?.build()
        .toBytes() ?? new Uint8Array(),
    );
    const weights = 3 * 512 * 512 * 9 * 4;
    const tuned = await runChild({ model: big, batch: 1, threads: 1, minRuns: 1, seconds: 0 });
    const untuned = await runChild({ model: big, batch: 1, threads: 1, minRuns: 1, seconds: 0, mallocTuning: false });
    expect((tuned.afterLoadRssBytes - tuned.baselineRssBytes) / weights).toBeLessThan(1.3);
    expect((untuned.afterLoadRssBytes - untuned.baselineRssBytes) / weights).toBeGreaterThan(2);
  });

  it('reads the peak from VmHWM', () => {
    expect(peakRssBytes('Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t   40400 kB\nVmRSS:\t 30000 kB\n')).toBe(40400 * 1024);
    expect(peakRssBytes(undefined)).toBeGreaterThan(0);
  });

  it('plan --measure: estimate, measurement and error side by side, per batch size', async () => {
    const { report } = await buildPlan({
      model: { source: model, file: model, name: null, version: null, entry: null },
      batches: [1, 4],
      calibration: BUILT_IN_CALIBRATION,
      recommend: { nodeCpus: 2, nodeMemoryBytes: 4 * 2 ** 30 },
      measure: { seconds: 0, minRuns: 3 },
    });
    planReportSchema.parse(report);
    expect(report.measurements?.map((m) => [m.batch, m.threads, m.runs])).toEqual([
      [1, 1, 3],
      [4, 1, 3],
    ]);
    for (const m of report.measurements ?? []) {
      expect(m.memoryErrorPct).toBeCloseTo(((m.estimated.totalBytes - m.measured.peakBytes) / m.measured.peakBytes) * 100, 6);
      // a small model: the worker process itself dominates, and the estimate is close
      expect(Math.abs(m.memoryErrorPct)).toBeLessThan(25);
    }
  });
});

describe('helpers', () => {
  it('least squares, median, percentile', () => {
    const fit = leastSquares(
      [
        [1, 2],
        [1, 3],
        [1, 5],
      ],
      [8, 11, 17],
    );
    expect(fit?.[0]).toBeCloseTo(2);
    expect(fit?.[1]).toBeCloseTo(3);
    expect(
      leastSquares(
        [
          [1, 1],
          [2, 2],
        ],
        [1, 2],
      ),
    ).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  });
});
