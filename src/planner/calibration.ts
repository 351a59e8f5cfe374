// The calibration constants: the built-in set (measured on this project's build machine with
// `swarmserve plan --calibrate`, on generated models only), a file written by --calibrate,
// and what the estimate needs to know about the machine.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { ServeError } from '../common/errors.js';
import { packageRoot } from '../config/paths.js';
import { parseOrThrow } from '../config/validation.js';
import { CALIBRATION_SCHEMA_ID, calibrationSchema, type Calibration } from './contract.js';
import { nchwcBlockFromCpuFlags } from './ort-memory.js';

/**
 * Measured by `swarmserve plan --calibrate` (bench/planner.ts prints the same) on the
 * project's 2-core AVX-512 build VM. Re-measure on your node type and pass the file with
 * --calibration: the speed constants in particular are machine-specific.
 */
export const BUILT_IN_CALIBRATION: Calibration = {
  schema: CALIBRATION_SCHEMA_ID,
  source: 'built-in',
  measuredAt: '2026-11-24',
  machine: { cpu: 'AMD EPYC', cores: 2, nchwcBlock: 16, node: 'v20.20.2', onnxruntime: '1.30.0' },
  mmapThresholdBytes: 131072,
  baselineBytes: 101580800,
  sessionBytes: 0,
  smallTensorFactor: 1,
  smallLoadFactor: 2.802,
  loadCopies: 1.9424,
  rewriteCopies: 3.0965,
  prepackCopies: 1.0051,
  arenaFactor: 1.0864,
  denseMacsPerSecond: 5.462e10,
  groupedMacsPerSecond: 4.526e9,
  // the quantized calibration models (calibration-int8.ts), measured 2026-11-29 on the same VM (npm run bench:planner)
  int8DenseMacsPerSecond: 2.097e11,
  int8GroupedMacsPerSecond: 9.34e9,
  parallelEfficiency: 0.99,
  warnings: [],
  fits: [
    { model: 'cal-plain', batch: 1, threads: 1, memoryErrorPct: -1.3, latencyErrorPct: 2.3 },
    { model: 'cal-plain', batch: 4, threads: 1, memoryErrorPct: -0.4, latencyErrorPct: -0.4 },
    { model: 'cal-plain', batch: 16, threads: 1, memoryErrorPct: 2.1, latencyErrorPct: 2.2 },
    { model: 'cal-residual', batch: 1, threads: 1, memoryErrorPct: -2.7, latencyErrorPct: -1.9 },
    { model: 'cal-residual', batch: 4, threads: 1, memoryErrorPct: 0.1, latencyErrorPct: -1.8 },
    { model: 'cal-residual', batch: 16, threads: 1, memoryErrorPct: 1.9, latencyErrorPct: -0.9 },
    { model: 'cal-residual-wide', batch: 1, threads: 1, memoryErrorPct: 0.7, latencyErrorPct: 0.1 },
    { model: 'cal-residual-wide', batch: 8, threads: 1, memoryErrorPct: -0.4, latencyErrorPct: -0.2 },
    { model: 'cal-depthwise', batch: 1, threads: 1, memoryErrorPct: -3.1, latencyErrorPct: 12.5 },
    { model: 'cal-depthwise', batch: 4, threads: 1, memoryErrorPct: -0.7, latencyErrorPct: 11.2 },
    { model: 'cal-depthwise', batch: 16, threads: 1, memoryErrorPct: 1.1, latencyErrorPct: 0 },
    { model: 'cal-classifier', batch: 1, threads: 1, memoryErrorPct: -0.3, latencyErrorPct: -83.8 },
    { model: 'cal-classifier', batch: 8, threads: 1, memoryErrorPct: -0.3, latencyErrorPct: -42.4 },
    { model: 'cal-big-conv-1', batch: 1, threads: 1, memoryErrorPct: 0.5, latencyErrorPct: -2.5 },
    { model: 'cal-big-conv-1', batch: 4, threads: 1, memoryErrorPct: 0, latencyErrorPct: -9.7 },
    { model: 'cal-big-conv-3', batch: 1, threads: 1, memoryErrorPct: -0.5, latencyErrorPct: -11.1 },
    { model: 'cal-big-conv-3', batch: 4, threads: 1, memoryErrorPct: -0.3, latencyErrorPct: -4.4 },
    { model: 'cal-mlp', batch: 1, threads: 1, memoryErrorPct: 0, latencyErrorPct: -90.7 },
    { model: 'cal-mlp', batch: 8, threads: 1, memoryErrorPct: 0.3, latencyErrorPct: -46.8 },
    { model: 'cal-residual', batch: 4, threads: 2, memoryErrorPct: -0.8, latencyErrorPct: -1.8 },
    // the quantized calibration models (2026-11-29): in the int8 speed fit only
    { model: 'cal-residual-int8', batch: 1, threads: 1, memoryErrorPct: -2.9, latencyErrorPct: -1 },
    { model: 'cal-residual-int8', batch: 8, threads: 1, memoryErrorPct: 2.1, latencyErrorPct: -1.6 },
    { model: 'cal-depthwise-int8', batch: 1, threads: 1, memoryErrorPct: -3.9, latencyErrorPct: -10.5 },
    { model: 'cal-depthwise-int8', batch: 8, threads: 1, memoryErrorPct: -2.7, latencyErrorPct: -2.4 },
  ],
};

export interface MachineInfo {
  cpu: string;
  cores: number;
  nchwcBlock: number;
  node: string;
  onnxruntime: string;
}

export function machineInfo(): MachineInfo {
  let flags: string;
  try {
    flags =
      readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('flags')) ?? '';
  } catch {
    flags = process.arch === 'x64' ? 'avx2' : '';
  }
  let onnxruntime = 'unknown';
  try {
    onnxruntime =
      (JSON.parse(readFileSync(join(packageRoot(), 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // not installed beside the package: keep 'unknown'
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    nchwcBlock: nchwcBlockFromCpuFlags(flags),
    node: process.version,
    onnxruntime,
  };
}

export async function readCalibration(path: string): Promise<Calibration> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ServeError('CONFIG_INVALID', `--calibration ${path} cannot be read as JSON: ${(err as Error).message}`);
  }
  return { ...parseOrThrow(calibrationSchema, raw, `calibration file ${path}`), source: path };
}
