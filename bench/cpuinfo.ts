// The CPU model and the SIMD flags that decide how fast onnxruntime's INT8 kernels can be
// (/proc/cpuinfo, Linux), and the INT8 / FP32 speed-up the benchmark expects from them:
// u8·s8 dot products in one instruction (AVX512-VNNI, AMX tiles) give ≥ 2.5× on ResNet50;
// AVX2 alone (pmaddubsw + pmaddwd, two instructions and a saturation risk) ≥ 1.8×.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The flags reported (in this order); the others in /proc/cpuinfo do not bear on INT8 speed. */
export const INT8_FLAGS = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16'] as const;

export interface CpuInfo {
  model: string;
  /** Those of INT8_FLAGS the CPU has. */
  flags: string[];
}

export interface Int8Target {
  /** Minimum INT8 / FP32 throughput ratio; undefined: no target (reported only). */
  minimum: number | undefined;
  /** Which rule applies, for the report. */
  reason: string;
}

export function readCpuInfo(path = '/proc/cpuinfo'): CpuInfo {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // Not Linux: the model from Node, no flags (the target then says so).
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const all = new Set((field('flags') ?? '').split(/\s+/));
  return { model: field('model name') ?? cpus()[0]?.model ?? '?', flags: INT8_FLAGS.filter((f) => all.has(f)) };
}

export function int8Target(info: CpuInfo): Int8Target {
  const has = (f: string): boolean => info.flags.includes(f);
  if (has('avx512_vnni') || has('amx_int8')) {
    const which = [has('avx512_vnni') ? 'AVX512-VNNI' : '', has('amx_int8') ? 'AMX-INT8' : ''].filter((s) => s !== '').join(' + ');
    return { minimum: 2.5, reason: `≥ 2.5× (CPU has ${which})` };
  }
  // AVX-VNNI (256-bit, e.g. Alder Lake) is not in the rules: held to the AVX2 target.
  if (has('avx2')) return { minimum: 1.8, reason: `≥ 1.8× (AVX2${has('avx_vnni') ? ' + AVX-VNNI' : ''}, no AVX512-VNNI or AMX)` };
  return { minimum: undefined, reason: 'no target (no AVX2: onnxruntime falls back to its SSE kernels)' };
}

/** `Intel(R) Xeon(R) Processor — avx2 fma … amx_int8` for the progress lines and the report. */
export function cpuLine(info: CpuInfo): string {
  return `${info.model} — ${info.flags.length > 0 ? info.flags.join(' ') : 'no AVX2/VNNI/AMX flag found'}`;
}
