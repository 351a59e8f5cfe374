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
// These runs use version 1 of each model (FP32). The INT8 section then compares version 2
// (INT8, `swarmserve models quantize`) with it, on the CPU flags printed from /proc/cpuinfo:
//   raw INT8 / raw FP32: both versions in one raw process, inference only, interleaved rounds
//                        (bench/raw-compare.ts), at maxBatchSize and the config's threads;
//   served INT8 / raw INT8: as above, with --only <model>:2 and /predict?version=2.
// A missing version 2 fails that section (with what to run), not the rest of the benchmark.
//
// Open Inference Protocol: one served moderation v1 process, 64 clients, the same photos one
// per request, /predict (raw JPEG body) and POST /v2/models/moderation/infer (binary BYTES
// input [1] with the JPEG, classification top 5; bodies built once per photo) in alternating
// windows, ABBA order, so that machine noise weighs on both: OIP / predict throughput ≥ 0.95,
// p50/p95 of each, and no answer other than 200.
//
// Prints a table of ratios against their targets (PASS/FAIL), p50/p95/p99 of every run, where
// the CPU went, and writes everything to bench/results/embedded-<ISO timestamp>.json.
// Exits 0 when every run completed, whatever the targets say (it is a report); 1 if a run failed
// or version 2 is missing.
//
// The machine is shared (2 cores): before each run the driver waits for other work to go quiet
// (at most 15 s per run, 30 s in all), measures how many cores other work took during each
// window (/proc), and measures a disturbed run (> 0.3 cores) once more if the ~7-minute budget
// allows, keeping the less disturbed attempt; disturbed runs are flagged ⚠ in the report.
//
// Durations can be shortened for a smoke test: BENCH_WARMUP_MS, BENCH_DURATION_MS (64-client
// and raw throughput runs), BENCH_SEQ_DURATION_MS (sequential runs), BENCH_ROUND_MS (each
// version's share of one INT8/FP32 round), BENCH_OIP_WINDOW_MS (each protocol's window in one
// OIP/predict round).

import { availableParallelism, loadavg, totalmem } from 'node:os';
import { runLoadInChildProcess } from '../src/loadtest/child.js';
import type { LatencySummaryMs, LoadOptions, LoadReport } from '../src/loadtest/contract.js';
import type { ModelEntry } from '../src/model/repository/contract.js';
import { loadRepository } from '../src/model/repository/repository.js';
import { resolveOptions } from '../src/config/options.js';
import { SERVE_OPTIONS } from '../src/config/serve-config.js';
import { cpuUsage, sampleCpu, type CpuSample, type CpuUsage } from '../src/common/proc-cpu.js';
import { cpuLine, int8Target, readCpuInfo } from './cpuinfo.js';
import {
  DISTURBED_CORES,
  MAIN_JS,
  QUIET_CORES,
  QUIET_MAX_WAIT_MS,
  ROOT,
  Runs,
  T0,
  checkDisturbed,
  envMs,
  errorText,
  loadWithWindow,
  progress,
  runDriver,
  type Measured,
} from './driver.js';
import { imageBodies, imageNames, imagePaths, oipBodies } from './images.js';
import { FP32_VERSION, INT8_VERSION, compareRow, compareTable, missingVersion, modelFileSizes } from './int8-report.js';
import { runCompareInChildProcess, runRawInChildProcess, type CompareReport, type RawMode, type RawReport } from './raw.js';
import { cpuNote, disturbedList, markdownTable, runLabel, writeResults } from './report.js';
import { resultCell, type ResultRow } from './result-row.js';
import { freePort, scrapeMetrics, startServer, windowStats, type Series, type ServerHandle, type ServerWindowStats } from './served.js';

// ---- plan ------------------------------------------------------------------------------

const WARMUP_MS = envMs('BENCH_WARMUP_MS', 3_000);
const THROUGHPUT_MS = envMs('BENCH_DURATION_MS', 15_000);
const SEQUENTIAL_MS = envMs('BENCH_SEQ_DURATION_MS', 10_000);
const CONCURRENCY = 64;
const HOST = '127.0.0.1';
/** INT8 / FP32: rounds of each version (ABBA order), each version's share of a round. */
const COMPARE_ROUNDS = 10;
const ROUND_MS = envMs('BENCH_ROUND_MS', 1_200);
/** OIP / predict: rounds of one window per protocol (ABBA order), each window's length, and its own warm-up (new connections). */
const OIP_ROUNDS = 4;
const OIP_WINDOW_MS = envMs('BENCH_OIP_WINDOW_MS', 5_000);
const OIP_WINDOW_WARMUP_MS = Math.min(WARMUP_MS, 500);
const OIP_TOP_K = 5;
const OIP_MIN_RATIO = 0.95;
/** No re-run starts that would end past this (from the driver's start): the whole script stays under ~7 minutes. */
const BUDGET_MS = 400_000;

// ---- settings: read exactly as the server reads them -------------------------------------

interface Settings {
  model: string;
  /** Loaded alone (`--only <model>:<version>`) and asked for by name (`?version=`). */
  version: string;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  intraOpThreads: number;
  interOpThreads: number;
  maxPixels: number;
  /** `--max-batch-size` given to the server (and used by raw), if any. */
  maxBatchOverride?: number;
}

