// bench:autoscale — the acceptance targets of `swarmserve autoscale` (issue 21, docs/autoscale.md)
// measured on real processes: a redis-server, a gateway, and `swarmserve autoscale --local`
// starting `swarmserve worker` processes on the delay test double (100 ms per batch of one: a
// worker serves exactly 10 jobs/s and uses almost no CPU, so the capacity is known whatever the
// machine and eight workers fit on two cores).
//   Scenario 1, open loop (requests sent on schedule whatever the answers): 6.4 req/s → 32
//   (5×) → 6.4, each phase 4 min. The rates keep the 0.2 headroom from rounding a replica up
//   (32 × 1.2 / 10 = 3.84 → 4 = ceil(32 / 10)), so the optimum is reachable.
//   Scenario 2, --min 0: once idle at 0 workers, the first request is answered.
// Targets (each printed measured vs target; the exit code is 0 whatever they say, as for every benchmark):
//   - after the 5× step the oldest wait is back under --target-wait within 2 ticks + one start-up;
//   - at most 1 change of direction per steady phase;
//   - 0 failed requests, through every scale-down;
//   - replica-seconds ≤ 1.25 × the optimum Σ_s ceil(rate / 10) (60 s stabilization, 4 min phases);
//   - --min 0: the first request after idle is answered.
// Writes bench/results/autoscale-<time>.json. Environment (for short trial runs):
// BENCH_AUTOSCALE_PHASE_MS (240000), BENCH_AUTOSCALE_STABILIZATION_S (60).

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/common/logger.js';
import { childPids } from '../src/common/proc-cpu.js';
import { queueKey } from '../src/queue/contract.js';
import { RedisKeys } from '../src/queue/redis/keys.js';
import { RedisLink } from '../src/queue/redis/link.js';
import { readQueue } from '../src/queue/redis/queue-signals.js';
import { delayModelImage, makeDelayRepository } from '../test/helpers/delay-model.js';
import { readCpuInfo } from './cpuinfo.js';
import { MAIN_JS, envMs, progress, runDriver, sleep } from './driver.js';
import { spawnProc, startRedisServer, type Proc } from './processes.js';
import { markdownTable, writeResults } from './report.js';
import { freePort, scrapeMetrics, type Series } from './served.js';
import { summarize } from './stats.js';

const HOST = '127.0.0.1';
const PREFIX = 'bench-autoscale';
const DELAY_MS = 100;
/** Jobs/s one worker serves: one job per DELAY_MS (maxBatch 1). */
const PER_REPLICA_PER_S = 1000 / DELAY_MS;
const LOW_RATE = 6.4;
const HIGH_RATE = 5 * LOW_RATE;
const INTERVAL_S = 2;
const TARGET_WAIT_MS = 500;
const MAX_REPLICAS = 8;
// Shorter than the defaults (2 s / 10 s) so a stopped worker leaves the live count within a
// few ticks; all processes get the same values.
const HEARTBEAT = ['--heartbeat-interval-ms', '500', '--heartbeat-expiry-ms', '3000'];
const SAMPLE_MS = 500;
const PROGRESS_EVERY_MS = 10_000;
/** Every request may wait this long in the gateway (a scale-from-zero start-up included). */
const REQUEST_TIMEOUT_MS = 60_000;
/** At most this many requests in flight; beyond it the generator skips (and says so). */
const MAX_IN_FLIGHT = 2_000;
/** A send later than this behind its schedule counts as the generator not keeping the rate. */
const LATE_MS = 250;
const TARGET_RATIO = 1.25;
const MAX_DIRECTION_CHANGES = 1;

interface Phase {
  name: string;
  rate: number;
  startMs: number;
  endMs: number;
}

interface Sample {
  /** ms since the load started (negative: before). */
  t: number;
  oldestWaitMs: number;
  backlog: number;
  /** Worker processes running (children of the autoscaler: starting, serving or draining). */
  processes: number;
  /** The autoscaler's current (asked-for) and live (heartbeating) replicas. */
  current: number;
  live: number;
}

