// `npm run bench:embedded`: the embedded server against "raw" (the same decode + session code
// with no server), measured side by side in one run on this machine.
//
//   served: `node dist/src/cli/main.js serve --only <model> …` as a child process, driven by the
//           project's closed-loop load generator in its own process (runLoadInChildProcess),
//           raw JPEG bodies round-robin over test/fixtures/images/*.jpg;
//   raw:    bench/raw-runner.ts in its own process: ImagePreprocessor + ModelSession built from
//           the same model config, at the same maxBatchSize and intra-op threads, decode of the
//           next batch overlapping inference (as BatchWorker does).
//
// Prints a table of ratios against their targets (PASS/FAIL), p50/p95/p99 of every run, where
// the CPU went, and writes everything to bench/results/embedded-<ISO timestamp>.json.
// Exits 0 when every run completed, whatever the targets say (it is a report); 1 if a run failed.
//
// The machine is shared (2 cores): before each run the driver waits for other work to go quiet
// (at most 15 s per run, 30 s in all), measures how many cores other work took during each
// window (/proc), and measures a disturbed run (> 0.3 cores) once more if the ~4-minute budget
// allows, keeping the less disturbed attempt; disturbed runs are flagged ⚠ in the report.
//
// Durations can be shortened for a smoke test: BENCH_WARMUP_MS, BENCH_DURATION_MS (64-client
// and raw throughput runs), BENCH_SEQ_DURATION_MS (sequential runs).

import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import type { LatencySummaryMs, LoadReport } from '../src/loadtest/contract.js';
import type { ModelEntry } from '../src/model/repository/contract.js';
import { loadRepository } from '../src/model/repository/repository.js';
import { resolveOptions } from '../src/config/options.js';
import { SERVE_OPTIONS } from '../src/config/serve-config.js';
import { cpuUsage, sampleCpu, type CpuSample } from './cpu.js';
import { DISTURBED_CORES, MAIN_JS, QUIET_CORES, QUIET_MAX_WAIT_MS, ROOT, Runs, T0, checkDisturbed, envMs, errorText, loadWithWindow, progress, runDriver, type Measured } from './driver.js';
import { imageBodies, imageNames, imagePaths } from './images.js';
import { runRawInChildProcess, type RawMode, type RawReport } from './raw.js';
import { cpuNote, disturbedList, markdownTable, runLabel, writeResults } from './report.js';
import { freePort, scrapeMetrics, startServer, windowStats, type Series, type ServerHandle, type ServerWindowStats } from './served.js';

// ---- plan ------------------------------------------------------------------------------

const WARMUP_MS = envMs('BENCH_WARMUP_MS', 3_000);
const THROUGHPUT_MS = envMs('BENCH_DURATION_MS', 15_000);
const SEQUENTIAL_MS = envMs('BENCH_SEQ_DURATION_MS', 10_000);
const CONCURRENCY = 64;
const HOST = '127.0.0.1';
/** No re-run starts that would end past this (from the driver's start): the whole script stays under ~4 minutes. */
const BUDGET_MS = 205_000;

// ---- settings: read exactly as the server reads them -------------------------------------

interface Settings {
  model: string;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  intraOpThreads: number;
  interOpThreads: number;
  maxPixels: number;
  /** `--max-batch-size` given to the server (and used by raw), if any. */
  maxBatchOverride?: number;
}

/** The server's flags for a model, and the settings it will use (flags > SWARMSERVE_* env > model config). */
function serverPlan(entry: ModelEntry, port: number, maxBatchOverride?: number): { args: string[]; settings: Settings; modelsDir: string } {
  const args = ['--port', String(port), '--host', HOST, '--only', entry.name, '--log-level', 'warn'];
  if (maxBatchOverride !== undefined) args.push('--max-batch-size', String(maxBatchOverride));
  const flags: Record<string, unknown> = { port: String(port), host: HOST, only: entry.name, logLevel: 'warn' };
  if (maxBatchOverride !== undefined) flags.maxBatchSize = String(maxBatchOverride);
  const serve = resolveOptions(SERVE_OPTIONS, flags);
  const settings: Settings = {
    model: entry.name,
    maxBatchSize: serve.maxBatchSize ?? entry.config.batching.maxBatchSize,
    maxQueueDelayMs: serve.maxQueueDelayMs ?? entry.config.batching.maxQueueDelayMs,
    intraOpThreads: serve.threads ?? entry.config.threads.intraOp,
    interOpThreads: entry.config.threads.interOp,
    maxPixels: serve.maxPixels,
  };
  if (maxBatchOverride !== undefined) settings.maxBatchOverride = maxBatchOverride;
  return { args, settings, modelsDir: serve.models };
}

