// `npm run bench:distributed`: distributed mode (gateway → Redis Streams → workers) measured
// side by side in one run on this machine.
//
//   1. The queue path alone. The real CLI `swarmserve gateway`, a redis-server started here,
//      and bench/echo-worker.ts (WorkerNode with the ECHO doubles of bench/echo-model.ts:
//      no decoding, no inference), a ~1 KB JPEG body:
//        - 64 closed-loop clients → requests/s (target ≥ 2,000);
//        - 1 client: p50 minus the p50 of the same echo model in embedded mode
//          (bench/echo-serve.ts: EmbeddedServer with the same doubles) (target ≤ 2 ms).
//      Both sides run the same maxBatchSize and maxQueueDelayMs (flags, printed).
//   2. `resnet50` (real inference): the same CLI gateway with 1, then 2 CLI worker processes
//      at --threads 1; 16 clients, JPEG bodies round-robin over test/fixtures/images/*.jpg;
//      the ratio 2 workers / 1 worker. Measured twice: each worker pinned to a core of its own
//      with `taskset -c N` (one worker = one core, like a replica limited to cpus: 1), the row
//      the target ≥ 1.6 is judged on; and workers not pinned (the kernel shares the 2 cores
//      among every process; one worker alone then also decodes on the core its inference
//      leaves idle, ~1.15 cores, so its baseline is not one core), printed as information.
//   3. The CPU every process used over each measured window (utime+stime from /proc, as
//      cores): gateway, each worker, redis-server, the load generator, this driver, and what
//      other work on the machine took.
//
// The load generator is the project's (src/loadtest), in a process of its own. Before each run
// the driver waits for the machine to go quiet (as bench:embedded does) and measures a run
// again, budget permitting, when other work took more than 0.3 cores during its window.
// Prints a result table and writes everything to bench/results/distributed-<timestamp>.json.
// Exits 0 when every run completed, whatever the targets say (it is a report); 1 otherwise.
//
// Knobs (smoke tests): BENCH_WARMUP_MS / BENCH_DURATION_MS (echo 64 clients, default 3 s +
// 10 s), BENCH_SEQ_DURATION_MS (echo 1 client, 8 s after a 2 s warm-up), BENCH_RESNET_WARMUP_MS
// / BENCH_RESNET_DURATION_MS (5 s + 20 s); BENCH_ONLY=queue|resnet50 runs one part.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { bundledModelsDir } from '../src/config/paths.js';
import type { LatencySummaryMs, LoadReport, LoadRequestBody } from '../src/loadtest/contract.js';
import { loadRepository } from '../src/model/repository/repository.js';
import { cpuUsage, sampleCpu, type CpuSample } from '../src/common/proc-cpu.js';
import {
  DISTURBED_CORES,
  MAIN_JS,
  QUIET_CORES,
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
import {
  HOST,
  READY_TIMEOUT_MS,
  addWorker,
  echoJpeg,
  startGateway,
  startRedis,
  stopAll,
  stops,
  waitLiveWorkers,
  type Watched,
  type WorkerSpec,
} from './distributed-stack.js';
import { ECHO_MODEL, writeEchoRepository } from './echo-model.js';
import { imageBodies, imageNames } from './images.js';
import { spawnProc, type Proc } from './processes.js';
import { cpuNote, disturbedList, markdownTable, runLabel, writeResults } from './report.js';
import { freePort, scrapeMetrics, windowStats, type Series, type ServerWindowStats } from './served.js';

// ---- plan ------------------------------------------------------------------------------

const ECHO_WARMUP_MS = envMs('BENCH_WARMUP_MS', 3_000);
const ECHO_DURATION_MS = envMs('BENCH_DURATION_MS', 10_000);
const SEQ_WARMUP_MS = 2_000;
const SEQ_DURATION_MS = envMs('BENCH_SEQ_DURATION_MS', 8_000);
const RESNET_WARMUP_MS = envMs('BENCH_RESNET_WARMUP_MS', 5_000);
const RESNET_DURATION_MS = envMs('BENCH_RESNET_DURATION_MS', 20_000);
/** `queue` or `resnet50` runs that part alone (the other rows then read ERROR). */
const ONLY = process.env.BENCH_ONLY ?? '';

const ECHO_CLIENTS = 64;
const RESNET_CLIENTS = 16;
/** Same on both sides of the echo comparison (flags to the echo worker and the echo server). */
const ECHO_MAX_BATCH = 16;
const ECHO_MAX_QUEUE_DELAY_MS = 0;
const RESNET_THREADS = 1;

const TARGET_ECHO_RPS = 2_000;
const TARGET_ECHO_P50_DIFF_MS = 2;
const TARGET_SCALING = 1.6;

/** A re-run is skipped if it and the runs still planned would end past this (from the driver's start): the whole script stays under ~5 minutes. */
const BUDGET_MS = 255_000;

const ECHO_WORKER_JS = join(ROOT, 'dist', 'bench', 'echo-worker.js');
const ECHO_SERVE_JS = join(ROOT, 'dist', 'bench', 'echo-serve.js');

// ---- machine -----------------------------------------------------------------------------

const CPU_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'amx_int8'] as const;

