// The INT8 section of bench:embedded: which versions it compares, what to say when version 2
// is missing, and its rows and table (raw INT8 / raw FP32 from bench/raw-compare.ts).

import { statSync } from 'node:fs';
import type { ModelEntry } from '../src/model/repository/contract.js';
import type { CpuUsage } from '../src/common/proc-cpu.js';
import type { CompareReport } from './raw.js';
import { markdownTable } from './report.js';
import type { ResultRow } from './result-row.js';

/** Version 1 is the FP32 model `models prepare` builds; version 2 its INT8 quantization. */
export const FP32_VERSION = '1';
export const INT8_VERSION = '2';

/** Why the INT8 section cannot run for this model, or undefined if both versions are there. */
export function missingVersion(entry: ModelEntry): string | undefined {
  const missing = [FP32_VERSION, INT8_VERSION].filter((v) => !entry.versions.some((mv) => mv.version === v));
  if (missing.length === 0) return undefined;
  return (
    `${entry.name}: no version ${missing.join(' or ')} (${entry.dir}/<version>/model.onnx; found: ${entry.versions.map((v) => v.version).join(', ') || 'none'}) — ` +
    'run `node dist/src/cli/main.js models prepare` (builds the INT8 version 2 from models/<name>/int8-calibration.json, offline)'
  );
}

/** `v1 97.5 MB, v2 24.6 MB`: INT8 weights take a quarter of the FP32 bytes. */
export function modelFileSizes(entry: ModelEntry): string {
  return entry.versions.map((v) => `v${v.version} ${(statSync(v.onnxPath).size / 1e6).toFixed(1)} MB`).join(', ');
}

const perImage = (ms: number): string => `${ms.toFixed(2)} ms/image`;

/** Raw candidate / raw baseline, inference only; `minimum` undefined: reported without a target. */
export function compareRow(measure: string, report: CompareReport | undefined, minimum: number | undefined, target: string, error?: string): ResultRow {
  if (report === undefined)
    return { measure, served: error ?? 'error', baseline: error === undefined ? 'error' : '', comparison: '—', target, result: 'ERROR' };
  const { baseline: b, candidate: c, ratio, roundRatio } = report;
  return {
    measure,
    served: `v${c.version}: ${c.throughputIps.toFixed(1)} img/s (${perImage(c.msPerImage.p50)})`,
    baseline: `v${b.version}: ${b.throughputIps.toFixed(1)} img/s (${perImage(b.msPerImage.p50)})`,
    comparison: `${ratio.toFixed(2)}× (per round: median ${roundRatio.median.toFixed(2)}, ${roundRatio.min.toFixed(2)}–${roundRatio.max.toFixed(2)})`,
    target,
    result: minimum === undefined ? 'INFO' : ratio >= minimum ? 'PASS' : 'FAIL',
    value: ratio,
  };
}

export interface CompareRun {
  label: string;
  report: CompareReport | undefined;
  cpu: CpuUsage | undefined;
}

/** Per version of each comparison: throughput, per-image run time, each round, CPU. */
export function compareTable(runs: readonly CompareRun[]): string {
  const rows: string[][] = [];
  for (const { label, report, cpu } of runs) {
    if (report === undefined) {
      rows.push([label, 'error', '', '', '', '', '', '']);
      continue;
    }
    for (const s of [report.baseline, report.candidate]) {
      const m = s.msPerImage;
      const cores = cpu === undefined ? '?' : `raw ${cpu.processCores.raw ?? '?'}, other ${cpu.otherCores}`;
      rows.push([
        label,
        `v${s.version}`,
        String(report.batchSize),
        s.throughputIps.toFixed(1),
        `${m.p50.toFixed(2)} / ${m.mean.toFixed(2)} / ${m.p90.toFixed(2)}`,
        String(s.batches),
        s.roundIps.map((v) => v.toFixed(1)).join(' '),
        cores,
      ]);
    }
  }
  return markdownTable(['run', 'version', 'batch', 'img/s', 'ms/image p50 / mean / p90', 'batches', 'img/s per round', 'CPU cores'], rows);
}
