// Two versions of one model (e.g. FP32 version 1 and INT8 version 2), inference only, side by
// side in one process (run by raw-runner.ts): both sessions open at once, as BatchWorker
// opens them (own thread each, arena on, warmed up), and one input buffer of real photos,
// decoded once, handed to each session in turn — no allocation per run (this VM returns freed
// memory to the host, which makes big per-call allocations slow) and no decode cost in the
// ratio. Rounds of `roundMs` per version alternate in ABBA order so that a slow spell of the
// shared machine weighs on both versions alike, and the switch between sessions (one pool
// goes idle, the other wakes) happens once per round rather than once per batch.

import { readFile } from 'node:fs/promises';
import type { ModelVersion } from '../src/model/repository/contract.js';
import { loadRepository } from '../src/model/repository/repository.js';
import { afterModelLoad, beforeModelLoad, releaseFreeMemory } from '../src/runtime/allocator.js';
import { ModelSession } from '../src/worker/model-session.js';
import { ImagePreprocessor } from '../src/runtime/preprocess.js';
import type { CompareOptions, CompareReport, CompareSide } from './raw.js';
import { summarize } from './stats.js';

interface Tally {
  version: string;
  images: number;
  batches: number;
  wallMs: number;
  perImageMs: number[];
  roundIps: number[];
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

export async function compareVersions(options: CompareOptions, mark: (edge: 'start' | 'end') => Promise<void>): Promise<CompareReport> {
  const repository = await loadRepository(options.modelsDir, [options.model]);
  const entry = repository.models.get(options.model);
  if (entry === undefined) throw new Error(`model ${options.model} is not in ${options.modelsDir}`);
  const versions = options.versions.map((v): ModelVersion => {
    const found = entry.versions.find((mv) => mv.version === v);
    if (found === undefined) throw new Error(`model ${options.model} has no version ${v} (versions: ${entry.versions.map((mv) => mv.version).join(', ')})`);
    return found;
  });
  const photos = await Promise.all(options.imagePaths.map((path) => readFile(path)));
  if (photos.length === 0) throw new Error('no images');

  // malloc tuning as the server applies it (src/embedded/embedded-server.ts)
  const tuned = beforeModelLoad();
  const sessions: ModelSession[] = [];
  try {
    for (const version of versions) sessions.push(await ModelSession.create(entry, version, { intraOpThreads: options.intraOpThreads }));
    if (tuned) releaseFreeMemory();
    const batch = Math.min(options.batchSize, ...sessions.map((s) => s.maxBatch));
    for (const session of sessions) await session.warmUp([batch]);
    if (tuned) afterModelLoad();

    const preprocessor = new ImagePreprocessor(entry.config.preprocess, options.maxPixels);
    const itemSize = (sessions[0] as ModelSession).itemSize;
    let buffer = new Float32Array(batch * itemSize);
    for (let slot = 0; slot < batch; slot++) preprocessor.fill(await preprocessor.decode(photos[slot % photos.length] as Buffer), buffer, slot);

    /** Runs `session` on the buffer for at least `ms`; returns its wall time and adds to `tally`. */
    const runFor = async (session: ModelSession, ms: number, tally?: Tally): Promise<void> => {
      const start = performance.now();
      let images = 0;
      do {
        const result = await session.run(buffer, batch);
        buffer = result.input;
        images += batch;
        tally?.perImageMs.push(result.inferenceMs / batch);
      } while (performance.now() - start < ms);
      if (tally === undefined) return;
      const wall = performance.now() - start;
      tally.images += images;
      tally.batches += images / batch;
      tally.wallMs += wall;
      tally.roundIps.push(round2(images / (wall / 1000)));
    };

    for (const session of sessions) await runFor(session, options.warmupMs / sessions.length);
    const tallies: Tally[] = versions.map((v) => ({ version: v.version, images: 0, batches: 0, wallMs: 0, perImageMs: [], roundIps: [] }));
    await mark('start');
    const windowStart = performance.now();
    const cpuStart = process.cpuUsage();
    for (let r = 0; r < options.rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) await runFor(sessions[i] as ModelSession, options.roundMs, tallies[i]);
    }
    const cpu = process.cpuUsage(cpuStart);
    const durationMs = performance.now() - windowStart;
    await mark('end');

    const [base, cand] = tallies.map(side) as [CompareSide, CompareSide];
    const ratios = base.roundIps.map((ips, r) => (cand.roundIps[r] ?? 0) / ips).sort((a, b) => a - b);
    const r3 = (v: number): number => Math.round(v * 1000) / 1000;
    return {
      model: entry.name,
      batchSize: batch,
      intraOpThreads: options.intraOpThreads,
      interOpThreads: entry.config.threads.interOp,
      rounds: options.rounds,
      roundMs: options.roundMs,
      durationMs: Math.round(durationMs),
      baseline: base,
      candidate: cand,
      ratio: r3(cand.throughputIps / base.throughputIps),
      roundRatio: { min: r3(ratios[0] ?? 0), median: r3(median(ratios)), max: r3(ratios.at(-1) ?? 0) },
      cpuCores: round2((cpu.user + cpu.system) / 1000 / durationMs),
    };
  } finally {
    for (const session of sessions) await session.close();
  }
}

function median(sorted: readonly number[]): number {
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1 ? (sorted[Math.floor(mid)] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function side(t: Tally): CompareSide {
  return {
    version: t.version,
    images: t.images,
    batches: t.batches,
    throughputIps: t.wallMs > 0 ? round2(t.images / (t.wallMs / 1000)) : 0,
    msPerImage: summarize(t.perImageMs),
    roundIps: t.roundIps,
  };
}