interface Decision {
  t: number;
  direction: 'up' | 'down' | 'hold';
  reason: string;
  from: number;
  replicas: number;
  desired: number;
  msg: string;
}

interface RequestRecord {
  /** Scheduled send time, ms since the load started. */
  t: number;
  status: number;
  ms: number;
}

interface Target {
  name: string;
  measured: string;
  want: string;
  met: boolean;
}

const sumOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const metric = (series: readonly Series[], name: string): number | undefined => series.find((s) => s.name === name)?.value;

/** The autoscaler's JSON decision lines, with the time they were printed (ms since `t0`). */
function decisionParser(into: Decision[], t0: () => number): (line: string) => void {
  return (line) => {
    if (!line.startsWith('{')) return;
    try {
      const parsed = JSON.parse(line) as { decision?: Omit<Decision, 't' | 'msg'>; msg?: string };
      if (parsed.decision === undefined) {
        // The pool's start-up lines and warnings are worth seeing as they happen.
        if (parsed.msg !== undefined && /ready in|failed|timeout|exited/.test(parsed.msg)) progress(`  autoscaler: ${parsed.msg}`);
        return;
      }
      const d: Decision = { ...parsed.decision, t: t0(), msg: parsed.msg ?? '' };
      into.push(d);
      if (d.direction !== 'hold') progress(`  decision: ${d.msg}`);
    } catch {
      // Not a log line of ours.
    }
  };
}

async function startAutoscaler(
  name: string,
  common: readonly string[],
  extra: readonly string[],
  decisions: Decision[],
  t0: () => number,
): Promise<{ proc: Proc; url: string; args: string[] }> {
  const port = await freePort(HOST);
  const args = [
    ...common,
    '--local',
    '--interval',
    `${INTERVAL_S}s`,
    '--target-wait',
    `${TARGET_WAIT_MS}ms`,
    '--metrics-port',
    String(port),
    '--metrics-host',
    HOST,
    ...extra,
  ];
  const proc = spawnProc(name, process.execPath, [MAIN_JS, 'autoscale', ...args], { quiet: true, onLine: decisionParser(decisions, t0) });
  const url = `http://${HOST}:${port}`;
  await proc.waitForHttp(`${url}/health/ready`, 60_000);
  progress(`${name} ready (pid ${proc.pid}): node dist/src/cli/main.js autoscale ${args.join(' ')}`);
  return { proc, url, args };
}