// ---- runs --------------------------------------------------------------------------------

interface RunRecord extends Measured {
  side: 'served' | 'raw';
  description: string;
  settings: Settings & { concurrency: number; warmupMs: number; durationMs: number; mode: RawMode };
  /** Images (= 2xx requests) per second in the measured window. */
  throughput?: number;
  latencyMs?: LatencySummaryMs;
  errors?: number;
  load?: LoadReport;
  server?: ServerWindowStats & { startupMs: number; exitCode?: number | null; exitSignal?: string | null; stopMs?: number; args: string[] };
  raw?: RawReport;
}

const runs = new Runs<RunRecord>(BUDGET_MS);

async function rawRun(attempt: number, id: string, description: string, entry: ModelEntry, mode: RawMode, durationMs: number): Promise<RunRecord> {
  const { settings, modelsDir } = serverPlan(entry, 0);
  const record: RunRecord = { id, side: 'raw', description, attempt, settings: { ...settings, concurrency: 1, warmupMs: WARMUP_MS, durationMs, mode } };
  const started = performance.now();
  progress(`${id}: ${description} — warm-up ${WARMUP_MS / 1000}s + ${durationMs / 1000}s measured`);
  let pid: number | undefined;
  let cpuStart: CpuSample | undefined;
  let cpuEnd: CpuSample | undefined;
  try {
    const report = await runRawInChildProcess(
      { mode, modelsDir, model: entry.name, imagePaths: imagePaths(), maxBatchSize: settings.maxBatchSize, intraOpThreads: settings.intraOpThreads, maxPixels: settings.maxPixels, warmupMs: WARMUP_MS, durationMs },
      {
        onStart: (p) => {
          pid = p;
        },
        onWindow: (edge) => {
          if (edge === 'start') cpuStart = sampleCpu({ raw: pid });
          else cpuEnd = sampleCpu({ raw: pid });
        },
      },
    );
    record.raw = report;
    record.throughput = report.throughputIps;
    record.latencyMs = report.latencyMs;
    record.errors = 0;
    if (mode === 'throughput') record.settings.maxBatchSize = report.batchSize;
    if (cpuStart !== undefined && cpuEnd !== undefined) {
      const cpu = cpuUsage(cpuStart, cpuEnd);
      if (cpu !== undefined) record.cpu = cpu;
    }
    checkDisturbed(record);
    progress(
      `${id}: done in ${((performance.now() - started) / 1000).toFixed(1)}s — ${report.throughputIps} img/s, p50 ${report.latencyMs.p50} ms` +
        (mode === 'sequential' ? ` (decode p50 ${report.decodeMs?.p50} ms, run p50 ${report.inferenceMs.p50} ms)` : ` (batch ${report.batchSize}, run p50 ${report.inferenceMs.p50} ms, session busy ${pct(report.inferenceBusyFraction)})`) +
        cpuNote(record.cpu),
    );
  } catch (err) {
    record.error = errorText(err);
    progress(`${id}: FAILED — ${record.error}`);
  }
  return record;
}

interface LoadPlan {
  id: string;
  description: string;
  concurrency: number;
  durationMs: number;
}

