// `npm run bench:planner`: checks the capacity planner's estimates against measurements.
//
// 1. Calibrates the estimate constants on this machine, on the generated calibration models
//    only (src/planner/calibration-models.ts) — never on the models checked below.
// 2. For the bundled resnet50 and moderation models (FP32 version 1, and the INT8 version 2
//    `swarmserve models quantize` writes, when it exists): parameters and MACs from the graph, then
//    at batch 1, 8 and 32 the estimated worker memory and latency against a measurement in a
//    fresh worker-like process (session thread, warm-up at 1 and B, timed runs at B, peak RSS),
//    and what the seed document's per-layer formula would have said.
// 3. Prints the table with PASS/FAIL against the ±25 % memory target.
// 4. Measures the held-out generated models (VALIDATION_MODELS in
//    src/planner/calibration-models.ts: never used to fit a constant) the same way and prints
//    their errors in a second table, without a bound: how far the estimate generalises.
// 5. Prints the weights part alone (resident after load, load peak) against the measurement.
// 6. Refits the constants without each calibration model in turn and prints the range of the
//    bundled models' errors: the answer must not hinge on the choice of calibration models.
// 7. Measures the bundled models again without the worker's malloc tuning
//    (src/runtime/allocator.ts) and prints what the tuning saves.
// 8. Measures the bundled models at 2 intra-op threads (the estimate assumes 1; no bound).
// Writes everything to bench/results/planner-<ISO timestamp>.json (held-out rows under
// `heldOut`). Exit code 1 if a bundled model's memory error exceeds 25 %.
//
// BENCH_PLANNER_SECONDS shortens or lengthens the timed runs per batch size (default 5).
// BENCH_PLANNER_BUILT_IN=1 skips step 1 and uses the built-in constants.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledModelsDir, packageRoot } from '../src/config/paths.js';
import { analyzeGraph, type GraphAnalysis } from '../src/planner/analyze.js';
import { fitCalibration, measureCalibrationModels, type CalibrationMeasurements } from '../src/planner/calibrate.js';
import { VALIDATION_MODELS } from '../src/planner/calibration-models.js';
import { BUILT_IN_CALIBRATION } from '../src/planner/calibration.js';
import type { Calibration } from '../src/planner/contract.js';
import { Estimator } from '../src/planner/estimate.js';
import { fmtBytes, fmtCount, fmtSi } from '../src/planner/format.js';
import { errorPct, median, runChild } from '../src/planner/measure.js';
import { readOnnxGraph } from '../src/onnx/read-graph.js';

const MODELS = ['resnet50', 'moderation'] as const;
/** FP32 version 1 of each bundled model, and its INT8 version 2 when `swarmserve models quantize` has written it. */
const INT8_VERSION = '2';
const BATCHES = [1, 8, 32] as const;
const TARGET_PCT = 25;
const seconds = Number(process.env.BENCH_PLANNER_SECONDS ?? 5);

interface Row {
  model: string;
  batch: number;
  estimateBytes: number;
  measuredBytes: number;
  memoryErrorPct: number;
  modelOnlyErrorPct: number;
  parts: { baseline: number; weights: number; loadPeak: number; arena: number; queued: number };
  measuredParts: { baseline: number; baselineRss: number; afterLoad: number; loadPeak: number };
  /** Measured RSS after load − before, and load peak − baseline peak (the estimate's `weights` and `loadPeak`). */
  measuredWeights: number;
  measuredLoadPeak: number;
  seedFormulaBytes: number;
  seedFormulaErrorPct: number;
  latencyEstimateMs: number;
  latencyMeasuredMs: number;
  latencyErrorPct: number;
  imagesPerSecondEstimate: number;
  imagesPerSecondMeasured: number;
}

/** A version's file of a bundled model. */
const bundledFile = (name: string, version = '1'): string => join(bundledModelsDir(), name, version, 'model.onnx');