/** Sends one request; network failures come back as status 0. */
async function predict(url: string, body: Buffer): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/predict?timeout_ms=${REQUEST_TIMEOUT_MS}`, { method: 'POST', body, headers: { 'content-type': 'image/png' } });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}

/** Up↔down reversals in a phase's moves (holds ignored): the transition's own first move starts the sequence. */
function directionChanges(moves: readonly Decision[]): number {
  let changes = 0;
  for (let i = 1; i < moves.length; i++) if (moves[i]?.direction !== moves[i - 1]?.direction) changes++;
  return changes;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const cpu = readCpuInfo();
  const phaseMs = envMs('BENCH_AUTOSCALE_PHASE_MS', 240_000);
  const stabilizationS = envMs('BENCH_AUTOSCALE_STABILIZATION_S', 60);
  progress(
    `${cpu.model}; ${availableParallelism()} cores; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  progress(
    `delay model ${DELAY_MS} ms per batch of 1 (${PER_REPLICA_PER_S} jobs/s per worker); phases ${phaseMs / 1000} s at ${LOW_RATE} → ${HIGH_RATE} → ${LOW_RATE} req/s; heartbeats ${HEARTBEAT.join(' ')} on every process`,
  );

  const scratch = mkdtempSync(join(tmpdir(), 'swarmserve-bench-autoscale-'));
  const repo = await makeDelayRepository({ delayMs: DELAY_MS, maxBatch: 1 });
  const image = await delayModelImage();
  let link: RedisLink | undefined;
  const procs: Proc[] = [];
  try {
    const redis = await startRedisServer(scratch, HOST);
    procs.push(redis.proc);
    const common = ['--models', repo.root, '--redis', redis.url, '--redis-prefix', PREFIX, ...HEARTBEAT, '--log-level', 'info'];
    const gatewayPort = await freePort(HOST);
    const gatewayUrl = `http://${HOST}:${gatewayPort}`;
    const gateway = spawnProc('gateway', process.execPath, [
      MAIN_JS,
      'gateway',
      '--port',
      String(gatewayPort),
      '--host',
      HOST,
      '--no-prepare',
      '--default-model',
      'delay',
      ...common,
      '--log-level',
      'warn',
    ]);
    procs.push(gateway);
    await gateway.waitForHttp(`${gatewayUrl}/health/live`, 60_000);
    progress(`redis ${redis.url}, gateway ${gatewayUrl} (pid ${gateway.pid})`);

    // Times are ms since the load starts; until then, since now (negative).
    let loadT0 = performance.now() + 1e9;
    const now = (): number => performance.now() - loadT0;
    const decisions: Decision[] = [];
    const scaler = await startAutoscaler(
      'autoscaler',
      common,
      ['--min', '1', '--max', String(MAX_REPLICAS), '--stabilization', `${stabilizationS}s`],
      decisions,
      now,
    );
    procs.push(scaler.proc);

    link = await RedisLink.connect({ url: redis.url, prefix: PREFIX, logger: createLogger('silent') }, 'bench-autoscale');
    const keys = new RedisKeys(PREFIX);
    const queue = queueKey('delay', '1');
    const samples: Sample[] = [];
    let lastMetrics: Series[] = [];
    const takeSample = async (metricsUrl: string, autoscalerPid: number): Promise<Sample> => {
      const [reading, series] = await Promise.all([readQueue(link as RedisLink, keys, queue), scrapeMetrics(metricsUrl).catch(() => [] as Series[])]);
      if (series.length > 0) lastMetrics = series;
      return {
        t: now(),
        oldestWaitMs: reading.oldestWaitingAt === undefined ? 0 : Math.max(0, reading.at - reading.oldestWaitingAt),
        backlog: Math.max(0, reading.length - reading.pending),
        processes: childPids(autoscalerPid).length,
        current: metric(series, 'swarmserve_autoscale_current_replicas') ?? Number.NaN,
        live: metric(series, 'swarmserve_autoscale_live_replicas') ?? Number.NaN,
      };
    };

    // The first worker (--min 1) serves before the load starts: phase 1 measures a steady state.
    const warmupDeadline = performance.now() + 90_000;
    for (;;) {
      const s = await takeSample(scaler.url, scaler.proc.pid);
      if (s.live >= 1) break;
      if (performance.now() > warmupDeadline) throw new Error(`no worker live 90 s after the autoscaler started:\n${scaler.proc.tail()}`);
      await sleep(SAMPLE_MS);
    }
    const warm = await predict(gatewayUrl, image);
    if (warm.status !== 200) throw new Error(`the warm-up request answered ${warm.status}`);
    progress(`one worker live; warm-up request answered in ${warm.ms.toFixed(0)} ms`);

    // ---- scenario 1: low → 5× → low, open loop -------------------------------------------
    const phases: Phase[] = [
      { name: 'low', rate: LOW_RATE, startMs: 0, endMs: phaseMs },
      { name: '5× step', rate: HIGH_RATE, startMs: phaseMs, endMs: 2 * phaseMs },
      { name: 'low again', rate: LOW_RATE, startMs: 2 * phaseMs, endMs: 3 * phaseMs },
    ];
    const records: RequestRecord[] = [];
    const pending: Array<Promise<void>> = [];
    let inFlight = 0;
    let skipped = 0;
    let maxLateMs = 0;
    let lateSends = 0;
    loadT0 = performance.now();
    progress(`load starts: ${phases.map((p) => `${p.name} ${p.rate} req/s ${(p.endMs - p.startMs) / 1000} s`).join(' → ')}`);

    let sampling = true;
    const sampler = (async () => {
      let nextProgress = 0;
      while (sampling) {
        const started = performance.now();
        const s = await takeSample(scaler.url, scaler.proc.pid).catch(() => undefined);
        if (s !== undefined) {
          samples.push(s);
          if (s.t >= nextProgress) {
            nextProgress += PROGRESS_EVERY_MS;
            const phase = phases.find((p) => s.t >= p.startMs && s.t < p.endMs);
            progress(
              `${phase?.name ?? 'end'} ${phase?.rate ?? 0} req/s: processes ${s.processes}, asked ${s.current}, live ${s.live}, oldest wait ${s.oldestWaitMs} ms, backlog ${s.backlog}, in flight ${inFlight}`,
            );
          }
        }
        await sleep(Math.max(0, SAMPLE_MS - (performance.now() - started)));
      }
    })();

    // Every request has its scheduled time; a timer sends whatever is due.
    const schedule: number[] = [];
    for (const p of phases) for (let t = p.startMs; t < p.endMs; t += 1000 / p.rate) schedule.push(t);
    await new Promise<void>((resolve) => {
      let next = 0;
      const timer = setInterval(() => {
        const t = now();
        while (next < schedule.length && (schedule[next] as number) <= t) {
          const at = schedule[next++] as number;
          const late = t - at;
          maxLateMs = Math.max(maxLateMs, late);
          if (late > LATE_MS) lateSends++;
          if (inFlight >= MAX_IN_FLIGHT) {
            skipped++;
            continue;
          }
          inFlight++;
          pending.push(
            predict(gatewayUrl, image).then((r) => {
              inFlight--;
              records.push({ t: at, status: r.status, ms: r.ms });
            }),
          );
        }
        if (next >= schedule.length) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    progress(`load sent (${schedule.length - skipped} requests); waiting for the answers still in flight (${inFlight})`);
    await Promise.all(pending);
    const loadEndMs = 3 * phaseMs;
    sampling = false;
    await sampler;
    const startupS = metric(lastMetrics, 'swarmserve_autoscale_startup_seconds');
    const serviceRate = metric(lastMetrics, 'swarmserve_autoscale_replica_service_rate');

    // ---- scenario 2: --min 0 -------------------------------------------------------------
    progress('scenario 2: the autoscaler again with --min 0 --stabilization 10s');
    const scaleDownsBefore = decisions.filter((d) => d.direction === 'down').length;
    const stop1 = await scaler.proc.stop();
    progress(`first autoscaler stopped (SIGTERM: its workers drained): ${stop1.signal ?? `exit code ${stop1.code}`} in ${(stop1.stopMs / 1000).toFixed(1)} s`);
    const decisions0: Decision[] = [];
    const t0Zero = performance.now();
    const scaler0 = await startAutoscaler(
      'autoscaler-min0',
      common,
      ['--min', '0', '--max', '2', '--stabilization', '10s'],
      decisions0,
      () => performance.now() - t0Zero,
    );
    procs.push(scaler0.proc);
    // A few requests first, so the idle that follows comes after real work (a measured service rate).
    const before0 = await Promise.all(Array.from({ length: 5 }, () => predict(gatewayUrl, image)));
    progress(`5 requests to wake it: ${before0.map((r) => r.status).join(' ')}; waiting for it to scale to 0`);
    const idleDeadline = performance.now() + 90_000;
    let idle: Sample | undefined;
    for (;;) {
      const s = await takeSample(scaler0.url, scaler0.proc.pid);
      if (s.current === 0 && s.live === 0 && s.processes === 0) {
        idle = s;
        break;
      }
      if (performance.now() > idleDeadline) break;
      await sleep(SAMPLE_MS);
    }
    let first: { status: number; ms: number } | undefined;
    if (idle !== undefined) {
      progress(`at 0 workers ${((performance.now() - t0Zero) / 1000).toFixed(1)} s after it started; idle two more ticks, then one request`);
      await sleep(2 * INTERVAL_S * 1000);
      first = await predict(gatewayUrl, image);
      progress(`first request after idle: ${first.status} in ${(first.ms / 1000).toFixed(2)} s`);
    } else progress('it did not reach 0 workers within 90 s');
    await scaler0.proc.stop();

    // ---- figures ------------------------------------------------------------------------
    const inLoad = samples.filter((s) => s.t >= 0 && s.t <= loadEndMs);
    // Σ over the samples of running worker processes × the time each stands for.
    const replicaSeconds = (from: number, to: number, of: (s: Sample) => number): number => {
      const xs = inLoad.filter((s) => s.t >= from && s.t < to);
      let sum = 0;
      for (let i = 0; i < xs.length; i++) {
        const s = xs[i] as Sample;
        const nextT = xs[i + 1]?.t ?? to;
        sum += of(s) * ((Math.min(nextT, to) - s.t) / 1000);
      }
      return sum;
    };
    const optimumFor = (p: Phase): number => ((p.endMs - p.startMs) / 1000) * Math.ceil(p.rate / PER_REPLICA_PER_S);
    const rows = phases.map((p) => {
      const reqs = records.filter((r) => r.t >= p.startMs && r.t < p.endMs);
      const lat = summarize(reqs.filter((r) => r.status === 200).map((r) => r.ms));
      const seconds = (p.endMs - p.startMs) / 1000;
      const rs = replicaSeconds(p.startMs, p.endMs, (s) => s.processes);
      const moves = decisions.filter((d) => d.t >= p.startMs && d.t < p.endMs && d.direction !== 'hold');
      return {
        phase: p.name,
        rate: p.rate,
        requests: reqs.length,
        failed: reqs.filter((r) => r.status !== 200).length,
        statuses: Object.fromEntries([...new Set(reqs.map((r) => r.status))].map((st) => [st, reqs.filter((r) => r.status === st).length])),
        meanReplicas: rs / seconds,
        replicaSeconds: rs,
        askedReplicaSeconds: replicaSeconds(p.startMs, p.endMs, (s) => (Number.isNaN(s.current) ? 0 : s.current)),
        optimumReplicaSeconds: optimumFor(p),
        optimumReplicas: Math.ceil(p.rate / PER_REPLICA_PER_S),
        p50Ms: lat.p50,
        p95Ms: lat.p95,
        maxMs: lat.max,
        maxOldestWaitMs: Math.max(0, ...inLoad.filter((s) => s.t >= p.startMs && s.t < p.endMs).map((s) => s.oldestWaitMs)),
        moves: moves.map((d) => `${d.direction} ${d.from}→${d.replicas} (${d.reason}) at ${(d.t / 1000).toFixed(1)} s`),
        directionChanges: directionChanges(moves),
      };
    });

    // Step recovery: from the step to the first sample under the target after the oldest wait
    // went over it. Excursions later in the phase (a stalled machine, a burst) are not the step's
    // response: they are listed beside it, and show in the direction changes and replica-seconds.
    const step = phases[1] as Phase;
    const stepSamples = inLoad.filter((s) => s.t >= step.startMs && s.t < step.endMs);
    const over = (s: Sample): boolean => s.oldestWaitMs >= TARGET_WAIT_MS;
    const firstOver = stepSamples.findIndex(over);
    const back = firstOver < 0 ? -1 : stepSamples.findIndex((s, i) => i > firstOver && !over(s));
    const recoveredAt = firstOver < 0 ? step.startMs : back < 0 ? step.endMs : (stepSamples[back] as Sample).t;
    const recoveryS = (recoveredAt - step.startMs) / 1000;
    const later: string[] = [];
    for (let i = Math.max(back, 0), start = -1; back >= 0 && i < stepSamples.length; i++) {
      const s = stepSamples[i] as Sample;
      if (over(s) && start < 0) start = i;
      if (start >= 0 && (!over(s) || i === stepSamples.length - 1)) {
        const from = stepSamples[start] as Sample;
        const peak = Math.max(...stepSamples.slice(start, i + 1).map((x) => x.oldestWaitMs));
        later.push(`${((from.t - step.startMs) / 1000).toFixed(1)}–${((s.t - step.startMs) / 1000).toFixed(1)} s (peak ${peak} ms)`);
        start = -1;
      }
    }
    // The step's own start-up (from its first scale-up to that many workers heartbeating): the
    // autoscaler's figure is smoothed with earlier, smaller start-ups, and N workers starting at
    // once on two cores take longer than one.
    const stepUp = decisions.find((d) => d.t >= step.startMs && d.t < step.endMs && d.direction === 'up');
    const allLive = stepUp === undefined ? undefined : inLoad.find((s) => s.t >= stepUp.t && s.live >= stepUp.replicas);
    const stepStartupS = stepUp === undefined || allLive === undefined ? Number.NaN : (allLive.t - stepUp.t) / 1000;
    const recoveryTargetS = 2 * INTERVAL_S + stepStartupS;

    const totalRs = sumOf(rows.map((r) => r.replicaSeconds));
    const totalOptimum = sumOf(rows.map((r) => r.optimumReplicaSeconds));
    const failedLoad = sumOf(rows.map((r) => r.failed));
    const failed0 = before0.filter((r) => r.status !== 200).length + (first !== undefined && first.status !== 200 ? 1 : 0);
    const scaleDowns = scaleDownsBefore + decisions0.filter((d) => d.direction === 'down').length;
    const maxChanges = Math.max(...rows.map((r) => r.directionChanges));
    const targets: Target[] = [
      {
        name: 'oldest wait back under the target after the 5× step',
        measured: `${recoveryS.toFixed(1)} s${later.length === 0 ? '' : `; later in the phase over the target again at ${later.join(', ')} after the step`}`,
        want: `≤ 2 ticks + the step's start-up (${stepUp === undefined ? 'no scale-up' : `${stepUp.from}→${stepUp.replicas}`}) = 2 × ${INTERVAL_S} s + ${stepStartupS.toFixed(1)} s = ${recoveryTargetS.toFixed(1)} s`,
        met: recoveryS <= recoveryTargetS,
      },
      {
        name: 'changes of direction per steady phase',
        measured: `${rows.map((r) => `${r.phase}: ${r.directionChanges}`).join(', ')}`,
        want: `≤ ${MAX_DIRECTION_CHANGES} each`,
        met: maxChanges <= MAX_DIRECTION_CHANGES,
      },
      {
        name: 'failed requests through every scale-down',
        measured: `${failedLoad} of ${records.length} (load) + ${failed0} of ${before0.length + (first === undefined ? 0 : 1)} (--min 0); ${scaleDowns} scale-downs`,
        want: '0',
        met: failedLoad === 0 && failed0 === 0 && skipped === 0,
      },
      {
        name: 'replica-seconds vs the optimum Σ ceil(rate / 10)',
        measured: `${totalRs.toFixed(0)} / ${totalOptimum} = ${(totalRs / totalOptimum).toFixed(3)}×`,
        want: `≤ ${TARGET_RATIO}×`,
        met: totalRs / totalOptimum <= TARGET_RATIO,
      },
      {
        name: '--min 0: the first request after idle is answered',
        measured: first === undefined ? 'not sent (never reached 0 workers)' : `${first.status} in ${(first.ms / 1000).toFixed(2)} s`,
        want: '200',
        met: first?.status === 200,
      },
    ];

    const lines: string[] = ['', `## bench:autoscale — ${startedAt.toISOString()}; ${cpu.model}, ${availableParallelism()} cores; node ${process.version}`, ''];
    lines.push(
      `Autoscaler: node dist/src/cli/main.js autoscale ${scaler.args.join(' ').replace(repo.root, '<delay repo>')}`,
      `Delay model ${DELAY_MS} ms per batch, maxBatch 1 (${PER_REPLICA_PER_S} jobs/s per worker; measured by the autoscaler: ${serviceRate?.toFixed(2) ?? '?'}); start-up measured by the autoscaler (smoothed): ${startupS?.toFixed(2) ?? '?'} s; the step's scale-up: ${stepStartupS.toFixed(2)} s to all live.`,
      `Heartbeats ${HEARTBEAT.join(' ')} for the gateway, the autoscaler and its workers. Requests evenly spaced, each ?timeout_ms=${REQUEST_TIMEOUT_MS}.`,
      `Replicas = worker processes running (children of the autoscaler: starting, serving or draining), sampled every ${SAMPLE_MS} ms.`,
      '',
    );
    lines.push(
      markdownTable(
        [
          'phase',
          'req/s',
          'requests',
          'mean replicas',
          'optimum',
          'replica-s',
          'optimum replica-s',
          'p50 ms',
          'p95 ms',
          'max oldest wait ms',
          'direction changes',
          'failed',
        ],
        rows.map((r) => [
          r.phase,
          String(r.rate),
          String(r.requests),
          r.meanReplicas.toFixed(2),
          String(r.optimumReplicas),
          r.replicaSeconds.toFixed(0),
          String(r.optimumReplicaSeconds),
          r.p50Ms.toFixed(0),
          r.p95Ms.toFixed(0),
          String(r.maxOldestWaitMs),
          String(r.directionChanges),
          String(r.failed),
        ]),
      ),
      '',
    );
    for (const r of rows) lines.push(`- ${r.phase}: ${r.moves.length === 0 ? 'no scaling' : r.moves.join('; ')}`);
    const generatorOk = skipped === 0 && lateSends === 0;
    lines.push(
      '',
      generatorOk
        ? `Load generator kept the rate (latest send ${maxLateMs.toFixed(0)} ms behind schedule).`
        : `Load generator did NOT keep the rate: ${lateSends} sends > ${LATE_MS} ms late (worst ${maxLateMs.toFixed(0)} ms), ${skipped} skipped at ${MAX_IN_FLIGHT} in flight.`,
      '',
    );
    lines.push(
      markdownTable(
        ['target', 'measured', 'want', 'PASS/FAIL'],
        targets.map((t) => [t.name, t.measured, t.want, t.met ? 'PASS' : '**FAIL**']),
      ),
    );
    const failedTargets = targets.filter((t) => !t.met);
    lines.push(
      '',
      failedTargets.length === 0
        ? 'ALL TARGETS PASS'
        : `NOT MET: ${failedTargets.length} of ${targets.length} — ${failedTargets.map((t) => t.name).join('; ')}`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    writeResults('autoscale', startedAt, {
      startedAt: startedAt.toISOString(),
      machine: { cpu: cpu.model, cores: availableParallelism(), totalMemBytes: totalmem(), loadavgAtEnd: loadavg(), node: process.version },
      settings: {
        delayMs: DELAY_MS,
        perReplicaPerS: PER_REPLICA_PER_S,
        phaseMs,
        stabilizationS,
        intervalS: INTERVAL_S,
        targetWaitMs: TARGET_WAIT_MS,
        heartbeat: HEARTBEAT,
        autoscalerArgs: scaler.args,
        autoscalerMin0Args: scaler0.args,
      },
      measured: {
        startupS: startupS ?? null,
        stepStartupS,
        serviceRate: serviceRate ?? null,
        recoveryS,
        recoveryTargetS,
        totalReplicaSeconds: totalRs,
        totalOptimum,
        maxLateMs,
        lateSends,
        skipped,
      },
      targets,
      phases: rows,
      min0: { wake: before0, firstAfterIdle: first ?? null, decisions: decisions0 },
      decisions,
      samples,
    });
    // Like every benchmark: the targets are judged in the report, the exit code says the run completed.
    return 0;
  } finally {
    await link?.close();
    for (const p of procs.reverse()) if (p.exited() === undefined) await p.stop();
    await repo.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  }
}

runDriver('bench:autoscale', main);