/** Starts a server for `entry`, applies one load, stops the server (SIGTERM, expects exit 0). */
async function servedRun(attempt: number, entry: ModelEntry, maxBatchOverride: number | undefined, load: LoadPlan): Promise<RunRecord> {
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const { args, settings } = serverPlan(entry, port, maxBatchOverride);
  const record: RunRecord = {
    id: load.id,
    side: 'served',
    description: load.description,
    attempt,
    settings: { ...settings, concurrency: load.concurrency, warmupMs: WARMUP_MS, durationMs: load.durationMs, mode: load.concurrency === 1 ? 'sequential' : 'throughput' },
  };
  progress(`${load.id}: starting \`node dist/src/cli/main.js serve ${args.join(' ')}\``);
  let server: ServerHandle;
  try {
    server = await startServer(MAIN_JS, args, url);
  } catch (err) {
    record.error = `server start failed: ${errorText(err)}`;
    progress(`${load.id}: FAILED — ${record.error}`);
    return record;
  }
  const started = performance.now();
  progress(`${load.id}: server ready in ${(server.startupMs / 1000).toFixed(1)}s (pid ${server.pid}); ${load.description} — ${load.concurrency} client(s), warm-up ${WARMUP_MS / 1000}s + ${load.durationMs / 1000}s measured`);

  try {
    const { report, before, after } = await loadWithWindow(
      {
        url: `${url}/predict?model=${encodeURIComponent(entry.name)}`,
        concurrency: load.concurrency,
        durationMs: load.durationMs,
        warmupMs: WARMUP_MS,
        bodies: imageBodies(),
      },
      async (loadgen): Promise<{ series: Series[]; cpu: CpuSample }> => {
        const cpu = sampleCpu({ server: server.pid, loadgen });
        return { series: await scrapeMetrics(url), cpu };
      },
    );
    record.load = report;
    record.throughput = report.throughputRps;
    record.latencyMs = report.latencyMs;
    record.errors = report.errors;
    let stats: ServerWindowStats | undefined;
    if (before !== undefined && after !== undefined) {
      stats = windowStats(before.series, after.series, entry.name, after.cpu.at - before.cpu.at);
      const cpu = cpuUsage(before.cpu, after.cpu);
      if (cpu !== undefined) record.cpu = cpu;
    }
    record.server = { ...(stats ?? emptyStats()), startupMs: server.startupMs, args };
    checkDisturbed(record);
    const errors = report.errors > 0 ? `, ${report.errors} ERRORS ${JSON.stringify(report.statusCounts)}` : '';
    progress(
      `${load.id}: done in ${((performance.now() - started) / 1000).toFixed(1)}s — ${report.throughputRps} req/s, p50 ${report.latencyMs.p50} ms${errors}` +
        (stats === undefined ? '' : ` (mean batch ${stats.meanBatchSize}, run ${stats.meanInferenceMs} ms, session busy ${pct(stats.inferenceBusyFraction)})`) +
        cpuNote(record.cpu),
    );
  } catch (err) {
    record.error = errorText(err);
    progress(`${load.id}: FAILED — ${record.error}`);
  }

  const stopped = await server.stop();
  if (record.server !== undefined) {
    record.server.exitCode = stopped.code;
    record.server.exitSignal = stopped.signal;
    record.server.stopMs = stopped.stopMs;
  }
  if (stopped.code === 0) progress(`${load.id}: server stopped by SIGTERM, exit code 0 after ${(stopped.stopMs / 1000).toFixed(1)}s`);
  else {
    const why = `server did not exit cleanly on SIGTERM: ${stopped.signal ?? `code ${stopped.code}`}`;
    progress(`${load.id}: FAIL — ${why}`);
    record.error ??= why;
  }
  return record;
}

function emptyStats(): ServerWindowStats {
  return { batches: 0, meanBatchSize: 0, batchSizeBuckets: {}, meanInferenceMs: 0, inferenceBusyFraction: 0, eventLoopLagMinMs: 0, eventLoopLagP99Ms: 0, eventLoopLagMaxMs: 0, requestsByStatus: {} };
}

// ---- report ------------------------------------------------------------------------------

interface ResultRow {
  measure: string;
  served: string;
  baseline: string;
  comparison: string;
  target: string;
  result: 'PASS' | 'FAIL' | 'ERROR';
  value?: number;
}

function usable(record: RunRecord | undefined): record is RunRecord & { throughput: number; latencyMs: LatencySummaryMs } {
  return record !== undefined && record.error === undefined && record.throughput !== undefined && record.latencyMs !== undefined && record.throughput > 0;
}

