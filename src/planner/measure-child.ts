// A fresh worker-like process that measures one model at one batch size, spawned by
// measure.ts (RSS in a long-lived process is too noisy). It does what a swarmserve worker
// does: a session on a worker thread (the project's own SessionThread, same onnxruntime
// options as src/worker/model-session.ts), two reusable batch input buffers, warm-up at
// batch 1 and at the serving batch, then timed runs at the serving batch.
//
//   node dist/src/planner/measure-child.js '{"model":"…","batch":8,"threads":1,"minRuns":3,"seconds":5}'
//
// Prints one JSON line (ChildResult) on stdout.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { afterModelLoad, beforeModelLoad, releaseFreeMemory } from '../runtime/allocator.js';
import { SessionThread } from '../runtime/session-thread.js';

export interface ChildRequest {
  model: string;
  batch: number;
  threads: number;
  /** Timed runs at least … */
  minRuns: number;
  /** … and until this many seconds have passed (at most maxRuns). */
  seconds: number;
  maxRuns?: number;
  /** Sizes of symbolic dims other than the batch. */
  dims?: Record<string, number>;
  /** The worker's malloc tuning (src/runtime/allocator.ts); default true. */
  mallocTuning?: boolean;
}

export interface ChildResult {
  /** maxRSS and RSS with the session thread up and a one-node model loaded and run. */
  baselinePeakBytes: number;
  baselineRssBytes: number;
  /** maxRSS just after the model loaded (includes load transients) and RSS then. */
  loadPeakBytes: number;
  afterLoadRssBytes: number;
  /** maxRSS at the end: the worker's peak. */
  peakBytes: number;
  inputBufferBytes: number;
  latenciesMs: number[];
  /** Whether the worker's malloc tuning was applied (false: off, or not glibc). */
  mallocTuned: boolean;
}

export function sessionOptions(threads: number): Record<string, unknown> {
  // as src/worker/model-session.ts
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

/**
 * Peak RSS of this process so far. Linux: VmHWM, the high-water mark of this process's own
 * address space. Not getrusage's maxRSS: a spawned child inherits its parent's RSS at fork
 * in maxRSS, so a planner that has read a 100 MB model would see every child "peak" at its
 * own size.
 */
export function peakRssBytes(status = readProcStatus()): number {
  const match = status === undefined ? null : /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match?.[1] !== undefined ? Number(match[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

function readProcStatus(): string | undefined {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
}

export async function measureInThisProcess(req: ChildRequest): Promise<ChildResult> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmserve-measure-'));
  const thread = new SessionThread();
  // as src/embedded/embedded-server.ts: tuned before any model loads, memory released after
  // the load, serving threshold after the warm-up
  const tuned = req.mallocTuning !== false && beforeModelLoad();
  try {
    const g = new GraphBuilder('baseline');
    const x = g.input('x', ['N', 4]);
    g.output(g.node('Relu', [x], {}, 'y'), ['N', 4]);
    const tiny = join(dir, 'baseline.onnx');
    await g.save(tiny);
    await thread.load(tiny, sessionOptions(req.threads));
    await thread.run(new ArrayBuffer(16), 4, [1, 4], 'x', 'y');
    const baselinePeakBytes = peakRssBytes();
    const baselineRssBytes = process.memoryUsage().rss;

    // The worker allocates its two batch buffers once (src/worker/batch-worker.ts).
    const loaded = await thread.load(req.model, sessionOptions(req.threads));
    const inputName = loaded.inputNames[0];
    const outputName = loaded.outputNames[0];
    const meta = loaded.inputMetadata[0];
    if (inputName === undefined || outputName === undefined || meta === undefined) throw new Error(`${req.model}: no input or output`);
    const dimsAt = (batch: number): number[] =>
      meta.shape.map((d, i) => {
        if (typeof d === 'number' && d > 0) return d;
        if (typeof d === 'string' && req.dims?.[d] !== undefined) return req.dims[d];
        if (i === 0) return batch;
        throw new Error(`input dim ${String(d)} needs a size`);
      });
    const length = (batch: number): number => dimsAt(batch).reduce((a, b) => a * b, 1);
    const loadPeakBytes = peakRssBytes();
    if (tuned) releaseFreeMemory();
    const afterLoadRssBytes = process.memoryUsage().rss;
    let buffers = [new Float32Array(length(req.batch)), new Float32Array(length(req.batch))];
    let seed = 12345;
    for (const b of buffers) {
      for (let i = 0; i < b.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[i] = seed / 0x100000000;
      }
    }
    const run = async (slot: number, batch: number): Promise<number> => {
      const buffer = buffers[slot] as Float32Array;
      const reply = await thread.run(buffer.buffer as ArrayBuffer, length(batch), dimsAt(batch), inputName, outputName);
      buffers[slot] = new Float32Array(reply.buffer);
      return reply.inferenceMs;
    };
    // warm-up as ModelSession.warmUp([1, maxBatch])
    await run(0, 1);
    if (req.batch !== 1) await run(1, req.batch);
    if (tuned) afterModelLoad();
    const latenciesMs: number[] = [];
    const started = performance.now();
    const maxRuns = req.maxRuns ?? 50;
    while (latenciesMs.length < req.minRuns || (performance.now() - started < req.seconds * 1000 && latenciesMs.length < maxRuns)) {
      latenciesMs.push(await run(latenciesMs.length % 2, req.batch));
    }
    buffers = [];
    return {
      baselinePeakBytes,
      baselineRssBytes,
      loadPeakBytes,
      afterLoadRssBytes,
      peakBytes: peakRssBytes(),
      inputBufferBytes: length(req.batch) * 4 * 2,
      latenciesMs,
      mallocTuned: tuned,
    };
  } finally {
    await thread.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: measure-child.js <json request>');
  const result = await measureInThisProcess(JSON.parse(arg) as ChildRequest);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