interface Bundled {
  /** 'resnet50', or 'resnet50-int8' for version 2. */
  label: string;
  file: string;
}

function bundledModels(): Bundled[] {
  const list: Bundled[] = MODELS.map((name) => ({ label: name, file: bundledFile(name) }));
  for (const name of MODELS) {
    const file = bundledFile(name, INT8_VERSION);
    if (existsSync(file)) list.push({ label: `${name}-int8`, file });
    else
      process.stdout.write(
        `   (no INT8 ${name}: ${file} is missing; "swarmserve models quantize ${name} --calibration .cache/photos/calibration --out-version ${INT8_VERSION}" writes it)\n`,
      );
  }
  return list;
}

const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;

/** Graph facts of a model, printed and recorded. */
function describeGraph(name: string, analysis: GraphAnalysis, graphFacts: Record<string, unknown>): void {
  const t = analysis.totals;
  graphFacts[name] = {
    parameters: t.parameters,
    parametersByPrecision: t.parametersByPrecision,
    storedValues: t.storedValues,
    macsPerImage: t.macsPerImage,
    macsByPrecision: t.macsByPrecision,
    weightBytes: t.weightBytes,
    seedFormulaBytes: analysis.seedFormula.bytes,
  };
  const split = (x: Readonly<Record<string, number>>, fmt: (n: number) => string): string =>
    Object.entries(x)
      .map(([type, n]) => `${type} ${fmt(n)}`)
      .join(', ');
  process.stdout.write(
    `   ${name}: ${fmtCount(t.parameters)} parameters (${split(t.parametersByPrecision, fmtCount)}), ${fmtCount(t.storedValues)} stored values, ${fmtSi(t.macsPerImage)} MACs per image (${split(t.macsByPrecision, fmtSi)}), ${fmtBytes(t.weightBytes)} of weights\n`,
  );
}

/** Estimates a model at each batch size and measures it in a fresh worker-like process per batch size. */
async function measureModel(name: string, file: string, analysis: GraphAnalysis, calibration: Calibration, batches: readonly number[]): Promise<Row[]> {
  const rows: Row[] = [];
  const estimator = new Estimator(analysis, calibration);
  for (const batch of batches) {
    const est = estimator.memory(batch);
    const r = await runChild({ model: file, batch, threads: 1, minRuns: 3, seconds, maxRuns: 50 });
    const lat = estimator.latencyMs(batch, 1);
    const measuredLat = median(r.latenciesMs);
    rows.push({
      model: name,
      batch,
      estimateBytes: est.totalBytes,
      measuredBytes: r.peakBytes,
      memoryErrorPct: errorPct(est.totalBytes, r.peakBytes),
      modelOnlyErrorPct: errorPct(est.totalBytes - est.baselineBytes, r.peakBytes - r.baselinePeakBytes),
      parts: { baseline: est.baselineBytes, weights: est.weightsBytes, loadPeak: est.loadPeakBytes, arena: est.arenaBytes, queued: est.queuedInputBytes },
      measuredParts: { baseline: r.baselinePeakBytes, baselineRss: r.baselineRssBytes, afterLoad: r.afterLoadRssBytes, loadPeak: r.loadPeakBytes },
      measuredWeights: r.afterLoadRssBytes - r.baselineRssBytes,
      measuredLoadPeak: r.loadPeakBytes - r.baselinePeakBytes,
      seedFormulaBytes: analysis.seedFormula.bytes,
      seedFormulaErrorPct: errorPct(analysis.seedFormula.bytes, r.peakBytes),
      latencyEstimateMs: lat,
      latencyMeasuredMs: measuredLat,
      latencyErrorPct: errorPct(lat, measuredLat),
      imagesPerSecondEstimate: (batch * 1000) / lat,
      imagesPerSecondMeasured: (batch * 1000) / measuredLat,
    });
    process.stdout.write(`   measured ${name} batch ${batch}: ${r.latenciesMs.length} runs\n`);
  }
  return rows;
}

