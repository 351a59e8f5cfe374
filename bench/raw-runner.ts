// Child process of the embedded benchmark (forked by `runRawInChildProcess`): "the best the
// same code can do without the server". It loads the model exactly as BatchWorker does
// (repository config → ModelSession on its own thread, warmed up at [1, maxBatch]; the same
// ImagePreprocessor with the same maxPixels), holds the JPEG bytes in memory, and measures:
//   - throughput: full batches, the decodes of batch k+1 started before batch k's run is
//     awaited — the same overlap as BatchWorker.loop (decode as jobs arrive, at most one batch
//     in the session and one being gathered/decoded, two input buffers);
//   - sequential: one image at a time, decode + fill + batch-1 session.run;
//   - compare (a `compare` message): two versions, inference only, interleaved (raw-compare.ts).
// It waits for one message, sends `window` marks and one report (or error), and exits.

import { readFile } from 'node:fs/promises';
import { loadRepository } from '../src/model/repository/repository.js';
import { afterModelLoad, beforeModelLoad, releaseFreeMemory } from '../src/runtime/allocator.js';
import { ModelSession } from '../src/worker/model-session.js';
import { ImagePreprocessor } from '../src/runtime/preprocess.js';
import { compareVersions } from './raw-compare.js';
import type { RawReport, RawResultMessage, RawRunMessage, RawRunOptions } from './raw.js';
import { summarize } from './stats.js';

function isRunMessage(value: unknown): value is RawRunMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type } = value as { type?: unknown };
  return type === 'run' || type === 'compare';
}