function ratioRow(measure: string, servedId: string, baseId: string, minimum: number, baseLabel: string): ResultRow {
  const served = runs.find(servedId);
  const base = runs.find(baseId);
  if (!usable(served) || !usable(base)) {
    return { measure, served: usable(served) ? fmt(served.throughput, 1) : 'error', baseline: usable(base) ? fmt(base.throughput, 1) : 'error', comparison: '—', target: `≥ ${minimum}`, result: 'ERROR' };
  }
  const ratio = served.throughput / base.throughput;
  return {
    measure,
    served: `${fmt(served.throughput, 1)} img/s`,
    baseline: `${fmt(base.throughput, 1)} img/s (${baseLabel})`,
    comparison: `${ratio.toFixed(2)}×`,
    target: `≥ ${minimum}`,
    result: ratio >= minimum ? 'PASS' : 'FAIL',
    value: Math.round(ratio * 1000) / 1000,
  };
}

function latencyRow(measure: string, servedId: string, baseId: string, maximumMs: number): ResultRow {
  const served = runs.find(servedId);
  const base = runs.find(baseId);
  if (!usable(served) || !usable(base)) {
    return { measure, served: usable(served) ? `${fmt(served.latencyMs.p50, 2)} ms` : 'error', baseline: usable(base) ? `${fmt(base.latencyMs.p50, 2)} ms` : 'error', comparison: '—', target: `≤ ${maximumMs} ms`, result: 'ERROR' };
  }
  const diff = served.latencyMs.p50 - base.latencyMs.p50;
  return {
    measure,
    served: `p50 ${fmt(served.latencyMs.p50, 2)} ms`,
    baseline: `p50 ${fmt(base.latencyMs.p50, 2)} ms (raw decode + batch-1 run)`,
    comparison: `${diff >= 0 ? '+' : ''}${diff.toFixed(2)} ms`,
    target: `≤ ${maximumMs} ms`,
    result: diff <= maximumMs ? 'PASS' : 'FAIL',
    value: Math.round(diff * 1000) / 1000,
  };
}

