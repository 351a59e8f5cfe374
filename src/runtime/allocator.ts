// glibc malloc tuning around model loading (through koffi, a C FFI with prebuilt binaries).
//
// onnxruntime copies every weight several times while it loads a model (the parsed file,
// batch-norm-folded and NCHWc-reordered versions, prepacked fully-connected weights). By
// default glibc raises its mmap threshold each time a large mmapped block is freed (up to
// 32 MiB), after which large blocks come from the heap and freed ones stay resident: the
// loaded weights then cost 2.7–5.4× their size, depending on the tensor sizes (measured,
// docs/planner.md). So, in a worker process:
//   before loading  the threshold is fixed at glibc's initial 128 KiB: freed copies above it
//                   go back to the kernel at once, and the load peak follows from the graph;
//   after loading   (and warming up) malloc_trim returns what is left free, and the threshold
//                   is fixed at 32 MiB (glibc's dynamic maximum): per-request buffers (decoded
//                   images, batch outputs) are then reused from the heap, not mmapped and
//                   unmapped on every call, which costs ~5 % of the throughput on a small model.
// The capacity planner's memory constants are measured with this sequence (measure-child.ts).
// Elsewhere (musl, macOS, Windows) it does nothing.
import { createRequire } from 'node:module';
import { report } from 'node:process';

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** glibc's initial mmap threshold, fixed while models load. */
export const LOAD_MMAP_THRESHOLD_BYTES = 128 * 1024;
/** glibc's dynamic maximum on 64-bit, fixed while serving. */
export const SERVE_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** Twice the mmap threshold, as glibc's own dynamic rule sets it. */
export const SERVE_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;

interface Libc {
  mallopt(param: number, value: number): number;
  mallocTrim(pad: number): number;
}

let libc: Libc | null | undefined;

/** True when this process runs on glibc. */
export function runsOnGlibc(): boolean {
  const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return typeof header?.glibcVersionRuntime === 'string';
}

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux' || !runsOnGlibc()) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    const mallopt = lib.func('int mallopt(int param, int value)');
    const trim = lib.func('int malloc_trim(size_t pad)');
    libc = {
      mallopt: (param, value) => Number(mallopt(param, value) as unknown),
      mallocTrim: (pad) => Number(trim(pad) as unknown),
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** Whether the tuning can be applied here (glibc and koffi's binary present). */
export function mallocTuningAvailable(): boolean {
  return loadLibc() !== null;
}

/** Call before loading models. Returns false where it does nothing. */
export function beforeModelLoad(): boolean {
  const c = loadLibc();
  return c !== null && c.mallopt(M_MMAP_THRESHOLD, LOAD_MMAP_THRESHOLD_BYTES) === 1;
}

/** Returns freed memory to the kernel now (all arenas). */
export function releaseFreeMemory(): boolean {
  const c = loadLibc();
  return c !== null && c.mallocTrim(0) === 1;
}

/** Call once the models are loaded and warmed up. Returns false where it does nothing. */
export function afterModelLoad(): boolean {
  const c = loadLibc();
  if (c === null) return false;
  c.mallocTrim(0);
  return c.mallopt(M_MMAP_THRESHOLD, SERVE_MMAP_THRESHOLD_BYTES) === 1 && c.mallopt(M_TRIM_THRESHOLD, SERVE_TRIM_THRESHOLD_BYTES) === 1;
}