function send(message: RawResultMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

interface Window {
  start: number;
  end: number;
  /** CPU usage of this process at the window start (set by the timer). */
  cpuAtStart: NodeJS.CpuUsage | undefined;
  cpuAtEnd: NodeJS.CpuUsage | undefined;
}

/** Marks the window edges for the parent (CPU sampling) and records this process's CPU there. */
function scheduleWindow(warmupMs: number, durationMs: number): Window {
  const now = performance.now();
  const window: Window = { start: now + warmupMs, end: now + warmupMs + durationMs, cpuAtStart: undefined, cpuAtEnd: undefined };
  setTimeout(() => {
    window.cpuAtStart = process.cpuUsage();
    void send({ type: 'window', edge: 'start' });
  }, warmupMs);
  setTimeout(() => {
    window.cpuAtEnd = process.cpuUsage();
    void send({ type: 'window', edge: 'end' });
  }, warmupMs + durationMs);
  return window;
}

function cpuCores(window: Window): number {
  if (window.cpuAtStart === undefined || window.cpuAtEnd === undefined) return 0;
  const us = window.cpuAtEnd.user - window.cpuAtStart.user + (window.cpuAtEnd.system - window.cpuAtStart.system);
  return Math.round((us / 1000 / (window.end - window.start)) * 100) / 100;
}

async function run(options: RawRunOptions): Promise<RawReport> {
  const repository = await loadRepository(options.modelsDir, [options.model]);
  const entry = repository.models.get(options.model);
  if (entry === undefined) throw new Error(`model ${options.model} is not in ${options.modelsDir}`);
  const version = entry.versions.find((v) => v.version === options.version);
  if (version === undefined)
    throw new Error(`model ${options.model} has no version ${options.version} (versions: ${entry.versions.map((v) => v.version).join(', ')})`);
  const images = await Promise.all(options.imagePaths.map((path) => readFile(path)));
  if (images.length === 0) throw new Error('no images');

  // malloc tuning as the server applies it (src/embedded/embedded-server.ts)
  const tuned = beforeModelLoad();
  const session = await ModelSession.create(entry, version, { intraOpThreads: options.intraOpThreads });
  try {
    if (tuned) releaseFreeMemory();
    const preprocessor = new ImagePreprocessor(entry.config.preprocess, options.maxPixels);
    const maxBatch = Math.min(options.maxBatchSize, session.maxBatch);
    await session.warmUp([1, maxBatch]);
    if (tuned) afterModelLoad();
    const common = {
      model: entry.name,
      version: version.version,
      intraOpThreads: options.intraOpThreads,
      interOpThreads: entry.config.threads.interOp,
    };
    if (options.mode === 'throughput') return { ...common, ...(await throughput(options, session, preprocessor, images, maxBatch)) };
    return { ...common, ...(await sequential(options, session, preprocessor, images, maxBatch)) };
  } finally {
    await session.close();
  }
}

type Measured = Omit<RawReport, 'model' | 'version' | 'intraOpThreads' | 'interOpThreads'>;

async function throughput(
  options: RawRunOptions,
  session: ModelSession,
  preprocessor: ImagePreprocessor,
  images: readonly Buffer[],
  maxBatch: number,
): Promise<Measured> {
  const free: Float32Array[] = [new Float32Array(maxBatch * session.itemSize), new Float32Array(maxBatch * session.itemSize)];
  const latencies: number[] = [];
  const inference: number[] = [];
  let counted = 0;
  let batches = 0;
  let inferenceSumMs = 0;
  let next = 0;
  const window = scheduleWindow(options.warmupMs, options.durationMs);

  let running: Promise<void> = Promise.resolve();
  while (performance.now() < window.end) {
    const buffer = free.pop() ?? new Float32Array(maxBatch * session.itemSize);
    const startedAt = performance.now();
    // Start every decode of this batch now (BatchWorker starts each as its job arrives).
    const decodes: Promise<void>[] = [];
    for (let slot = 0; slot < maxBatch; slot++) {
      const bytes = images[next] as Buffer;
      next = (next + 1) % images.length;
      decodes.push(preprocessor.decode(bytes).then((pixels) => preprocessor.fill(pixels, buffer, slot)));
    }
    const ready = Promise.all(decodes);
    ready.catch(() => undefined); // handled below, via `running`; not an unhandled rejection meanwhile
    // As BatchWorker: wait for the previous batch to leave the session, then run this one
    // once its decodes are done, while the loop goes on to decode the next batch.
    await running;
    running = ready
      .then(() => session.run(buffer, maxBatch))
      .then(({ input, inferenceMs }) => {
        free.push(input);
        const end = performance.now();
        if (end >= window.start && end < window.end) {
          counted += maxBatch;
          batches++;
          inferenceSumMs += inferenceMs;
          inference.push(inferenceMs);
          for (let i = 0; i < maxBatch; i++) latencies.push(end - startedAt);
        }
      });
  }
  await running;
  const durationMs = window.end - window.start;
  return {
    mode: 'throughput',
    batchSize: maxBatch,
    durationMs: Math.round(durationMs),
    images: counted,
    batches,
    throughputIps: Math.round((counted / (durationMs / 1000)) * 100) / 100,
    latencyMs: summarize(latencies),
    inferenceMs: summarize(inference),
    inferenceBusyFraction: Math.round((inferenceSumMs / durationMs) * 1000) / 1000,
    cpuCores: cpuCores(window),
  };
}

async function sequential(
  options: RawRunOptions,
  session: ModelSession,
  preprocessor: ImagePreprocessor,
  images: readonly Buffer[],
  maxBatch: number,
): Promise<Measured> {
  // The server's input buffer is sized for a full batch and runs its first item: do the same.
  let buffer = new Float32Array(maxBatch * session.itemSize);
  const latencies: number[] = [];
  const decodeTimes: number[] = [];
  const decodeFillTimes: number[] = [];
  const inference: number[] = [];
  let inferenceSumMs = 0;
  let next = 0;
  const window = scheduleWindow(options.warmupMs, options.durationMs);

  while (performance.now() < window.end) {
    const bytes = images[next] as Buffer;
    next = (next + 1) % images.length;
    const startedAt = performance.now();
    const pixels = await preprocessor.decode(bytes);
    const decodedAt = performance.now();
    preprocessor.fill(pixels, buffer, 0);
    const filledAt = performance.now();
    const result = await session.run(buffer, 1);
    buffer = result.input;
    const end = performance.now();
    if (end >= window.start && end < window.end) {
      latencies.push(end - startedAt);
      decodeTimes.push(decodedAt - startedAt);
      decodeFillTimes.push(filledAt - startedAt);
      inference.push(result.inferenceMs);
      inferenceSumMs += result.inferenceMs;
    }
  }
  const durationMs = window.end - window.start;
  return {
    mode: 'sequential',
    batchSize: 1,
    durationMs: Math.round(durationMs),
    images: latencies.length,
    batches: latencies.length,
    throughputIps: Math.round((latencies.length / (durationMs / 1000)) * 100) / 100,
    latencyMs: summarize(latencies),
    decodeMs: summarize(decodeTimes),
    decodeFillMs: summarize(decodeFillTimes),
    inferenceMs: summarize(inference),
    inferenceBusyFraction: Math.round((inferenceSumMs / durationMs) * 1000) / 1000,
    cpuCores: cpuCores(window),
  };
}

async function handle(message: unknown): Promise<number> {
  if (!isRunMessage(message)) {
    await send({ type: 'error', message: 'expected a { type: "run" | "compare", options } message' });
    return 2;
  }
  try {
    if (message.type === 'compare') {
      const report = await compareVersions(message.options, (edge) => send({ type: 'window', edge }));
      await send({ type: 'compare-report', report });
    } else {
      const report = await run(message.options);
      await send({ type: 'report', report });
    }
    return 0;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    await send({ type: 'error', message: e.message, ...(e.stack === undefined ? {} : { stack: e.stack }) });
    return 1;
  }
}

if (process.send === undefined) {
  process.stderr.write('raw-runner: must be forked by runRawInChildProcess (bench/raw.ts).\n');
  process.exit(2);
}
process.once('disconnect', () => process.exit(1));
process.once('message', (message: unknown) => {
  handle(message).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`raw-runner: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
