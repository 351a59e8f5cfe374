// analyzeGraph on the models `models prepare` builds (models/*/1): needs them, so this file is
// in the integration project; analyze.test.ts checks the analysis on hand-computed graphs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundledModelsDir } from '../config/paths.js';
import { readTfjsArtifacts } from '../model/import/tfjs-layers.js';
import { nsfwjsModelDir } from '../model/prepare.js';
import { RESNET50_PARAMETER_COUNT } from '../model/build/resnet50.js';
import { analyzeGraph } from './analyze.js';
import { readOnnxGraph } from '../onnx/read-graph.js';

describe('analyzeGraph on the bundled models', () => {
  const path = (name: string): string => {
    const p = join(bundledModelsDir(), name, '1', 'model.onnx');
    if (!existsSync(p)) throw new Error(`${p} is missing: run "node dist/src/cli/main.js models prepare" (npm test does)`);
    return p;
  };

  it('resnet50: 25,557,032 parameters, BN running statistics as stored values, ≈4.1 GMACs', () => {
    const a = analyzeGraph(readOnnxGraph(readFileSync(path('resnet50'))));
    expect(a.complete).toBe(true);
    expect(a.totals.parameters).toBe(RESNET50_PARAMETER_COUNT);
    expect(a.totals.parameters).toBe(25_557_032);
    // 53 BN layers × (running mean + running var): 2 × 26,560 channels
    expect(a.totals.nonParameterValues).toBe(53_120);
    expect(Math.abs(a.totals.macsPerImage / 4.1e9 - 1)).toBeLessThan(0.03);
    expect(a.totals.macsPerImage).toBe(4_089_184_256);
    expect(a.outputs[0]?.shape).toEqual(['N', 1000]);
  });

  it('moderation: the parameters are exactly the trainable weights of the TF.js model it was imported from', async () => {
    const a = analyzeGraph(readOnnxGraph(readFileSync(path('moderation'))));
    expect(a.complete).toBe(true);
    const artifacts = await readTfjsArtifacts(nsfwjsModelDir());
    const count = (re: RegExp, keep: boolean): number =>
      artifacts.weightSpecs.filter((w) => re.test(w.name) === keep).reduce((sum, w) => sum + w.shape.reduce((x, y) => x * y, 1), 0);
    const trainable = count(/moving_(mean|variance)$/, false);
    const runningStats = count(/moving_(mean|variance)$/, true);
    expect(a.totals.parameters).toBe(trainable);
    expect(a.totals.parameters).toBe(2_585_349);
    // Besides the running statistics, the ONNX file stores the Pad amounts (5 × 8 int64) and the
    // ReLU6 bounds (the scalars 0 and 6, shared by all 35 Clip nodes).
    expect(a.totals.nonParameterValues).toBe(runningStats + 5 * 8 + 2);
    expect(a.input.shape).toEqual(['N', 224, 224, 3]);
  });
});
