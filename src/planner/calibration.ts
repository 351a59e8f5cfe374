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
  baselineBytes: 97746944,
  sessionBytes: 3813904,
  convWeightFactor: 3.0496,
  fcWeightFactor: 1.4931,
  fcLoadFactor: 1.4939,
  arenaFactor: 1.0453,
  denseMacsPerSecond: 5.502e+10,
  groupedMacsPerSecond: 4.713e+09,
  parallelEfficiency: 0.989,
  warnings: [],
  fits: [
    { model: 'cal-plain', batch: 1, threads: 1, memoryErrorPct: -4.8, latencyErrorPct: 2.5 },
    { model: 'cal-plain', batch: 4, threads: 1, memoryErrorPct: -1.7, latencyErrorPct: 2.3 },
    { model: 'cal-plain', batch: 16, threads: 1, memoryErrorPct: -0.7, latencyErrorPct: 2.8 },
    { model: 'cal-residual', batch: 1, threads: 1, memoryErrorPct: -0.5, latencyErrorPct: 0.5 },
    { model: 'cal-residual', batch: 4, threads: 1, memoryErrorPct: -0.4, latencyErrorPct: -1.8 },
    { model: 'cal-residual', batch: 16, threads: 1, memoryErrorPct: 0.6, latencyErrorPct: -2.9 },
    { model: 'cal-residual-wide', batch: 1, threads: 1, memoryErrorPct: -0.1, latencyErrorPct: 0.6 },
    { model: 'cal-residual-wide', batch: 8, threads: 1, memoryErrorPct: 3.1, latencyErrorPct: 0 },
    { model: 'cal-depthwise', batch: 1, threads: 1, memoryErrorPct: -0.6, latencyErrorPct: 12.4 },
    { model: 'cal-depthwise', batch: 4, threads: 1, memoryErrorPct: -1, latencyErrorPct: 8.6 },
    { model: 'cal-depthwise', batch: 16, threads: 1, memoryErrorPct: -0.5, latencyErrorPct: 0 },
    { model: 'cal-classifier', batch: 1, threads: 1, memoryErrorPct: -1.1, latencyErrorPct: -84 },
    { model: 'cal-classifier', batch: 8, threads: 1, memoryErrorPct: -0.3, latencyErrorPct: -36.2 },
    { model: 'cal-residual', batch: 4, threads: 2, memoryErrorPct: -0.2, latencyErrorPct: -1.8 },
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
    flags = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
  } catch {
    flags = process.arch === 'x64' ? 'avx2' : '';
  }
  let onnxruntime = 'unknown';
  try {
    onnxruntime = (JSON.parse(readFileSync(join(packageRoot(), 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // not installed beside the package: keep 'unknown'
  }
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism(), nchwcBlock: nchwcBlockFromCpuFlags(flags), node: process.version, onnxruntime };
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