interface CpuInfo {
  model: string;
  flags: Record<(typeof CPU_FLAGS)[number], boolean>;
}

function cpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: reported as unknown.
  }
  const field = (name: string): string => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const flags = new Set(field('flags').split(/\s+/));
  return {
    model: field('model name') || 'unknown',
    flags: { avx2: flags.has('avx2'), avx512f: flags.has('avx512f'), avx512_vnni: flags.has('avx512_vnni'), amx_int8: flags.has('amx_int8') },
  };
}

// ---- runs --------------------------------------------------------------------------------

interface RunPlan {
  id: string;
  description: string;
  /** POST target. */
  url: string;
  /** Model whose batches the workers' /metrics count. */
  model: string;
  bodies: LoadRequestBody[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  watched: Watched[];
  settings: Record<string, string | number | boolean>;
}

interface RunRecord extends Measured {
  description: string;
  settings: RunPlan['settings'] & { concurrency: number; warmupMs: number; durationMs: number };
  processes: Record<string, { pid: number; cpus: string; commandLine: string }>;
  /** 2xx responses per second in the measured window. */
  throughput?: number;
  latencyMs?: LatencySummaryMs;
  errors?: number;
  /** Per watched process with a /metrics listener: what it counted in the window. */
  servers?: Record<string, ServerWindowStats>;
  load?: LoadReport;
}

const runs = new Runs<RunRecord>(BUDGET_MS);

async function loadRun(plan: RunPlan, attempt: number): Promise<RunRecord> {
  const record: RunRecord = {
    id: plan.id,
    description: plan.description,
    attempt,
    settings: { ...plan.settings, concurrency: plan.concurrency, warmupMs: plan.warmupMs, durationMs: plan.durationMs },
    processes: Object.fromEntries(plan.watched.map((w) => [w.role, { pid: w.proc.pid, cpus: w.proc.cpus ?? 'any', commandLine: w.proc.commandLine }])),
  };
  progress(`${plan.id}: ${plan.description} — ${plan.concurrency} client(s), warm-up ${plan.warmupMs / 1000}s + ${plan.durationMs / 1000}s measured`);
  const started = performance.now();

  interface Snapshot {
    cpu: CpuSample;
    metrics: Map<string, Series[]>;
  }
  const snapshot = async (loadgen: number | undefined): Promise<Snapshot> => {
    const pids: Record<string, number | undefined> = { loadgen, bench: process.pid };
    for (const w of plan.watched) pids[w.role] = w.proc.pid;
    const cpu = sampleCpu(pids);
    const metrics = new Map<string, Series[]>();
    await Promise.all(
      plan.watched
        .filter((w): w is Watched & { metricsUrl: string } => w.metricsUrl !== undefined)
        .map(async (w) => {
          metrics.set(w.role, await scrapeMetrics(w.metricsUrl).catch(() => []));
        }),
    );
    return { cpu, metrics };
  };
  try {
    const { report, before, after } = await loadWithWindow(
      { url: plan.url, concurrency: plan.concurrency, warmupMs: plan.warmupMs, durationMs: plan.durationMs, bodies: plan.bodies },
      snapshot,
    );
    record.load = report;
    record.throughput = report.throughputRps;
    record.latencyMs = report.latencyMs;
    record.errors = report.errors;
    if (before !== undefined && after !== undefined) {
      const cpu = cpuUsage(before.cpu, after.cpu);
      if (cpu !== undefined) {
        record.cpu = cpu;
        checkDisturbed(record);
      }
      const windowMs = after.cpu.at - before.cpu.at;
      const servers: Record<string, ServerWindowStats> = {};
      for (const [role, series] of after.metrics) {
        const first = before.metrics.get(role);
        if (first !== undefined && series.length > 0) servers[role] = windowStats(first, series, plan.model, windowMs);
      }
      record.servers = servers;
    }
    const errors = report.errors > 0 ? `, ${report.errors} ERRORS ${JSON.stringify(report.statusCounts)}` : '';
    progress(
      `${plan.id}: done in ${((performance.now() - started) / 1000).toFixed(1)}s — ${report.throughputRps} req/s, p50 ${report.latencyMs.p50} ms${errors}${cpuNote(record.cpu)}`,
    );
  } catch (err) {
    record.error = errorText(err);
    progress(`${plan.id}: FAILED — ${record.error}`);
  }
  return record;
}

const runEstimateMs = (warmupMs: number, durationMs: number): number => warmupMs + durationMs + 1_500;

/** Measures a run; if other work disturbed it and the budget allows (leaving room for the runs still planned), once more, keeping the less disturbed attempt. */
async function measure(plan: RunPlan): Promise<RunRecord> {
  return runs.measure(runEstimateMs(plan.warmupMs, plan.durationMs), (attempt) => loadRun(plan, attempt));
}

// ---- part 1: the queue path --------------------------------------------------------------

async function queuePart(scratch: string, redisUrl: string, redis: Proc): Promise<void> {
  const repo = join(scratch, 'echo-repo');
  await writeEchoRepository(repo, { maxBatchSize: ECHO_MAX_BATCH, maxQueueDelayMs: ECHO_MAX_QUEUE_DELAY_MS, queueBound: 4096 });
  const jpeg = await echoJpeg();
  progress(
    `echo body: ${jpeg.side}×${jpeg.side} noise JPEG, quality ${jpeg.quality}, ${jpeg.body.length} bytes (a real JPEG; the echo decoder never reads it)`,
  );
  const bodies = [{ body: jpeg.body, contentType: 'image/jpeg' }];
  const batching = ['--max-batch-size', String(ECHO_MAX_BATCH), '--max-queue-delay-ms', String(ECHO_MAX_QUEUE_DELAY_MS)];
  progress(
    `echo model on both sides: maxBatchSize ${ECHO_MAX_BATCH}, maxQueueDelayMs ${ECHO_MAX_QUEUE_DELAY_MS} (flags), decode and inference skipped (bench/echo-model.ts)`,
  );
  const settings = { model: ECHO_MODEL, bodyBytes: jpeg.body.length, maxBatchSize: ECHO_MAX_BATCH, maxQueueDelayMs: ECHO_MAX_QUEUE_DELAY_MS };
  const url = (base: string): string => `${base}/predict?model=${ECHO_MODEL}`;

  const common = ['--models', repo, '--redis', redisUrl, '--redis-prefix', 'bench-echo'];
  const gateway = await startGateway('echo-gateway', [...common, '--only', ECHO_MODEL, '--default-model', ECHO_MODEL]);
  const workers: Proc[] = [];
  try {
    const worker = await addWorker(gateway, ECHO_MODEL, workers, {
      role: 'worker',
      name: 'echo-worker',
      entry: [ECHO_WORKER_JS],
      args: [...common, ...batching],
      cpus: undefined,
    });
    const watched: Watched[] = [{ role: 'gateway', proc: gateway.proc, metricsUrl: gateway.url }, worker, { role: 'redis', proc: redis }];
    const side = { ...settings, side: 'distributed' };
    await measure({
      id: 'echo-distributed-64',
      description: 'queue path: CLI gateway → Redis → echo worker',
      url: url(gateway.url),
      model: ECHO_MODEL,
      bodies,
      concurrency: ECHO_CLIENTS,
      warmupMs: ECHO_WARMUP_MS,
      durationMs: ECHO_DURATION_MS,
      watched,
      settings: side,
    });
    await measure({
      id: 'echo-distributed-1',
      description: 'queue path, 1 sequential client',
      url: url(gateway.url),
      model: ECHO_MODEL,
      bodies,
      concurrency: 1,
      warmupMs: SEQ_WARMUP_MS,
      durationMs: SEQ_DURATION_MS,
      watched,
      settings: side,
    });
  } finally {
    await stopAll([gateway.proc, ...workers]);
  }

  const port = await freePort(HOST);
  const serveUrl = `http://${HOST}:${port}`;
  const server = spawnProc('echo-serve', process.execPath, [
    ECHO_SERVE_JS,
    '--port',
    String(port),
    '--host',
    HOST,
    '--models',
    repo,
    '--only',
    ECHO_MODEL,
    '--default-model',
    ECHO_MODEL,
    '--log-level',
    'warn',
    '--no-prepare',
    ...batching,
  ]);
  try {
    await server.waitForHttp(`${serveUrl}/health/ready`, READY_TIMEOUT_MS);
    progress(
      `echo-serve ready in ${(server.readyMs / 1000).toFixed(1)}s (pid ${server.pid}): dist/bench/echo-serve.js (EmbeddedServer, echo doubles) ${batching.join(' ')}`,
    );
    const watched: Watched[] = [{ role: 'server', proc: server, metricsUrl: serveUrl }];
    const side = { ...settings, side: 'embedded' };
    await measure({
      id: 'echo-embedded-1',
      description: 'embedded echo (same doubles, in-memory queue), 1 sequential client',
      url: url(serveUrl),
      model: ECHO_MODEL,
      bodies,
      concurrency: 1,
      warmupMs: SEQ_WARMUP_MS,
      durationMs: SEQ_DURATION_MS,
      watched,
      settings: side,
    });
    await measure({
      id: 'echo-embedded-64',
      description: 'embedded echo, for scale: the HTTP gateway without Redis',
      url: url(serveUrl),
      model: ECHO_MODEL,
      bodies,
      concurrency: ECHO_CLIENTS,
      warmupMs: ECHO_WARMUP_MS,
      durationMs: ECHO_DURATION_MS,
      watched,
      settings: side,
    });
  } finally {
    await stopAll([server]);
  }
}

// ---- part 2: resnet50, 1 and 2 workers ----------------------------------------------------

/** The batching the workers use: models/resnet50/config.json (no override flags are given). */
async function resnetBatching(): Promise<{ maxBatchSize: number; maxQueueDelayMs: number }> {
  const entry = (await loadRepository(bundledModelsDir(), ['resnet50'])).models.get('resnet50');
  if (entry === undefined) throw new Error('models/resnet50 is missing (run `node dist/src/cli/main.js models prepare`)');
  return { maxBatchSize: entry.config.batching.maxBatchSize, maxQueueDelayMs: entry.config.batching.maxQueueDelayMs };
}

/**
 * The two ways the cores are shared in part 2: measured one after the other on the same gateway.
 * The scaling target is judged pinned (`judged`): one worker = one core, as a replica given one
 * CPU. Not pinned, one worker alone also decodes on the core its inference thread leaves idle
 * (~1.15 cores), so that row is printed as information.
 */
const PLACEMENTS = [
  { suffix: '', label: 'not pinned', cpus: [undefined, undefined], judged: false },
  { suffix: '-pinned', label: 'pinned: worker-1 taskset -c 0, worker-2 taskset -c 1', cpus: ['0', '1'], judged: true },
] as const;

async function resnetPart(redisUrl: string, redis: Proc): Promise<void> {
  progress(`resnet50 bodies: ${imageNames().join(', ')}, round-robin`);
  const common = ['--redis', redisUrl, '--redis-prefix', 'bench-resnet50'];
  const model = 'resnet50';
  const batching = await resnetBatching();
  const gateway = await startGateway('resnet50-gateway', [...common, '--only', model, '--default-model', model]);
  try {
    const workerArgs = [...common, '--only', model, '--threads', String(RESNET_THREADS)];
    const url = `${gateway.url}/predict?model=${model}`;
    for (const placement of PLACEMENTS) {
      const settings = { model, threads: RESNET_THREADS, placement: placement.label, ...batching };
      const plan = (workers: number, watched: Watched[]): RunPlan => ({
        id: `resnet50-${workers}w${placement.suffix}`,
        description: `resnet50: CLI gateway + ${workers} worker process(es) × --threads ${RESNET_THREADS}, ${placement.label}`,
        url,
        model,
        bodies: imageBodies(),
        concurrency: RESNET_CLIENTS,
        warmupMs: RESNET_WARMUP_MS,
        durationMs: RESNET_DURATION_MS,
        watched,
        settings: { ...settings, workers },
      });
      const spec = (n: 1 | 2): WorkerSpec => ({
        role: `worker-${n}`,
        name: `resnet50-worker-${n}${placement.suffix}`,
        entry: [MAIN_JS, 'worker'],
        args: workerArgs,
        cpus: placement.cpus[n - 1],
      });
      const workers: Proc[] = [];
      try {
        const w1 = await addWorker(gateway, model, workers, spec(1));
        const watched: Watched[] = [{ role: 'gateway', proc: gateway.proc, metricsUrl: gateway.url }, w1, { role: 'redis', proc: redis }];
        await measure(plan(1, watched));
        const w2 = await addWorker(gateway, model, workers, spec(2));
        await measure(plan(2, [...watched, w2]));
      } finally {
        await stopAll(workers);
      }
      // The next placement starts from no live worker: the registry forgets the stopped ones at once (they leave it on SIGTERM).
      await waitLiveWorkers(gateway.url, model, 0);
    }
  } finally {
    await stopAll([gateway.proc]);
  }
}

// ---- report ------------------------------------------------------------------------------

interface ResultRow {
  measure: string;
  value: string;
  baseline: string;
  comparison: string;
  target: string;
  /** `info`: printed for information, no target (not counted in the verdict). */
  result: 'PASS' | 'FAIL' | 'ERROR' | 'info';
  number?: number;
}

function usable(r: RunRecord | undefined): r is RunRecord & { throughput: number; latencyMs: LatencySummaryMs; errors: number } {
  return r !== undefined && r.error === undefined && r.throughput !== undefined && r.latencyMs !== undefined && r.errors !== undefined && r.throughput > 0;
}

/** A ratio or difference computed from a run that other work disturbed is flagged. */
const flag = (...rs: Array<RunRecord | undefined>): string => (rs.some((r) => r?.disturbed === true) ? ' ⚠' : '');

const errorsNote = (...rs: Array<RunRecord & { errors: number }>): string => {
  const n = rs.reduce((s, r) => s + r.errors, 0);
  return n > 0 ? ` (${n} failed requests)` : '';
};

function resultRows(): ResultRow[] {
  const rows: ResultRow[] = [];
  const d64 = runs.find('echo-distributed-64');
  const e64 = runs.find('echo-embedded-64');
  const measure64 = `queue path (echo), ${ECHO_CLIENTS} clients: gateway → Redis → worker`;
  if (usable(d64)) {
    const ok = d64.throughput >= TARGET_ECHO_RPS && d64.errors === 0;
    rows.push({
      measure: measure64,
      value: `${d64.throughput.toFixed(0)} req/s${errorsNote(d64)}`,
      baseline: usable(e64) ? `${e64.throughput.toFixed(0)} req/s (embedded echo, for scale)` : '—',
      comparison: usable(e64) ? `${(d64.throughput / e64.throughput).toFixed(2)}× embedded${flag(d64, e64)}` : `—${flag(d64)}`,
      target: `≥ ${TARGET_ECHO_RPS} req/s`,
      result: ok ? 'PASS' : 'FAIL',
      number: d64.throughput,
    });
  } else rows.push({ measure: measure64, value: 'error', baseline: '—', comparison: '—', target: `≥ ${TARGET_ECHO_RPS} req/s`, result: 'ERROR' });

  const d1 = runs.find('echo-distributed-1');
  const e1 = runs.find('echo-embedded-1');
  const measure1 = 'queue path (echo), 1 client: distributed p50 − embedded p50';
  if (usable(d1) && usable(e1)) {
    const diff = d1.latencyMs.p50 - e1.latencyMs.p50;
    rows.push({
      measure: measure1,
      value: `p50 ${d1.latencyMs.p50.toFixed(2)} ms${errorsNote(d1)}`,
      baseline: `p50 ${e1.latencyMs.p50.toFixed(2)} ms (embedded echo)${errorsNote(e1)}`,
      comparison: `${diff >= 0 ? '+' : ''}${diff.toFixed(2)} ms${flag(d1, e1)}`,
      target: `≤ ${TARGET_ECHO_P50_DIFF_MS} ms`,
      result: diff <= TARGET_ECHO_P50_DIFF_MS && d1.errors + e1.errors === 0 ? 'PASS' : 'FAIL',
      number: Math.round(diff * 1000) / 1000,
    });
  } else
    rows.push({
      measure: measure1,
      value: usable(d1) ? `p50 ${d1.latencyMs.p50.toFixed(2)} ms` : 'error',
      baseline: usable(e1) ? `p50 ${e1.latencyMs.p50.toFixed(2)} ms` : 'error',
      comparison: '—',
      target: `≤ ${TARGET_ECHO_P50_DIFF_MS} ms`,
      result: 'ERROR',
    });

  for (const placement of PLACEMENTS) {
    const w2 = runs.find(`resnet50-2w${placement.suffix}`);
    const w1 = runs.find(`resnet50-1w${placement.suffix}`);
    const measureR = `resnet50, ${RESNET_CLIENTS} clients: 2 workers / 1 worker (--threads ${RESNET_THREADS}, ${placement.suffix === '' ? 'not pinned' : 'pinned, 1 core each'})`;
    const target = placement.judged ? `≥ ${TARGET_SCALING}` : '—';
    if (usable(w2) && usable(w1)) {
      const ratio = w2.throughput / w1.throughput;
      rows.push({
        measure: measureR,
        value: `${w2.throughput.toFixed(1)} img/s (2 workers)${errorsNote(w2)}`,
        baseline: `${w1.throughput.toFixed(1)} img/s (1 worker)${errorsNote(w1)}`,
        comparison: `${ratio.toFixed(2)}×${flag(w1, w2)}`,
        target,
        result: !placement.judged ? 'info' : ratio >= TARGET_SCALING && w1.errors + w2.errors === 0 ? 'PASS' : 'FAIL',
        number: Math.round(ratio * 1000) / 1000,
      });
    } else
      rows.push({
        measure: measureR,
        value: usable(w2) ? `${w2.throughput.toFixed(1)} img/s` : 'error',
        baseline: usable(w1) ? `${w1.throughput.toFixed(1)} img/s` : 'error',
        comparison: '—',
        target,
        result: placement.judged ? 'ERROR' : 'info',
      });
  }
  return rows;
}

function latencyTable(): string {
  return markdownTable(
    ['run', 'clients', 'warm-up+measured s', 'req/s', 'ok', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
    runs.kept.map((r) => {
      const head = [runLabel(r), String(r.settings.concurrency), `${r.settings.warmupMs / 1000}+${r.settings.durationMs / 1000}`];
      if (r.latencyMs === undefined || r.load === undefined) return [...head, 'error', '', '', '', '', '', ''];
      const l = r.latencyMs;
      return [
        ...head,
        (r.throughput ?? 0).toFixed(1),
        String(r.load.ok),
        String(r.errors ?? 0),
        l.p50.toFixed(2),
        l.p95.toFixed(2),
        l.p99.toFixed(2),
        l.max.toFixed(2),
      ];
    }),
  );
}

const ROLES = ['gateway', 'worker', 'worker-1', 'worker-2', 'server', 'redis', 'loadgen', 'bench'] as const;

function cpuTable(): string {
  const rows = runs.kept.map((r) => {
    const c = r.cpu;
    const cell = (role: string): string => {
      const v = c?.processCores[role];
      if (v === undefined) return '—';
      // CPU time per answered request: where each request's cost goes.
      const perReq = r.throughput !== undefined && r.throughput > 0 ? ` (${Math.round((v / r.throughput) * 1e6)} µs/req)` : '';
      return `${v.toFixed(2)}${r.id.startsWith('echo') ? perReq : ''}`;
    };
    return [runLabel(r), ...ROLES.map(cell), c === undefined ? '?' : c.machineCores.toFixed(2), c === undefined ? '?' : c.otherCores.toFixed(2)];
  });
  return markdownTable(['run', ...ROLES, 'machine', 'other'], rows);
}

function serverTable(): string {
  const rows: string[][] = [];
  for (const r of runs.kept) {
    const order = (role: string): number => ROLES.indexOf(role as (typeof ROLES)[number]);
    for (const [role, s] of Object.entries(r.servers ?? {}).sort(([a], [b]) => order(a) - order(b))) {
      const buckets = Object.entries(s.batchSizeBuckets)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      const batches = s.batches > 0 ? `${s.batches} × ${s.meanBatchSize} [${buckets}]` : '—';
      const busy = s.batches > 0 ? `${s.meanInferenceMs} ms, ${Math.round(s.inferenceBusyFraction * 100)}%` : '—';
      rows.push([
        runLabel(r),
        role,
        String(r.processes[role]?.pid ?? '?'),
        r.processes[role]?.cpus ?? '?',
        batches,
        busy,
        `${s.eventLoopLagMinMs}/${s.eventLoopLagP99Ms}/${s.eventLoopLagMaxMs}`,
      ]);
    }
  }
  return markdownTable(
    ['run', 'process', 'pid', 'CPUs (taskset)', 'batches × mean size [sizes:runs]', 'run ms mean, session busy', 'ev-loop lag min/p99/max ms'],
    rows,
  );
}

function scalingNote(): string[] {
  const out: string[] = [];
  for (const r of runs.kept) {
    if (!r.id.startsWith('resnet50-') || r.cpu === undefined) continue;
    const c = r.cpu.processCores;
    const workers = Object.entries(c).filter(([k]) => k.startsWith('worker'));
    const pins = Object.entries(r.processes)
      .filter(([k]) => k.startsWith('worker'))
      .map(([k, p]) => `${k} ${p.cpus === 'any' ? 'any CPU' : `CPU ${p.cpus}`}`)
      .join(', ');
    out.push(
      `- ${runLabel(r)}: ${workers.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' + ')} cores (${pins}), gateway ${(c.gateway ?? 0).toFixed(2)}, redis ${(c.redis ?? 0).toFixed(2)}, load generator ${(c.loadgen ?? 0).toFixed(2)}; machine ${r.cpu.machineCores.toFixed(2)} of ${availableParallelism()} busy, other work ${r.cpu.otherCores.toFixed(2)}.`,
    );
  }
  out.push(
    '',
    'Gateway, redis-server and the load generator are never pinned. Not pinned, one worker uses more than a core: libvips decodes the next images on the core its single inference thread leaves idle.',
  );
  return out;
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date();
  const cpu = cpuInfo();
  const flags = CPU_FLAGS.map((f) => `${f} ${cpu.flags[f] ? 'yes' : 'no'}`).join(', ');
  progress(
    `swarmserve distributed benchmark — ${cpu.model}; ${flags}; ${availableParallelism()} cores; node ${process.version}; load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  const scratch = mkdtempSync(join(tmpdir(), 'swarmserve-bench-distributed-'));
  scratchDir = scratch;
  const redisDir = join(scratch, 'redis');
  mkdirSync(redisDir);
  let redis: Proc | undefined;
  try {
    const started = await startRedis(redisDir);
    redis = started.proc;
    const parts: Array<[string, string, () => Promise<void>]> = [
      ['queue', 'queue path', () => queuePart(scratch, started.url, started.proc)],
      ['resnet50', 'resnet50', () => resnetPart(started.url, started.proc)],
    ];
    const echoRuns = 2 * runEstimateMs(ECHO_WARMUP_MS, ECHO_DURATION_MS) + 2 * runEstimateMs(SEQ_WARMUP_MS, SEQ_DURATION_MS);
    const resnetRuns = 2 * PLACEMENTS.length * runEstimateMs(RESNET_WARMUP_MS, RESNET_DURATION_MS);
    runs.plan((ONLY === 'resnet50' ? 0 : echoRuns) + (ONLY === 'queue' ? 0 : resnetRuns));
    for (const [id, label, part] of parts) {
      if (ONLY !== '' && ONLY !== id) continue;
      try {
        await part();
      } catch (err) {
        progress(`${label} part FAILED — ${errorText(err)}`);
        runs.kept.push({
          id: `${id}-setup`,
          description: `${label} set-up`,
          attempt: 1,
          settings: { concurrency: 0, warmupMs: 0, durationMs: 0 },
          processes: {},
          error: errorText(err),
        });
      }
    }
  } finally {
    if (redis !== undefined) await stopAll([redis]);
    rmSync(scratch, { recursive: true, force: true });
  }
  const totalS = (performance.now() - T0) / 1000;
  progress(`all runs done in ${totalS.toFixed(1)}s`);

  const rows = resultRows();
  const out: string[] = [];
  out.push('', `## Machine: ${cpu.model}; ${flags}; ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}`);
  out.push('', '## Runs (latency: send → last response byte, at the load generator)', '');
  out.push(latencyTable());
  out.push('', '## CPU per process over each measured window (cores = CPU seconds / wall seconds; echo runs: CPU µs per answered request)', '');
  out.push(cpuTable());
  out.push(
    '',
    `loadgen = the closed-loop load generator's process; bench = this driver; other = machine busy − the named processes (other work on the machine); ⚠ = other > ${DISTURBED_CORES}.`,
  );
  out.push('', '## Workers and servers (their /metrics over the window)', '');
  out.push(serverTable());
  out.push('', '## How the 2 cores were shared (resnet50)', '');
  out.push(...scalingNote());
  out.push('', `## Results (one run, ${startedAt.toISOString()}, ${cpu.model}, ${availableParallelism()} cores)`, '');
  out.push(
    markdownTable(
      ['measure', 'value', 'baseline', 'ratio/difference', 'target', 'PASS/FAIL'],
      rows.map((r) => [r.measure, r.value, r.baseline, r.comparison, r.target, r.result === 'PASS' || r.result === 'info' ? r.result : `**${r.result}**`]),
    ),
  );
  const unpinned = runs.find('resnet50-1w')?.cpu?.processCores['worker-1'];
  out.push(
    '',
    `Not pinned (information, no target): one unpinned worker uses ~1.15 cores${unpinned === undefined ? '' : ` (this run: ${unpinned.toFixed(2)})`} because image decoding runs on the core its single inference thread leaves idle, so the 1-worker baseline is not one core and the 2/1 ratio reads lower; the ≥ ${TARGET_SCALING} target is judged pinned, one core per worker.`,
  );
  const rb = runs.find('resnet50-1w')?.settings;
  out.push(
    '',
    `Echo: maxBatchSize ${ECHO_MAX_BATCH}, maxQueueDelayMs ${ECHO_MAX_QUEUE_DELAY_MS} on both sides. resnet50: maxBatchSize ${rb?.maxBatchSize ?? '?'}, maxQueueDelayMs ${rb?.maxQueueDelayMs ?? '?'} (models/resnet50/config.json), --threads ${RESNET_THREADS} per worker.`,
  );
  const disturbed = runs.kept.filter((r) => r.disturbed === true);
  if (disturbed.length > 0)
    out.push('', `⚠ Disturbed by other work (> ${DISTURBED_CORES} cores outside the benchmark's processes): ${disturbedList(disturbed)}.`);
  if (runs.discarded.length > 0)
    out.push(
      '',
      `Measured twice because disturbed (the less disturbed attempt is kept; the other is in the JSON under "discarded"): ${runs.discarded.map((r) => r.id).join(', ')}.`,
    );
  const unclean = stops.filter((s) => s.code !== 0);
  if (unclean.length > 0)
    out.push(
      '',
      `Processes that did not exit 0 on SIGTERM (or had died before it): ${unclean.map((s) => `${s.name} (${s.signal ?? `code ${s.code}`})`).join(', ')}.`,
    );
  // Only the rows with a target count: the unpinned scaling row is information.
  const targets = rows.filter((r) => r.result !== 'info');
  const failed = targets.filter((r) => r.result !== 'PASS');
  out.push(
    '',
    failed.length === 0 ? 'ALL TARGETS PASS' : `NOT MET: ${failed.length} of ${targets.length} targets — ${failed.map((r) => r.measure).join('; ')}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);

  writeResults('distributed', startedAt, {
    startedAt: startedAt.toISOString(),
    totalSeconds: Math.round(totalS * 10) / 10,
    machine: {
      cpu: cpu.model,
      flags: cpu.flags,
      cores: availableParallelism(),
      totalMemBytes: totalmem(),
      loadavgAtEnd: loadavg(),
      node: process.version,
      platform: process.platform,
    },
    plan: {
      echo: {
        clients: ECHO_CLIENTS,
        warmupMs: ECHO_WARMUP_MS,
        durationMs: ECHO_DURATION_MS,
        sequentialWarmupMs: SEQ_WARMUP_MS,
        sequentialDurationMs: SEQ_DURATION_MS,
        maxBatchSize: ECHO_MAX_BATCH,
        maxQueueDelayMs: ECHO_MAX_QUEUE_DELAY_MS,
      },
      resnet50: {
        clients: RESNET_CLIENTS,
        warmupMs: RESNET_WARMUP_MS,
        durationMs: RESNET_DURATION_MS,
        threads: RESNET_THREADS,
        placements: PLACEMENTS.map((p) => p.label),
      },
    },
    thresholds: { disturbedCores: DISTURBED_CORES, quietCores: QUIET_CORES, budgetMs: BUDGET_MS },
    results: rows,
    runs: runs.kept,
    discarded: runs.discarded,
    stops,
  });
  // A report: the targets do not set the exit code; a failed run or an unclean stop does.
  const failedStop = unclean.length > 0;
  return runs.kept.some((r) => r.error !== undefined) || failedStop ? 1 : 0;
}

/** The temporary model repository and Redis directory, removed however the driver ends. */
let scratchDir: string | undefined;

runDriver('bench:distributed', main, () => {
  if (scratchDir !== undefined) rmSync(scratchDir, { recursive: true, force: true });
});
