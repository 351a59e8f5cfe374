import { describe, expect, it } from 'vitest';
import { analyzeGraph, type GraphAnalysis } from './analyze.js';
import { fitCalibration, type CalibrationPoint } from './calibrate.js';
import { INT8_CALIBRATION_MODELS, buildInt8Model } from './calibration-int8.js';
import { CALIBRATION_MODELS } from './calibration-models.js';
import { BUILT_IN_CALIBRATION } from './calibration.js';
import type { Calibration } from './contract.js';
import { Estimator } from './estimate.js';
import { readOnnxGraph } from '../onnx/read-graph.js';

const MiB = 2 ** 20;

describe('fitCalibration', () => {
  it('recovers the constants that generated the measurements', () => {
    const truth: Calibration = {
      ...BUILT_IN_CALIBRATION,
      baselineBytes: 90 * MiB,
      sessionBytes: 2 * MiB,
      smallTensorFactor: 1.2,
      smallLoadFactor: 3.5,
      loadCopies: 2.2,
      rewriteCopies: 2.8,
      prepackCopies: 1.3,
      arenaFactor: 1.08,
      denseMacsPerSecond: 40e9,
      groupedMacsPerSecond: 6e9,
      parallelEfficiency: 0.8,
    };
    const analyses = new Map<string, GraphAnalysis>(CALIBRATION_MODELS.map((m) => [m.name, analyzeGraph(readOnnxGraph(m.build().toBytes()))]));
    const points: CalibrationPoint[] = [];
    for (const m of CALIBRATION_MODELS) {
      const e = new Estimator(analyses.get(m.name) as GraphAnalysis, truth);
      for (const [batch, threads] of [...m.batches.map((b) => [b, 1]), ...(m.name === 'cal-residual' ? [[4, 2]] : [])] as Array<[number, number]>) {
        const mem = e.memory(batch);
        points.push({
          model: m.name,
          batch,
          threads,
          result: {
            baselinePeakBytes: truth.baselineBytes,
            baselineRssBytes: truth.baselineBytes,
            loadPeakBytes: truth.baselineBytes + mem.loadPeakBytes,
            afterLoadRssBytes: truth.baselineBytes + mem.weightsBytes,
            peakBytes: mem.totalBytes,
            inputBufferBytes: mem.queuedInputBytes,
            latenciesMs: [e.latencyMs(batch, threads)],
            mallocTuned: true,
          },
        });
      }
    }
    const fit = fitCalibration(analyses, points, {
      schema: truth.schema,
      source: 'test',
      measuredAt: '2026-01-01',
      machine: truth.machine,
      mmapThresholdBytes: truth.mmapThresholdBytes,
    });
    expect(fit.baselineBytes).toBe(truth.baselineBytes);
    expect(fit.sessionBytes / MiB).toBeCloseTo(2, 3);
    expect(fit.smallTensorFactor).toBeCloseTo(1.2, 4);
    expect(fit.smallLoadFactor).toBeCloseTo(3.5, 4);
    expect(fit.loadCopies).toBeCloseTo(2.2, 4);
    expect(fit.rewriteCopies).toBeCloseTo(2.8, 4);
    expect(fit.prepackCopies).toBeCloseTo(1.3, 4);
    expect(fit.arenaFactor).toBeCloseTo(1.08, 3);
    expect(fit.denseMacsPerSecond / 1e9).toBeCloseTo(40, 3);
    expect(fit.groupedMacsPerSecond / 1e9).toBeCloseTo(6, 3);
    expect(fit.parallelEfficiency).toBeCloseTo(0.8, 6);
    expect(fit.warnings).toEqual([]);
    expect(fit.fits.every((f) => Math.abs(f.memoryErrorPct) < 0.5 && Math.abs(f.latencyErrorPct) < 0.5)).toBe(true);
  });

  it('fits the int8 MAC rates on the quantized calibration models only, leaving the other constants as the float models give them', async () => {
    const truth: Calibration = { ...BUILT_IN_CALIBRATION, int8DenseMacsPerSecond: 150e9, int8GroupedMacsPerSecond: 7e9 };
    const analyses = new Map<string, GraphAnalysis>(CALIBRATION_MODELS.map((m) => [m.name, analyzeGraph(readOnnxGraph(m.build().toBytes()))]));
    for (const m of INT8_CALIBRATION_MODELS) analyses.set(m.name, analyzeGraph(readOnnxGraph(await buildInt8Model(m), m.name)));
    const point = (model: string, batch: number, peakOffset: number): CalibrationPoint => {
      const e = new Estimator(analyses.get(model) as GraphAnalysis, truth);
      const mem = e.memory(batch);
      return {
        model,
        batch,
        threads: 1,
        result: {
          baselinePeakBytes: truth.baselineBytes,
          baselineRssBytes: truth.baselineBytes,
          loadPeakBytes: truth.baselineBytes + mem.loadPeakBytes + peakOffset,
          afterLoadRssBytes: truth.baselineBytes + mem.weightsBytes + peakOffset,
          peakBytes: mem.totalBytes + peakOffset,
          inputBufferBytes: mem.queuedInputBytes,
          latenciesMs: [e.latencyMs(batch, 1)],
          mallocTuned: true,
        },
      };
    };
    // the quantized models' memory is off by 50 MiB: were they in the memory fits, the constants would move
    const points = [
      ...CALIBRATION_MODELS.flatMap((m) => m.batches.map((b) => point(m.name, b, 0))),
      ...INT8_CALIBRATION_MODELS.flatMap((m) => m.batches.map((b) => point(m.name, b, 50 * MiB))),
    ];
    const fit = fitCalibration(analyses, points, {
      schema: truth.schema,
      source: 'test',
      measuredAt: '2026-01-01',
      machine: truth.machine,
      mmapThresholdBytes: truth.mmapThresholdBytes,
    });
    expect((fit.int8DenseMacsPerSecond ?? 0) / 1e9).toBeCloseTo(150, 3);
    expect((fit.int8GroupedMacsPerSecond ?? 0) / 1e9).toBeCloseTo(7, 3);
    expect(fit.loadCopies).toBeCloseTo(truth.loadCopies, 3);
    expect(fit.arenaFactor).toBeCloseTo(truth.arenaFactor, 3);
    expect(fit.denseMacsPerSecond / 1e9).toBeCloseTo(truth.denseMacsPerSecond / 1e9, 3);
    expect(fit.fits.filter((f) => f.model.endsWith('-int8')).map((f) => f.model)).toEqual(INT8_CALIBRATION_MODELS.flatMap((m) => m.batches.map(() => m.name)));
  });
});
