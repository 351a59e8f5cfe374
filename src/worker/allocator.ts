// The worker process's malloc settings. glibc raises its mmap threshold each time a large
// mmapped block is freed (up to 32 MiB), after which large blocks come from the heap and are
// not returned when freed. onnxruntime makes several transient copies of every weight while
// loading a model (parsed model, BN-folded and NCHWc-reordered versions, prepacked copies):
// with the dynamic threshold those copies stay resident, 2.7–5.4× the weights depending on the
// tensor sizes (measured, docs/planner.md); with the threshold fixed at glibc's default
// 128 KiB they are returned and the loaded weights cost about their own size. The capacity
// planner's estimate assumes this setting, so `npm start`, the planner's measuring children
// and its compose snippet all set it.
import { report } from 'node:process';

export const MMAP_THRESHOLD_BYTES = 131072;

/** Environment that fixes glibc's mmap threshold (ignored by other C libraries). */
export const WORKER_ALLOCATOR_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD_BYTES) };

/** True when this process runs on glibc (the setting only means something there). */
export function runsOnGlibc(): boolean {
  const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/** A warning for the start-up log when the setting is missing, else undefined. */
export function allocatorWarning(env: NodeJS.ProcessEnv = process.env, glibc = runsOnGlibc()): string | undefined {
  if (!glibc) return undefined;
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || /glibc\.malloc\.mmap_threshold=/.test(env.GLIBC_TUNABLES ?? '')) return undefined;
  return `MALLOC_MMAP_THRESHOLD_ is not set: onnxruntime's load-time copies of the model weights will stay resident (2–5× the weights); start with MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD_BYTES} as "npm start" and the planner's compose snippet do (docs/configuration.md)`;
}