/** The server's flags for a model version, and the settings it will use (flags > SWARMSERVE_* env > model config). */
function serverPlan(entry: ModelEntry, version: string, port: number, maxBatchOverride?: number): { args: string[]; settings: Settings; modelsDir: string } {
  const only = `${entry.name}:${version}`;
  const args = ['--port', String(port), '--host', HOST, '--only', only, '--log-level', 'warn'];
  if (maxBatchOverride !== undefined) args.push('--max-batch-size', String(maxBatchOverride));
  const flags: Record<string, unknown> = { port: String(port), host: HOST, only, logLevel: 'warn' };
  if (maxBatchOverride !== undefined) flags.maxBatchSize = String(maxBatchOverride);
  const serve = resolveOptions(SERVE_OPTIONS, flags);
  const settings: Settings = {
    model: entry.name,
    version,
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
  settings: Settings & { concurrency: number; warmupMs: number; durationMs: number; mode: RawMode | 'compare' | 'interleaved' };
  /** Images (= 2xx requests) per second in the measured window. */
  throughput?: number;
  latencyMs?: LatencySummaryMs;
  errors?: number;
  load?: LoadReport;
  server?: ServerWindowStats & { startupMs: number; exitCode?: number | null; exitSignal?: string | null; stopMs?: number; args: string[] };
  raw?: RawReport;
  /** mode 'compare': two versions interleaved; `settings.version` is the candidate's. */
  compare?: CompareReport;
  /** mode 'interleaved': OIP infer against /predict on one server; throughput and latency are OIP's. */
  protocols?: ProtocolCompare;
}

type Protocol = 'predict' | 'oip';

/** One protocol's measured window in an OIP / predict round. */
interface ProtocolWindow {
  protocol: Protocol;
  round: number;
  report: LoadReport;
  cpu?: CpuUsage;
  server?: ServerWindowStats;
}

/** One protocol over all its windows. */
interface ProtocolSide {
  url: string;
  /** Σ 2xx / Σ measured windows, per second. */
  throughput: number;
  requests: number;
  ok: number;
  /** Answers other than 200 (transport failures included). */
  failures: number;
  statusCounts: Record<string, number>;
  measuredMs: number;
  /** p50, p95 …: the median over the windows of each window's percentile. */
  latencyMs: LatencySummaryMs;
  meanBatchSize?: number;
}

interface ProtocolCompare {
  rounds: number;
  windowMs: number;
  windowWarmupMs: number;
  /** Bytes of the OIP JSON header (Inference-Header-Content-Length), the same for every photo. */
  oipHeaderBytes: number;
  predict: ProtocolSide;
  oip: ProtocolSide;
  /** OIP throughput / predict throughput over all windows. */
  ratio: number;
  /** Per round. */
  roundRatios: number[];
  windows: ProtocolWindow[];
}

const runs = new Runs<RunRecord>(BUDGET_MS);

async function rawRun(
  attempt: number,
  id: string,
  description: string,
  entry: ModelEntry,
  version: string,
  mode: RawMode,
  durationMs: number,
): Promise<RunRecord> {
  const { settings, modelsDir } = serverPlan(entry, version, 0);
  const record: RunRecord = { id, side: 'raw', description, attempt, settings: { ...settings, concurrency: 1, warmupMs: WARMUP_MS, durationMs, mode } };
  const started = performance.now();
  progress(`${id}: ${description} — warm-up ${WARMUP_MS / 1000}s + ${durationMs / 1000}s measured`);
  let pid: number | undefined;
  let cpuStart: CpuSample | undefined;
  let cpuEnd: CpuSample | undefined;
  try {
    const report = await runRawInChildProcess(
      {
        mode,
        modelsDir,
        model: entry.name,
        version,
        imagePaths: imagePaths(),
        maxBatchSize: settings.maxBatchSize,
        intraOpThreads: settings.intraOpThreads,
        maxPixels: settings.maxPixels,
        warmupMs: WARMUP_MS,
        durationMs,
      },
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
        (mode === 'sequential'
          ? ` (decode p50 ${report.decodeMs?.p50} ms, run p50 ${report.inferenceMs.p50} ms)`
          : ` (batch ${report.batchSize}, run p50 ${report.inferenceMs.p50} ms, session busy ${pct(report.inferenceBusyFraction)})`) +
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

/**
 * Raw INT8 against raw FP32 (or any two versions): inference only, interleaved rounds in one
 * process (bench/raw-compare.ts). The record's throughput is the candidate's.
 */
async function compareRun(attempt: number, id: string, entry: ModelEntry, versions: readonly [string, string]): Promise<RunRecord> {
  const { settings, modelsDir } = serverPlan(entry, versions[1], 0);
  const durationMs = 2 * COMPARE_ROUNDS * ROUND_MS;
  const description = `raw ${entry.name} v${versions[1]} / v${versions[0]}: inference only, batch ${settings.maxBatchSize}, ${settings.intraOpThreads} threads, ${COMPARE_ROUNDS} interleaved rounds`;
  const record: RunRecord = {
    id,
    side: 'raw',
    description,
    attempt,
    settings: { ...settings, concurrency: 1, warmupMs: WARMUP_MS, durationMs, mode: 'compare' },
  };
  const started = performance.now();
  progress(`${id}: ${description} — warm-up ${WARMUP_MS / 1000}s + ${COMPARE_ROUNDS} × 2 × ${ROUND_MS / 1000}s measured`);
  let pid: number | undefined;
  let cpuStart: CpuSample | undefined;
  let cpuEnd: CpuSample | undefined;
  try {
    const report = await runCompareInChildProcess(
      {
        modelsDir,
        model: entry.name,
        versions,
        imagePaths: imagePaths(),
        batchSize: settings.maxBatchSize,
        intraOpThreads: settings.intraOpThreads,
        maxPixels: settings.maxPixels,
        warmupMs: WARMUP_MS,
        rounds: COMPARE_ROUNDS,
        roundMs: ROUND_MS,
      },
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
    record.compare = report;
    record.throughput = report.candidate.throughputIps;
    record.latencyMs = report.candidate.msPerImage;
    record.errors = 0;
    record.settings.maxBatchSize = report.batchSize;
    if (cpuStart !== undefined && cpuEnd !== undefined) {
      const cpu = cpuUsage(cpuStart, cpuEnd);
      if (cpu !== undefined) record.cpu = cpu;
    }
    checkDisturbed(record);
    const [b, c] = [report.baseline, report.candidate];
    progress(
      `${id}: done in ${((performance.now() - started) / 1000).toFixed(1)}s — v${c.version} ${c.throughputIps} img/s (${c.msPerImage.p50} ms/image), v${b.version} ${b.throughputIps} img/s (${b.msPerImage.p50} ms/image): ` +
        `${report.ratio}× (per round: median ${report.roundRatio.median}, ${report.roundRatio.min}–${report.roundRatio.max})${cpuNote(record.cpu)}`,
    );
  } catch (err) {
    record.error = errorText(err);
    progress(`${id}: FAILED — ${record.error}`);
  }
  return record;
}

/** Starts a server for one version of `entry`, applies one load, stops the server (SIGTERM, expects exit 0). */
async function servedRun(attempt: number, entry: ModelEntry, version: string, maxBatchOverride: number | undefined, load: LoadPlan): Promise<RunRecord> {
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const { args, settings } = serverPlan(entry, version, port, maxBatchOverride);
  const record: RunRecord = {
    id: load.id,
    side: 'served',
    description: load.description,
    attempt,
    settings: {
      ...settings,
      concurrency: load.concurrency,
      warmupMs: WARMUP_MS,
      durationMs: load.durationMs,
      mode: load.concurrency === 1 ? 'sequential' : 'throughput',
    },
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
  progress(
    `${load.id}: server ready in ${(server.startupMs / 1000).toFixed(1)}s (pid ${server.pid}); ${load.description} — ${load.concurrency} client(s), warm-up ${WARMUP_MS / 1000}s + ${load.durationMs / 1000}s measured`,
  );

  try {
    const { report, before, after } = await loadWithWindow(
      {
        url: `${url}/predict?model=${encodeURIComponent(entry.name)}&version=${version}`,
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
        (stats === undefined
          ? ''
          : ` (mean batch ${stats.meanBatchSize}, run ${stats.meanInferenceMs} ms, session busy ${pct(stats.inferenceBusyFraction)}, ${stats.majorGcs} full GCs, GC pause ${stats.gcPauseMsPerRequest} ms/request)`) +
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

/**
 * OIP binary infer against /predict on one served moderation process: OIP_ROUNDS rounds of one
 * window per protocol, ABBA order, each window a fresh load process (64 clients, closed loop,
 * photos round-robin) with a short warm-up of its own after one full warm-up of the server.
 */
async function protocolsRun(attempt: number, entry: ModelEntry, version: string): Promise<RunRecord> {
  const id = `served-${entry.name}-oip-vs-predict`;
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const { args, settings } = serverPlan(entry, version, port);
  const description = `served ${entry.name}, ${CONCURRENCY} clients, 1 image/request: OIP binary BYTES infer vs /predict, ${OIP_ROUNDS} rounds × ${OIP_WINDOW_MS / 1000}s each, ABBA`;
  const durationMs = 2 * OIP_ROUNDS * OIP_WINDOW_MS;
  const record: RunRecord = {
    id,
    side: 'served',
    description,
    attempt,
    settings: { ...settings, concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs, mode: 'interleaved' },
  };
  // The catalog's defaults (src/gateway/catalog.ts) when the config names none.
  const oip = oipBodies(entry.config.inputName ?? 'input', entry.config.outputName ?? 'output', OIP_TOP_K);
  const urls: Record<Protocol, string> = {
    predict: `${url}/predict?model=${encodeURIComponent(entry.name)}&version=${version}`,
    oip: `${url}/v2/models/${encodeURIComponent(entry.name)}/versions/${version}/infer`,
  };
  const loads: Record<Protocol, Pick<LoadOptions, 'url' | 'bodies' | 'headers'>> = {
    predict: { url: urls.predict, bodies: imageBodies() },
    oip: { url: urls.oip, bodies: oip.bodies, headers: { 'inference-header-content-length': String(oip.headerLength) } },
  };
  progress(`${id}: starting \`node dist/src/cli/main.js serve ${args.join(' ')}\``);
  let server: ServerHandle;
  try {
    server = await startServer(MAIN_JS, args, url);
  } catch (err) {
    record.error = `server start failed: ${errorText(err)}`;
    progress(`${id}: FAILED — ${record.error}`);
    return record;
  }
  const started = performance.now();
  progress(
    `${id}: server ready in ${(server.startupMs / 1000).toFixed(1)}s (pid ${server.pid}); ${description} (warm-up ${WARMUP_MS / 1000}s, then ${OIP_WINDOW_WARMUP_MS / 1000}s per window)`,
  );
  const windows: ProtocolWindow[] = [];
  try {
    // The server's warm-up, half on each protocol.
    for (const protocol of ['predict', 'oip'] as const) {
      const warm = await runLoadInChildProcess({ ...loads[protocol], concurrency: CONCURRENCY, warmupMs: 0, durationMs: WARMUP_MS / 2 });
      if (warm.ok === 0) throw new Error(`warm-up of ${protocol} got no 2xx answer: ${JSON.stringify(warm.statusCounts)}`);
    }
    for (let round = 0; round < OIP_ROUNDS; round++) {
      const order: Protocol[] = round % 2 === 0 ? ['predict', 'oip'] : ['oip', 'predict'];
      for (const protocol of order) {
        const { report, before, after } = await loadWithWindow(
          { ...loads[protocol], concurrency: CONCURRENCY, warmupMs: OIP_WINDOW_WARMUP_MS, durationMs: OIP_WINDOW_MS },
          async (loadgen): Promise<{ series: Series[]; cpu: CpuSample }> => {
            const cpu = sampleCpu({ server: server.pid, loadgen });
            return { series: await scrapeMetrics(url), cpu };
          },
        );
        const window: ProtocolWindow = { protocol, round, report };
        if (before !== undefined && after !== undefined) {
          window.server = windowStats(before.series, after.series, entry.name, after.cpu.at - before.cpu.at);
          const cpu = cpuUsage(before.cpu, after.cpu);
          if (cpu !== undefined) window.cpu = cpu;
        }
        windows.push(window);
      }
    }
    const side = (protocol: Protocol): ProtocolSide =>
      protocolSide(
        urls[protocol],
        windows.filter((w) => w.protocol === protocol),
      );
    const [p, o] = [side('predict'), side('oip')];
    const roundRatios = Array.from({ length: OIP_ROUNDS }, (_, round) => {
      const of = (protocol: Protocol): number => windows.find((w) => w.round === round && w.protocol === protocol)?.report.throughputRps ?? 0;
      return of('predict') > 0 ? round3(of('oip') / of('predict')) : 0;
    });
    record.protocols = {
      rounds: OIP_ROUNDS,
      windowMs: OIP_WINDOW_MS,
      windowWarmupMs: OIP_WINDOW_WARMUP_MS,
      oipHeaderBytes: oip.headerLength,
      predict: p,
      oip: o,
      ratio: p.throughput > 0 ? round3(o.throughput / p.throughput) : 0,
      roundRatios,
      windows,
    };
    record.throughput = o.throughput;
    record.latencyMs = o.latencyMs;
    record.errors = o.failures + p.failures;
    const cpu = meanCpu(windows.flatMap((w) => (w.cpu === undefined ? [] : [w.cpu])));
    if (cpu !== undefined) record.cpu = cpu;
    checkDisturbed(record);
    const failures = record.errors > 0 ? `, ${record.errors} NON-200 (predict ${JSON.stringify(p.statusCounts)}, oip ${JSON.stringify(o.statusCounts)})` : '';
    progress(
      `${id}: done in ${((performance.now() - started) / 1000).toFixed(1)}s — OIP ${o.throughput} img/s (p50 ${o.latencyMs.p50} ms, p95 ${o.latencyMs.p95} ms), /predict ${p.throughput} img/s (p50 ${p.latencyMs.p50} ms, p95 ${p.latencyMs.p95} ms): ` +
        `${record.protocols.ratio}× (per round ${roundRatios.join(', ')})${failures}${cpuNote(record.cpu)}`,
    );
  } catch (err) {
    record.error = errorText(err);
    progress(`${id}: FAILED — ${record.error}`);
  }
  const stopped = await server.stop();
  if (stopped.code !== 0) {
    const why = `server did not exit cleanly on SIGTERM: ${stopped.signal ?? `code ${stopped.code}`}`;
    progress(`${id}: FAIL — ${why}`);
    record.error ??= why;
  }
  return record;
}

function protocolSide(url: string, windows: readonly ProtocolWindow[]): ProtocolSide {
  let requests = 0;
  let ok = 0;
  let measuredMs = 0;
  const statusCounts: Record<string, number> = {};
  for (const { report } of windows) {
    requests += report.requests;
    ok += report.ok;
    measuredMs += report.durationMs;
    for (const [status, n] of Object.entries(report.statusCounts)) statusCounts[status] = (statusCounts[status] ?? 0) + n;
  }
  const mid = (pick: (l: LatencySummaryMs) => number): number => {
    const values = windows.map((w) => pick(w.report.latencyMs)).sort((a, b) => a - b);
    const n = values.length;
    return n === 0 ? 0 : round3(n % 2 === 1 ? (values[(n - 1) / 2] as number) : ((values[n / 2 - 1] as number) + (values[n / 2] as number)) / 2);
  };
  const latencyMs: LatencySummaryMs = {
    mean: mid((l) => l.mean),
    p50: mid((l) => l.p50),
    p90: mid((l) => l.p90),
    p95: mid((l) => l.p95),
    p99: mid((l) => l.p99),
    max: Math.max(0, ...windows.map((w) => w.report.latencyMs.max)),
  };
  const side: ProtocolSide = {
    url,
    throughput: measuredMs > 0 ? Math.round((ok / measuredMs) * 1000 * 10) / 10 : 0,
    requests,
    ok,
    failures: requests - (statusCounts['200'] ?? 0),
    statusCounts,
    measuredMs: Math.round(measuredMs),
    latencyMs,
  };
  const batches = windows.reduce((sum, w) => sum + (w.server?.batches ?? 0), 0);
  if (batches > 0) side.meanBatchSize = round3(windows.reduce((sum, w) => sum + (w.server?.batches ?? 0) * (w.server?.meanBatchSize ?? 0), 0) / batches);
  return side;
}

/** Time-weighted mean of the windows' CPU (each window's load generator is its own process, reported as "loadgen"). */
function meanCpu(list: readonly CpuUsage[]): CpuUsage | undefined {
  const total = list.reduce((sum, c) => sum + c.windowS, 0);
  if (total <= 0) return undefined;
  const mean = (pick: (c: CpuUsage) => number): number => Math.round((list.reduce((sum, c) => sum + pick(c) * c.windowS, 0) / total) * 100) / 100;
  const names = [...new Set(list.flatMap((c) => Object.keys(c.processCores)))];
  return {
    windowS: Math.round(total * 100) / 100,
    machineCores: mean((c) => c.machineCores),
    machineBusyFraction: mean((c) => c.machineBusyFraction),
    processCores: Object.fromEntries(names.map((n) => [n, mean((c) => c.processCores[n] ?? 0)])),
    otherCores: mean((c) => c.otherCores),
  };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function emptyStats(): ServerWindowStats {
  return {
    batches: 0,
    meanBatchSize: 0,
    batchSizeBuckets: {},
    meanInferenceMs: 0,
    inferenceBusyFraction: 0,
    eventLoopLagMinMs: 0,
    eventLoopLagP99Ms: 0,
    eventLoopLagMaxMs: 0,
    requestsByStatus: {},
    majorGcs: 0,
    gcPauseMsPerRequest: 0,
  };
}

// ---- report ------------------------------------------------------------------------------

function usable(record: RunRecord | undefined): record is RunRecord & { throughput: number; latencyMs: LatencySummaryMs } {
  return record !== undefined && record.error === undefined && record.throughput !== undefined && record.latencyMs !== undefined && record.throughput > 0;
}

/** served / base throughput; `minimum` undefined: reported without a target (INFO). */
function ratioRow(measure: string, servedId: string, baseId: string, minimum: number | undefined, baseLabel: string): ResultRow {
  const served = runs.find(servedId);
  const base = runs.find(baseId);
  const target = minimum === undefined ? '— (reported)' : `≥ ${minimum}`;
  if (!usable(served) || !usable(base)) {
    return {
      measure,
      served: usable(served) ? fmt(served.throughput, 1) : 'error',
      baseline: usable(base) ? fmt(base.throughput, 1) : 'error',
      comparison: '—',
      target,
      result: 'ERROR',
    };
  }
  const ratio = served.throughput / base.throughput;
  return {
    measure,
    served: `${fmt(served.throughput, 1)} img/s`,
    baseline: `${fmt(base.throughput, 1)} img/s (${baseLabel})`,
    comparison: `${ratio.toFixed(2)}×`,
    target,
    result: minimum === undefined ? 'INFO' : ratio >= minimum ? 'PASS' : 'FAIL',
    value: Math.round(ratio * 1000) / 1000,
  };
}

function latencyRow(measure: string, servedId: string, baseId: string, maximumMs: number): ResultRow {
  const served = runs.find(servedId);
  const base = runs.find(baseId);
  if (!usable(served) || !usable(base)) {
    return {
      measure,
      served: usable(served) ? `${fmt(served.latencyMs.p50, 2)} ms` : 'error',
      baseline: usable(base) ? `${fmt(base.latencyMs.p50, 2)} ms` : 'error',
      comparison: '—',
      target: `≤ ${maximumMs} ms`,
      result: 'ERROR',
    };
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
  const clients = (r: RunRecord): string => {
    if (r.side === 'served') return String(r.settings.concurrency);
    if (r.settings.mode === 'compare') return 'interleaved rounds, inference only';
    return r.settings.mode === 'sequential' ? '1 (in-process loop)' : 'in-process pipeline';
  };
  const rows = runs.kept.map((r) => [
    runLabel(r),
    r.side,
    r.settings.model,
    r.compare === undefined ? r.settings.version : `${r.compare.baseline.version} vs ${r.compare.candidate.version}`,
    String(r.settings.maxBatchSize) + (r.settings.maxBatchOverride === undefined ? '' : ' (--max-batch-size)'),
    r.side === 'served' ? `${r.settings.maxQueueDelayMs}` : '— (full batches)',
    `${r.settings.intraOpThreads}/${r.settings.interOpThreads}`,
    clients(r),
    `${r.settings.warmupMs / 1000}+${r.settings.durationMs / 1000}`,
  ]);
  return markdownTable(['run', 'side', 'model', 'version', 'maxBatchSize', 'maxQueueDelayMs', 'threads intra/inter', 'clients', 'warm-up+measured s'], rows);
}

/** The runs with per-image latencies (the interleaved comparisons have their own tables). */
function pipelineRuns(): RunRecord[] {
  return runs.kept.filter((r) => r.settings.mode !== 'compare' && r.settings.mode !== 'interleaved');
}

function latencyTable(): string {
  const rows = pipelineRuns().map((r) => {
    if (r.error !== undefined || r.latencyMs === undefined) return [runLabel(r), 'error', '', '', '', '', '', ''];
    const l = r.latencyMs;
    const count = r.side === 'served' ? String(r.load?.ok ?? 0) : String(r.raw?.images ?? 0);
    return [runLabel(r), fmt(r.throughput ?? 0, 1), count, String(r.errors ?? 0), fmt(l.p50, 2), fmt(l.p95, 2), fmt(l.p99, 2), fmt(l.max, 2)];
  });
  return markdownTable(['run', 'img/s', 'images', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'], rows);
}

function diagnosticsTable(): string {
  const rows = pipelineRuns().map((r) => {
    if (r.error !== undefined) return [runLabel(r), 'error', '', '', '', '', '', '', ''];
    const c = r.cpu;
    const own =
      c === undefined
        ? '?'
        : r.side === 'served'
          ? `server ${c.processCores.server ?? '?'} + loadgen ${c.processCores.loadgen ?? '?'}`
          : `raw ${c.processCores.raw ?? '?'}`;
    const machine = c === undefined ? '?' : `${c.machineCores} (${pct(c.machineBusyFraction)})`;
    const other = c === undefined ? '?' : String(c.otherCores);
    if (r.side === 'served') {
      const s = r.server;
      const buckets =
        s === undefined
          ? ''
          : Object.entries(s.batchSizeBuckets)
              .map(([k, v]) => `${k}:${v}`)
              .join(' ');
      return [
        runLabel(r),
        own,
        other,
        machine,
        s === undefined ? '?' : `${s.meanBatchSize} [${buckets}]`,
        s === undefined ? '?' : `${s.meanInferenceMs}`,
        s === undefined ? '?' : pct(s.inferenceBusyFraction),
        s === undefined ? '?' : `${s.eventLoopLagMinMs}/${s.eventLoopLagP99Ms}/${s.eventLoopLagMaxMs}`,
        s === undefined ? '?' : `${s.majorGcs} / ${s.gcPauseMsPerRequest}`,
      ];
    }
    const raw = r.raw;
    return [
      runLabel(r),
      own,
      other,
      machine,
      raw === undefined ? '?' : String(raw.batchSize),
      raw === undefined ? '?' : `${raw.inferenceMs.mean}`,
      raw === undefined ? '?' : pct(raw.inferenceBusyFraction),
      '—',
      '—',
    ];
  });
  return markdownTable(
    [
      'run',
      'CPU cores (own processes)',
      'CPU other',
      'machine busy cores',
      'mean batch [sizes:runs]',
      'run ms (mean)',
      'session busy',
      'ev-loop lag min/p99/max ms',
      'full GCs / GC pause ms per request',
    ],
    rows,
  );
}

/** OIP / predict throughput (≥ OIP_MIN_RATIO) and answers other than 200 (none allowed). */
function protocolRows(record: RunRecord | undefined): ResultRow[] {
  const ratioMeasure = `moderation throughput, ${CONCURRENCY} clients, 1 image/request: OIP binary infer / /predict (interleaved)`;
  const failureMeasure = 'moderation OIP and /predict: answers other than 200';
  const c = record?.protocols;
  if (record === undefined || record.error !== undefined || c === undefined || c.predict.throughput <= 0) {
    const error = (measure: string, target: string): ResultRow => ({ measure, served: 'error', baseline: 'error', comparison: '—', target, result: 'ERROR' });
    return [error(ratioMeasure, `≥ ${OIP_MIN_RATIO}`), error(failureMeasure, '= 0')];
  }
  const failures = c.oip.failures + c.predict.failures;
  return [
    {
      measure: ratioMeasure,
      served: `${fmt(c.oip.throughput, 1)} img/s`,
      baseline: `${fmt(c.predict.throughput, 1)} img/s (/predict, same server)`,
      comparison: `${c.ratio.toFixed(3)}× (rounds ${c.roundRatios.map((r) => r.toFixed(2)).join(', ')})`,
      target: `≥ ${OIP_MIN_RATIO}`,
      result: c.ratio >= OIP_MIN_RATIO ? 'PASS' : 'FAIL',
      value: c.ratio,
    },
    {
      measure: failureMeasure,
      served: `${c.oip.failures} of ${c.oip.requests}`,
      baseline: `${c.predict.failures} of ${c.predict.requests}`,
      comparison: String(failures),
      target: '= 0',
      result: failures === 0 ? 'PASS' : 'FAIL',
      value: failures,
    },
  ];
}

function protocolTable(record: RunRecord): string {
  const c = record.protocols as ProtocolCompare;
  const row = (name: string, s: ProtocolSide): string[] => [
    name,
    fmt(s.throughput, 1),
    String(s.ok),
    `${s.failures}${s.failures > 0 ? ` ${JSON.stringify(s.statusCounts)}` : ''}`,
    fmt(s.latencyMs.p50, 2),
    fmt(s.latencyMs.p95, 2),
    fmt(s.latencyMs.p99, 2),
    s.meanBatchSize === undefined ? '?' : String(s.meanBatchSize),
  ];
  const cpu =
    record.cpu === undefined
      ? ''
      : `\n\nCPU over the windows (mean, cores): ${Object.entries(record.cpu.processCores)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}, other ${record.cpu.otherCores}${record.disturbed === true ? ' ⚠' : ''}.`;
  return (
    markdownTable(
      ['protocol', 'img/s', 'images', 'non-200', 'p50 ms', 'p95 ms', 'p99 ms', 'mean batch'],
      [row(`OIP infer (${runLabel(record)})`, c.oip), row('/predict', c.predict)],
    ) + cpu
  );
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date();
  const cpuInfo = readCpuInfo();
  const target = int8Target(cpuInfo);
  progress(
    `swarmserve embedded benchmark — node ${process.version}, ${availableParallelism()} cores, load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  progress(`CPU: ${cpuLine(cpuInfo)}; INT8 / FP32 target ${target.reason}`);
  const defaults = resolveOptions(SERVE_OPTIONS, { only: 'moderation,resnet50' });
  const repository = await loadRepository(defaults.models, ['moderation', 'resnet50']);
  const moderation = repository.models.get('moderation') as ModelEntry;
  const resnet50 = repository.models.get('resnet50') as ModelEntry;
  const images = imagePaths();
  const imageSet = imageNames();
  progress(`image set: ${imageSet.join(', ')}, round-robin, sent as raw image/jpeg bodies`);
  for (const entry of [moderation, resnet50]) {
    const { settings } = serverPlan(entry, FP32_VERSION, 0);
    progress(
      `${entry.name}: maxBatchSize ${settings.maxBatchSize}, maxQueueDelayMs ${settings.maxQueueDelayMs}, intra-op threads ${settings.intraOpThreads}, inter-op ${settings.interOpThreads}, maxPixels ${settings.maxPixels} (${entry.config.preprocess.layout} ${entry.config.preprocess.width}×${entry.config.preprocess.height}, ${entry.config.preprocess.resize}); versions: ${modelFileSizes(entry)}`,
    );
  }
  // Checked up front so that the message is seen early; the FP32 runs go ahead regardless.
  const missing = new Map<string, string>();
  for (const entry of [resnet50, moderation]) {
    const why = missingVersion(entry);
    if (why === undefined) continue;
    missing.set(entry.name, why);
    progress(`INT8 section FAILS for ${why}`);
  }

  // Each served/raw pair runs back to back, so that whatever else the machine does weighs on both alike.
  const seq = SEQUENTIAL_MS + WARMUP_MS + 3_000;
  const tput = THROUGHPUT_MS + WARMUP_MS + 3_000;
  const cmp = 2 * COMPARE_ROUNDS * ROUND_MS + WARMUP_MS + 5_000;
  const v1 = FP32_VERSION;
  const v2 = INT8_VERSION;
  const clients = (n: number): LoadPlan => ({ id: '', description: '', concurrency: n, durationMs: n === 1 ? SEQUENTIAL_MS : THROUGHPUT_MS });
  // A re-run must leave room for every run still to come, the INT8 ones included.
  const oipEstimate = 2 * OIP_ROUNDS * (OIP_WINDOW_MS + OIP_WINDOW_WARMUP_MS + 500) + WARMUP_MS + 5_000;
  runs.plan(2 * seq + 5 * tput + oipEstimate + (2 - missing.size) * (cmp + 2 * tput));
  await runs.measure(seq, (a) =>
    rawRun(
      a,
      'raw-moderation-seq',
      'raw moderation, sequential: decode + fill + batch-1 run, one image at a time',
      moderation,
      v1,
      'sequential',
      SEQUENTIAL_MS,
    ),
  );
  await runs.measure(seq, (a) =>
    servedRun(a, moderation, v1, undefined, { ...clients(1), id: 'served-moderation-1', description: 'served moderation, 1 sequential client' }),
  );
  await runs.measure(tput, (a) =>
    servedRun(a, moderation, v1, undefined, {
      ...clients(CONCURRENCY),
      id: 'served-moderation-64',
      description: `served moderation, ${CONCURRENCY} clients, dynamic batching`,
    }),
  );
  await runs.measure(tput, (a) =>
    rawRun(a, 'raw-moderation', 'raw moderation throughput: full batches, decode overlapping inference', moderation, v1, 'throughput', THROUGHPUT_MS),
  );
  await runs.measure(tput, (a) =>
    servedRun(a, moderation, v1, 1, {
      ...clients(CONCURRENCY),
      id: 'served-moderation-64-bs1',
      description: `served moderation, ${CONCURRENCY} clients, --max-batch-size 1`,
    }),
  );
  await runs.measure(tput, (a) =>
    rawRun(a, 'raw-resnet50', 'raw resnet50 throughput: full batches, decode overlapping inference', resnet50, v1, 'throughput', THROUGHPUT_MS),
  );
  await runs.measure(tput, (a) =>
    servedRun(a, resnet50, v1, undefined, {
      ...clients(CONCURRENCY),
      id: 'served-resnet50-64',
      description: `served resnet50, ${CONCURRENCY} clients, dynamic batching`,
    }),
  );
  // Open Inference Protocol (binary BYTES) against /predict: one server, interleaved windows.
  await runs.measure(oipEstimate, (a) => protocolsRun(a, moderation, v1));

  // INT8 (version 2): raw against raw FP32 interleaved, then the raw/served pair as above.
  for (const entry of [resnet50, moderation]) {
    if (missing.has(entry.name)) continue;
    const name = entry.name;
    await runs.measure(cmp, (a) => compareRun(a, `raw-${name}-int8-vs-fp32`, entry, [v1, v2]));
    await runs.measure(tput, (a) =>
      rawRun(a, `raw-${name}-int8`, `raw ${name} v${v2} (INT8) throughput: full batches, decode overlapping inference`, entry, v2, 'throughput', THROUGHPUT_MS),
    );
    await runs.measure(tput, (a) =>
      servedRun(a, entry, v2, undefined, {
        ...clients(CONCURRENCY),
        id: `served-${name}-int8-64`,
        description: `served ${name} v${v2} (INT8), ${CONCURRENCY} clients, dynamic batching`,
      }),
    );
  }

  const batchOf = (id: string): string => `raw, batch ${runs.find(id)?.settings.maxBatchSize ?? '?'}`;
  const rows: ResultRow[] = [
    ratioRow(`moderation throughput, ${CONCURRENCY} clients: served / raw`, 'served-moderation-64', 'raw-moderation', 0.8, batchOf('raw-moderation')),
    ratioRow(`resnet50 throughput, ${CONCURRENCY} clients: served / raw`, 'served-resnet50-64', 'raw-resnet50', 0.9, batchOf('raw-resnet50')),
    ratioRow(
      `moderation, ${CONCURRENCY} clients: dynamic batching / --max-batch-size 1`,
      'served-moderation-64',
      'served-moderation-64-bs1',
      1.1,
      'served, --max-batch-size 1',
    ),
    latencyRow('moderation, 1 sequential client: served p50 − raw p50', 'served-moderation-1', 'raw-moderation-seq', 3),
  ];
  // moderation's INT8 / FP32 has no target (its served throughput is bounded by JPEG decoding);
  // its served / raw keeps the FP32 row's 0.8.
  const int8Rows: ResultRow[] = [];
  for (const [entry, int8Minimum, servedMinimum] of [
    [resnet50, target.minimum, 0.9],
    [moderation, undefined, 0.8],
  ] as const) {
    const name = entry.name;
    const compareId = `raw-${name}-int8-vs-fp32`;
    const batch = runs.find(compareId)?.settings.maxBatchSize ?? serverPlan(entry, v2, 0).settings.maxBatchSize;
    const threads = serverPlan(entry, v2, 0).settings.intraOpThreads;
    const why = missing.get(name);
    const int8TargetText = int8Minimum === undefined ? '— (reported)' : target.reason;
    int8Rows.push(
      compareRow(
        `${name} raw INT8 / raw FP32: inference only, batch ${batch}, ${threads} threads`,
        runs.find(compareId)?.compare,
        int8Minimum,
        int8TargetText,
        why === undefined ? undefined : `version ${v2} missing`,
      ),
    );
    if (why !== undefined) {
      const row = (measure: string, t: string): ResultRow => ({
        measure,
        served: `version ${v2} missing`,
        baseline: '',
        comparison: '—',
        target: t,
        result: 'ERROR',
      });
      int8Rows.push(
        row(`${name} throughput, ${CONCURRENCY} clients: served INT8 / raw INT8`, `≥ ${servedMinimum}`),
        row(`${name}, ${CONCURRENCY} clients: served INT8 / served FP32`, '— (reported)'),
      );
      continue;
    }
    int8Rows.push(
      ratioRow(
        `${name} throughput, ${CONCURRENCY} clients: served INT8 / raw INT8`,
        `served-${name}-int8-64`,
        `raw-${name}-int8`,
        servedMinimum,
        batchOf(`raw-${name}-int8`),
      ),
      ratioRow(`${name}, ${CONCURRENCY} clients: served INT8 / served FP32`, `served-${name}-int8-64`, `served-${name}-64`, undefined, 'served FP32'),
    );
  }
  const oipRun = runs.find(`served-${moderation.name}-oip-vs-predict`);
  const oipRows = protocolRows(oipRun);
  const totalS = (performance.now() - T0) / 1000;
  progress(`all runs done in ${totalS.toFixed(1)}s`);

  const resultsTable = (list: readonly ResultRow[], first: string): string =>
    markdownTable(
      ['measure', first, 'raw / baseline', 'ratio or difference', 'target', 'result'],
      list.map((r) => [r.measure, r.served, r.baseline, r.comparison, r.target, resultCell(r)]),
    );
  const out: string[] = [];
  out.push('', '## Settings (both sides read them from models/<model>/config.json, as the server does)', '');
  out.push(settingsTable());
  out.push(
    '',
    `Image set: ${imageSet.join(', ')} — round-robin. Served: raw image/jpeg POST bodies to /predict?model=<model>&version=<version>, the server started with --only <model>:<version>, closed-loop load generator in its own process. Raw: bench/raw-runner.ts in its own process.`,
  );
  out.push(
    '',
    '## Runs: throughput and latency (served: send → last response byte; raw throughput: decode start → batch done; raw sequential: decode + fill + run)',
    '',
  );
  out.push(latencyTable());
  out.push('', '## Where the time goes (over each measured window)', '');
  out.push(diagnosticsTable());
  out.push(
    '',
    `CPU in cores of ${availableParallelism()}; "other" = machine busy − the run's own processes (benchmark driver, anything else on the machine); ⚠ = other > ${DISTURBED_CORES}. Session busy = Σ session.run time / window. Event-loop lag is prom-client's (10 ms sampling timer: an idle loop reads ~10).`,
  );
  out.push('', `## Results (one run, ${startedAt.toISOString()}, ${availableParallelism()} cores, node ${process.version}; version ${v1}, FP32)`, '');
  out.push(resultsTable(rows, 'served'));
  out.push('', `## INT8 (version ${v2}) against FP32 (version ${v1})`, '');
  out.push(`CPU: ${cpuLine(cpuInfo)}. INT8 / FP32 target: ${target.reason}.`);
  out.push(
    '',
    `Raw INT8 / raw FP32: both versions open in one raw process, one input buffer of the photos decoded once and handed to each session in turn (arena on), ${COMPARE_ROUNDS} rounds of ${ROUND_MS / 1000} s per version in ABBA order; ms/image = session.run time / batch.`,
    '',
  );
  const compareRuns = runs.kept.filter((r) => r.settings.mode === 'compare').map((r) => ({ label: runLabel(r), report: r.compare, cpu: r.cpu }));
  if (compareRuns.length > 0) out.push(compareTable(compareRuns), '');
  out.push(resultsTable(int8Rows, 'INT8 / measured'));
  for (const why of missing.values()) out.push('', `**INT8 section FAILED** — ${why}.`);
  out.push('', `## Open Inference Protocol (binary BYTES input) against /predict (moderation v${v1}, one server)`, '');
  out.push(
    `One \`serve --only ${moderation.name}:${v1}\` process, ${CONCURRENCY} clients, closed loop, the same photos round-robin, one image per request: /predict with the raw JPEG body, and POST /v2/models/${moderation.name}/versions/${v1}/infer with a BYTES input [1] in binary (Inference-Header-Content-Length ${oipRun?.protocols?.oipHeaderBytes ?? '?'} bytes of JSON, then a uint32 LE length and the JPEG), asking for "${moderation.config.outputName ?? 'output'}" as classification top ${OIP_TOP_K} (JSON answer); OIP bodies built once per photo. ` +
      `${OIP_ROUNDS} rounds of one ${OIP_WINDOW_MS / 1000} s window per protocol in ABBA order (each window: a new load process, ${OIP_WINDOW_WARMUP_MS / 1000} s warm-up, after a ${WARMUP_MS / 1000} s warm-up of the server); p50/p95 = median over the windows.`,
    '',
  );
  if (oipRun?.protocols !== undefined) out.push(protocolTable(oipRun), '');
  out.push(resultsTable(oipRows, 'OIP'));
  const disturbed = runs.kept.filter((r) => r.disturbed === true);
  if (disturbed.length > 0) {
    out.push(
      '',
      `⚠ Disturbed by other work on the machine (> ${DISTURBED_CORES} cores busy outside the benchmark during the window): ${disturbedList(disturbed)} — the rows using them are less reliable.`,
    );
  }
  if (runs.discarded.length > 0)
    out.push('', `Measured again because disturbed (first attempt kept in the JSON under "discarded"): ${runs.discarded.map((r) => r.id).join(', ')}.`);
  const allRows = [...rows, ...int8Rows, ...oipRows];
  const failed = allRows.filter((r) => r.result === 'FAIL' || r.result === 'ERROR');
  const targeted = allRows.filter((r) => r.result !== 'INFO').length;
  out.push(
    '',
    failed.length === 0
      ? `ALL ${targeted} TARGETS PASS`
      : `FAIL: ${failed.length} of ${targeted} rows not met or not measured — ${failed.map((r) => r.measure).join('; ')}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);

  writeResults('embedded', startedAt, {
    startedAt: startedAt.toISOString(),
    totalSeconds: Math.round(totalS * 10) / 10,
    machine: {
      cores: availableParallelism(),
      cpu: cpuInfo.model,
      cpuFlags: cpuInfo.flags,
      totalMemBytes: totalmem(),
      loadavgAtEnd: loadavg(),
      node: process.version,
      platform: process.platform,
    },
    plan: {
      warmupMs: WARMUP_MS,
      throughputMs: THROUGHPUT_MS,
      sequentialMs: SEQUENTIAL_MS,
      concurrency: CONCURRENCY,
      compareRounds: COMPARE_ROUNDS,
      roundMs: ROUND_MS,
      oipRounds: OIP_ROUNDS,
      oipWindowMs: OIP_WINDOW_MS,
      oipWindowWarmupMs: OIP_WINDOW_WARMUP_MS,
      oipTopK: OIP_TOP_K,
      versions: { fp32: v1, int8: v2 },
      imageSet: images.map((p) => p.slice(ROOT.length + 1)),
    },
    thresholds: { disturbedCores: DISTURBED_CORES, quietCores: QUIET_CORES, quietMaxWaitMs: QUIET_MAX_WAIT_MS, budgetMs: BUDGET_MS, int8OverFp32: target },
    results: rows,
    int8: { results: int8Rows, missing: Object.fromEntries(missing) },
    oip: { results: oipRows, compare: oipRun?.protocols },
    runs: runs.kept,
    discarded: runs.discarded,
  });
  return runs.kept.some((r) => r.error !== undefined) || missing.size > 0 ? 1 : 0;
}

runDriver('bench:embedded', main);