function fmt(value: number, digits: number): string {
  return value.toFixed(digits);
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function settingsTable(): string {
  const rows = runs.kept.map((r) => [
    runLabel(r),
    r.side,
    r.settings.model,
    String(r.settings.maxBatchSize) + (r.settings.maxBatchOverride === undefined ? '' : ' (--max-batch-size)'),
    r.side === 'served' ? `${r.settings.maxQueueDelayMs}` : '— (full batches)',
    `${r.settings.intraOpThreads}/${r.settings.interOpThreads}`,
    r.side === 'served' ? String(r.settings.concurrency) : r.settings.mode === 'sequential' ? '1 (in-process loop)' : 'in-process pipeline',
    `${r.settings.warmupMs / 1000}+${r.settings.durationMs / 1000}`,
  ]);
  return markdownTable(['run', 'side', 'model', 'maxBatchSize', 'maxQueueDelayMs', 'threads intra/inter', 'clients', 'warm-up+measured s'], rows);
}

function latencyTable(): string {
  const rows = runs.kept.map((r) => {
    if (r.error !== undefined || r.latencyMs === undefined) return [runLabel(r), 'error', '', '', '', '', '', ''];
    const l = r.latencyMs;
    const count = r.side === 'served' ? String(r.load?.ok ?? 0) : String(r.raw?.images ?? 0);
    return [runLabel(r), fmt(r.throughput ?? 0, 1), count, String(r.errors ?? 0), fmt(l.p50, 2), fmt(l.p95, 2), fmt(l.p99, 2), fmt(l.max, 2)];
  });
  return markdownTable(['run', 'img/s', 'images', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], rows);
}

function diagnosticsTable(): string {
  const rows = runs.kept.map((r) => {
    if (r.error !== undefined) return [runLabel(r), 'error', '', '', '', '', '', ''];
    const c = r.cpu;
    const own = c === undefined ? '?' : r.side === 'served' ? `server ${c.processCores.server ?? '?'} + loadgen ${c.processCores.loadgen ?? '?'}` : `raw ${c.processCores.raw ?? '?'}`;
    const machine = c === undefined ? '?' : `${c.machineCores} (${pct(c.machineBusyFraction)})`;
    const other = c === undefined ? '?' : String(c.otherCores);
    if (r.side === 'served') {
      const s = r.server;
      const buckets = s === undefined ? '' : Object.entries(s.batchSizeBuckets).map(([k, v]) => `${k}:${v}`).join(' ');
      return [runLabel(r), own, other, machine, s === undefined ? '?' : `${s.meanBatchSize} [${buckets}]`, s === undefined ? '?' : `${s.meanInferenceMs}`, s === undefined ? '?' : pct(s.inferenceBusyFraction), s === undefined ? '?' : `${s.eventLoopLagMinMs}/${s.eventLoopLagP99Ms}/${s.eventLoopLagMaxMs}`];
    }
    const raw = r.raw;
    return [runLabel(r), own, other, machine, raw === undefined ? '?' : String(raw.batchSize), raw === undefined ? '?' : `${raw.inferenceMs.mean}`, raw === undefined ? '?' : pct(raw.inferenceBusyFraction), '—'];
  });
  return markdownTable(['run', 'CPU cores (own processes)', 'CPU other', 'machine busy cores', 'mean batch [sizes:runs]', 'run ms (mean)', 'session busy', 'ev-loop lag min/p99/max ms'], rows);
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date();
  progress(`swarmserve embedded benchmark — node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const defaults = resolveOptions(SERVE_OPTIONS, { only: 'moderation,resnet50' });
  const repository = await loadRepository(defaults.models, ['moderation', 'resnet50']);
  const moderation = repository.models.get('moderation') as ModelEntry;
  const resnet50 = repository.models.get('resnet50') as ModelEntry;
  const images = imagePaths();
  const imageSet = imageNames();
  progress(`image set: ${imageSet.join(', ')}, round-robin, sent as raw image/jpeg bodies`);
  for (const entry of [moderation, resnet50]) {
    const { settings } = serverPlan(entry, 0);
    progress(`${entry.name}: maxBatchSize ${settings.maxBatchSize}, maxQueueDelayMs ${settings.maxQueueDelayMs}, intra-op threads ${settings.intraOpThreads}, inter-op ${settings.interOpThreads}, maxPixels ${settings.maxPixels} (${entry.config.preprocess.layout} ${entry.config.preprocess.width}×${entry.config.preprocess.height}, ${entry.config.preprocess.resize})`);
  }

  // Each served/raw pair runs back to back, so that whatever else the machine does weighs on both alike.
  const seq = SEQUENTIAL_MS + WARMUP_MS + 3_000;
  const tput = THROUGHPUT_MS + WARMUP_MS + 3_000;
  const clients = (n: number): LoadPlan => ({ id: '', description: '', concurrency: n, durationMs: n === 1 ? SEQUENTIAL_MS : THROUGHPUT_MS });
  await runs.measure(seq, (a) => rawRun(a, 'raw-moderation-seq', 'raw moderation, sequential: decode + fill + batch-1 run, one image at a time', moderation, 'sequential', SEQUENTIAL_MS));
  await runs.measure(seq, (a) => servedRun(a, moderation, undefined, { ...clients(1), id: 'served-moderation-1', description: 'served moderation, 1 sequential client' }));
  await runs.measure(tput, (a) => servedRun(a, moderation, undefined, { ...clients(CONCURRENCY), id: 'served-moderation-64', description: `served moderation, ${CONCURRENCY} clients, dynamic batching` }));
  await runs.measure(tput, (a) => rawRun(a, 'raw-moderation', 'raw moderation throughput: full batches, decode overlapping inference', moderation, 'throughput', THROUGHPUT_MS));
  await runs.measure(tput, (a) => servedRun(a, moderation, 1, { ...clients(CONCURRENCY), id: 'served-moderation-64-bs1', description: `served moderation, ${CONCURRENCY} clients, --max-batch-size 1` }));
  await runs.measure(tput, (a) => rawRun(a, 'raw-resnet50', 'raw resnet50 throughput: full batches, decode overlapping inference', resnet50, 'throughput', THROUGHPUT_MS));
  await runs.measure(tput, (a) => servedRun(a, resnet50, undefined, { ...clients(CONCURRENCY), id: 'served-resnet50-64', description: `served resnet50, ${CONCURRENCY} clients, dynamic batching` }));

  const rows: ResultRow[] = [
    ratioRow(`moderation throughput, ${CONCURRENCY} clients: served / raw`, 'served-moderation-64', 'raw-moderation', 0.8, `raw, batch ${runs.find('raw-moderation')?.settings.maxBatchSize ?? '?'}`),
    ratioRow(`resnet50 throughput, ${CONCURRENCY} clients: served / raw`, 'served-resnet50-64', 'raw-resnet50', 0.9, `raw, batch ${runs.find('raw-resnet50')?.settings.maxBatchSize ?? '?'}`),
    ratioRow(`moderation, ${CONCURRENCY} clients: dynamic batching / --max-batch-size 1`, 'served-moderation-64', 'served-moderation-64-bs1', 1.1, 'served, --max-batch-size 1'),
    latencyRow('moderation, 1 sequential client: served p50 − raw p50', 'served-moderation-1', 'raw-moderation-seq', 3),
  ];
  const totalS = (performance.now() - T0) / 1000;
  progress(`all runs done in ${totalS.toFixed(1)}s`);

  const out: string[] = [];
  out.push('', '## Settings (both sides read them from models/<model>/config.json, as the server does)', '');
  out.push(settingsTable());
  out.push('', `Image set: ${imageSet.join(', ')} — round-robin. Served: raw image/jpeg POST bodies to /predict?model=<model>, closed-loop load generator in its own process. Raw: bench/raw-runner.ts in its own process.`);
  out.push('', '## Runs: throughput and latency (served: send → last response byte; raw throughput: decode start → batch done; raw sequential: decode + fill + run)', '');
  out.push(latencyTable());
  out.push('', '## Where the time goes (over each measured window)', '');
  out.push(diagnosticsTable());
  out.push('', `CPU in cores of ${availableParallelism()}; "other" = machine busy − the run's own processes (benchmark driver, anything else on the machine); ⚠ = other > ${DISTURBED_CORES}. Session busy = Σ session.run time / window. Event-loop lag is prom-client's (10 ms sampling timer: an idle loop reads ~10).`);
  out.push('', `## Results (one run, ${startedAt.toISOString()}, ${availableParallelism()} cores, node ${process.version})`, '');
  out.push(markdownTable(['measure', 'served', 'raw / baseline', 'ratio or difference', 'target', 'result'], rows.map((r) => [r.measure, r.served, r.baseline, r.comparison, r.target, r.result === 'PASS' ? 'PASS' : `**${r.result}**`])));
  const disturbed = runs.kept.filter((r) => r.disturbed === true);
  if (disturbed.length > 0) {
    out.push('', `⚠ Disturbed by other work on the machine (> ${DISTURBED_CORES} cores busy outside the benchmark during the window): ${disturbedList(disturbed)} — the rows using them are less reliable.`);
  }
  if (runs.discarded.length > 0) out.push('', `Measured again because disturbed (first attempt kept in the JSON under "discarded"): ${runs.discarded.map((r) => r.id).join(', ')}.`);
  const failed = rows.filter((r) => r.result !== 'PASS');
  out.push('', failed.length === 0 ? 'ALL TARGETS PASS' : `FAIL: ${failed.length} of ${rows.length} targets not met — ${failed.map((r) => r.measure).join('; ')}`);
  process.stdout.write(`${out.join('\n')}\n`);

  writeResults('embedded', startedAt, {
    startedAt: startedAt.toISOString(),
    totalSeconds: Math.round(totalS * 10) / 10,
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? '?', totalMemBytes: totalmem(), loadavgAtEnd: loadavg(), node: process.version, platform: process.platform },
    plan: { warmupMs: WARMUP_MS, throughputMs: THROUGHPUT_MS, sequentialMs: SEQUENTIAL_MS, concurrency: CONCURRENCY, imageSet: images.map((p) => p.slice(ROOT.length + 1)) },
    thresholds: { disturbedCores: DISTURBED_CORES, quietCores: QUIET_CORES, quietMaxWaitMs: QUIET_MAX_WAIT_MS, budgetMs: BUDGET_MS },
    results: rows,
    runs: runs.kept,
    discarded: runs.discarded,
  });
  return runs.kept.some((r) => r.error !== undefined) ? 1 : 0;
}

runDriver('bench:embedded', main);