function printTable(header: string[], cells: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  for (const line of [header, widths.map((w) => '-'.repeat(w)), ...cells])
    process.stdout.write(`   ${line.map((c, i) => (i < 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  process.stdout.write(
    `planner benchmark: load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on this machine disturbs latencies more than memory)\n\n`,
  );
  let calibration: Calibration;
  let measured: CalibrationMeasurements | undefined;
  if (process.env.BENCH_PLANNER_BUILT_IN === '1') {
    calibration = BUILT_IN_CALIBRATION;
  } else {
    process.stdout.write('1. calibrating on generated models (cal-*), never on the models below…\n');
    measured = await measureCalibrationModels({ log: (l) => process.stdout.write(`   ${l}\n`) });
    calibration = fitCalibration(measured.analyses, measured.points, measured.base);
  }
  process.stdout.write(
    `   constants: baseline ${fmtBytes(calibration.baselineBytes)}, session ${fmtBytes(calibration.sessionBytes)}, small tensors ×${calibration.smallTensorFactor.toFixed(2)} (×${calibration.smallLoadFactor.toFixed(2)} while loading), load copies ${calibration.loadCopies.toFixed(2)} × rewritten + ${calibration.rewriteCopies.toFixed(2)} × largest, prepack + ${calibration.prepackCopies.toFixed(2)} × largest FC, arena ×${calibration.arenaFactor.toFixed(3)}, ${(calibration.denseMacsPerSecond / 1e9).toFixed(1)} G dense / ${(calibration.groupedMacsPerSecond / 1e9).toFixed(2)} G grouped MACs/s per thread (int8: ${((calibration.int8DenseMacsPerSecond ?? 0) / 1e9).toFixed(1)} G / ${((calibration.int8GroupedMacsPerSecond ?? 0) / 1e9).toFixed(2)} G), parallel efficiency ${calibration.parallelEfficiency.toFixed(2)} (load-time mmap threshold ${fmtBytes(calibration.mmapThresholdBytes)})\n`,
  );
  process.stdout.write(`   fit on the calibration models: memory ${calibration.fits.map((f) => pct(f.memoryErrorPct)).join(' ')}\n`);
  for (const w of calibration.warnings) process.stdout.write(`   WARNING: ${w}\n`);
  process.stdout.write('\n');

  const rows: Row[] = [];
  const graphFacts: Record<string, unknown> = {};
  const bundled = new Map<string, GraphAnalysis>();
  process.stdout.write('2. the bundled models (FP32, and INT8 when quantized)\n');
  const models = bundledModels();
  for (const { label, file } of models) {
    const analysis = analyzeGraph(readOnnxGraph(readFileSync(file), file));
    bundled.set(label, analysis);
    describeGraph(label, analysis, graphFacts);
    rows.push(...(await measureModel(label, file, analysis, calibration, BATCHES)));
  }

  process.stdout.write('\n3. estimate against measurement (worker RSS peak; latency and images/s at 1 thread)\n');
  const header = [
    'model',
    'batch',
    'estimate',
    'measured',
    'error',
    'model-only',
    `±${TARGET_PCT}%`,
    'seed formula',
    'seed error',
    'latency est.',
    'measured',
    'error',
    'img/s est.',
    'measured',
  ];
  const cells = rows.map((r) => [
    r.model,
    String(r.batch),
    fmtBytes(r.estimateBytes),
    fmtBytes(r.measuredBytes),
    pct(r.memoryErrorPct),
    pct(r.modelOnlyErrorPct),
    Math.abs(r.memoryErrorPct) <= TARGET_PCT ? 'PASS' : 'FAIL',
    fmtBytes(r.seedFormulaBytes),
    pct(r.seedFormulaErrorPct),
    `${r.latencyEstimateMs.toFixed(0)} ms`,
    `${r.latencyMeasuredMs.toFixed(0)} ms`,
    pct(r.latencyErrorPct),
    r.imagesPerSecondEstimate.toFixed(1),
    r.imagesPerSecondMeasured.toFixed(1),
  ]);
  printTable(header, cells);
  const failed = rows.filter((r) => Math.abs(r.memoryErrorPct) > TARGET_PCT);
  process.stdout.write(
    `\n   memory: ${failed.length === 0 ? `every estimate within ±${TARGET_PCT}%` : `${failed.length} estimate(s) outside ±${TARGET_PCT}%`}; throughput has no target yet (errors reported above)\n`,
  );

  process.stdout.write('\n4. held-out generated models (not calibrated on)\n');
  process.stdout.write(
    '   held out = generated like the calibration models but never used to fit any constant: their errors show how far the estimate generalises (no bound)\n',
  );
  const heldOut: Row[] = [];
  const heldOutFacts: Record<string, unknown> = {};
  const tmp = mkdtempSync(join(tmpdir(), 'swarmserve-bench-heldout-'));
  try {
    for (const m of VALIDATION_MODELS) {
      const bytes = m.build().toBytes();
      const file = join(tmp, `${m.name}.onnx`);
      writeFileSync(file, bytes);
      const analysis = analyzeGraph(readOnnxGraph(bytes, m.name));
      describeGraph(`${m.name} (${m.describe})`, analysis, heldOutFacts);
      heldOut.push(...(await measureModel(m.name, file, analysis, calibration, m.batches)));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write('\n   held-out generated models (not calibrated on)\n');
  printTable(
    ['model', 'batch', 'estimate', 'measured', 'error', 'model-only', 'latency est.', 'measured', 'error'],
    heldOut.map((r) => [
      r.model,
      String(r.batch),
      fmtBytes(r.estimateBytes),
      fmtBytes(r.measuredBytes),
      pct(r.memoryErrorPct),
      pct(r.modelOnlyErrorPct),
      `${r.latencyEstimateMs.toFixed(0)} ms`,
      `${r.latencyMeasuredMs.toFixed(0)} ms`,
      pct(r.latencyErrorPct),
    ]),
  );

  process.stdout.write('\n5. the weights part alone (bundled and held-out): resident after load, and the load peak, above the baseline\n');
  const byModel = [...rows, ...heldOut].filter((r, i, all) => all.findIndex((x) => x.model === r.model) === i);
  printTable(
    ['model', 'weights est.', 'measured', 'error', 'load peak est.', 'measured', 'error'],
    byModel.map((r) => [
      r.model,
      fmtBytes(r.parts.weights),
      fmtBytes(r.measuredWeights),
      pct(errorPct(r.parts.weights, r.measuredWeights)),
      fmtBytes(r.parts.loadPeak),
      fmtBytes(r.measuredLoadPeak),
      pct(errorPct(r.parts.loadPeak, r.measuredLoadPeak)),
    ]),
  );

  // Does the answer depend on which generated models were in the calibration set? Refit
  // without each one in turn and re-estimate the bundled models.
  const sensitivity: Array<{ model: string; batch: number; minErrorPct: number; maxErrorPct: number; minWithout: string; maxWithout: string }> = [];
  if (measured !== undefined) {
    const m = measured;
    process.stdout.write(
      "\n6. calibration-set sensitivity: the bundled models' memory error when the constants are refitted without each calibration model in turn\n",
    );
    const names = [...new Set(m.points.map((p) => p.model))];
    const refits = names.map((left) => ({
      left,
      calibration: fitCalibration(
        m.analyses,
        m.points.filter((p) => p.model !== left),
        m.base,
      ),
    }));
    for (const r of rows) {
      const errors = refits.map(({ left, calibration: c }) => ({
        left,
        error: errorPct(new Estimator(bundled.get(r.model) as GraphAnalysis, c).memory(r.batch).totalBytes, r.measuredBytes),
      }));
      const lo = errors.reduce((a, b) => (b.error < a.error ? b : a));
      const hi = errors.reduce((a, b) => (b.error > a.error ? b : a));
      sensitivity.push({ model: r.model, batch: r.batch, minErrorPct: lo.error, maxErrorPct: hi.error, minWithout: lo.left, maxWithout: hi.left });
    }
    printTable(
      ['model', 'batch', 'error (all)', 'lowest', 'without', 'highest', 'without'],
      sensitivity.map((x) => {
        const r = rows.find((y) => y.model === x.model && y.batch === x.batch) as Row;
        return [x.model, String(x.batch), pct(r.memoryErrorPct), pct(x.minErrorPct), x.minWithout, pct(x.maxErrorPct), x.maxWithout];
      }),
    );
  }

  process.stdout.write(
    "\n7. what the worker's malloc tuning (src/runtime/allocator.ts) saves: the bundled models measured again without it (--no-malloc-tuning)\n",
  );
  const allocator: Array<{
    model: string;
    batch: number;
    tunedBytes: number;
    defaultBytes: number;
    defaultAfterLoadBytes: number;
    tunedAfterLoadBytes: number;
  }> = [];
  const fileOf = (label: string): string => models.find((m) => m.label === label)?.file ?? bundledFile(label);
  for (const r of rows) {
    const file = fileOf(r.model);
    const d = await runChild({ model: file, batch: r.batch, threads: 1, minRuns: 3, seconds: 1, maxRuns: 10, mallocTuning: false });
    allocator.push({
      model: r.model,
      batch: r.batch,
      tunedBytes: r.measuredBytes,
      defaultBytes: d.peakBytes,
      tunedAfterLoadBytes: r.measuredWeights,
      defaultAfterLoadBytes: d.afterLoadRssBytes - d.baselineRssBytes,
    });
  }
  printTable(
    ['model', 'batch', 'peak, tuned', 'untuned', 'saved', 'weights after load, tuned', 'untuned'],
    allocator.map((a) => [
      a.model,
      String(a.batch),
      fmtBytes(a.tunedBytes),
      fmtBytes(a.defaultBytes),
      `${fmtBytes(a.defaultBytes - a.tunedBytes)} (${((1 - a.tunedBytes / a.defaultBytes) * 100).toFixed(0)}%)`,
      fmtBytes(a.tunedAfterLoadBytes),
      fmtBytes(a.defaultAfterLoadBytes),
    ]),
  );

  process.stdout.write('\n8. more intra-op threads (the estimate assumes 1): the bundled models at batch 8 on 2 threads\n');
  const twoThreads: Array<{ model: string; batch: number; estimateBytes: number; measuredBytes: number; errorPct: number }> = [];
  for (const { label: name, file } of models) {
    const r = await runChild({ model: file, batch: 8, threads: 2, minRuns: 3, seconds: 1, maxRuns: 10 });
    const estimateBytes = new Estimator(bundled.get(name) as GraphAnalysis, calibration).memory(8).totalBytes;
    twoThreads.push({ model: name, batch: 8, estimateBytes, measuredBytes: r.peakBytes, errorPct: errorPct(estimateBytes, r.peakBytes) });
  }
  printTable(
    ['model', 'batch', 'estimate', 'measured (2 threads)', 'error'],
    twoThreads.map((t) => [t.model, String(t.batch), fmtBytes(t.estimateBytes), fmtBytes(t.measuredBytes), pct(t.errorPct)]),
  );

  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `planner-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ targetPct: TARGET_PCT, seconds, loadavg: loadavg(), calibration, graphFacts, rows, sensitivity, allocator, twoThreads, heldOut: { note: 'generated models never used to fit any constant (VALIDATION_MODELS); no bound', graphFacts: heldOutFacts, rows: heldOut }, durationS: (Date.now() - started) / 1000 }, null, 2)}\n`,
  );
  process.stdout.write(`   written to ${out} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  if (failed.length > 0) process.exitCode = 1;
}

await main();
