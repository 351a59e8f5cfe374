// The scaling experiment: load at N users while the worker count follows the schedule, one
// step after another, then the report. Steps are back to back: a step starts when the previous
// one ends, asks the scaler for its worker count, and lasts `stepMs` from its start whatever
// the scaling took; its table row counts from max(start + settle, workers running) to its end.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ServeError } from '../common/errors.js';
import { samplePhotoPath } from '../config/paths.js';
import type { AutoscaleDecision, ExperimentOptions, LocalTarget, ExperimentSummary, ReplicaSample, Scaler, StepRow, StepTiming } from './contract.js';
import { LocalAutoscaled } from './autoscaler-local.js';
import { cpuUsage, sampleCpu, type CpuSample } from '../common/proc-cpu.js';
import { stepLine } from './format.js';
import { judgeTargets, targetLine } from './targets.js';
import { imageBody, predictUrl, startSteppedLoad, type SteppedLoad } from './load.js';
import { pause } from '../scaling/pause.js';
import { LocalScaler, type LocalScalerOptions } from './scaler-local.js';
import { SwarmService } from '../scaling/swarm-service.js';
import { MAX_REPLICAS, checkSchedule } from './schedule.js';
import { workersLabel } from './svg-chart.js';
import { Timeline } from './timeline.js';
import { failuresByKind, slidingWindow, stepTable } from './timeline-stats.js';
import { sibling, writeReport } from './write-report.js';

export const DEFAULT_WINDOW_MS = 10_000;
const GATEWAY_READY_TIMEOUT_MS = 60_000;
const RESTORE_TIMEOUT_MS = 60_000;

/** One step of the run: its users, and its worker count unless the autoscaler decides. */
interface PlannedStep {
  users: number;
  replicas: number | undefined;
}

/** The steps: one per `replicas` entry (users one count or one per step), or, with the autoscaler, one per `users` entry. */
export function stepPlan(o: Pick<ExperimentOptions, 'users' | 'replicas' | 'autoscale'>): PlannedStep[] {
  const users = typeof o.users === 'number' ? [o.users] : o.users;
  if (o.autoscale !== undefined || o.replicas === undefined) return users.map((n) => ({ users: n, replicas: undefined }));
  return o.replicas.map((replicas, i) => ({ users: users.length === 1 ? (users[0] ?? 1) : (users[i] ?? 1), replicas }));
}

function checkOptions(o: ExperimentOptions): void {
  const users = typeof o.users === 'number' ? [o.users] : o.users;
  if (users.length === 0 || users.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000))
    throw new ServeError('USAGE', `--users must be an integer from 1 to 10000, or a list of them, one per step (got ${users.join(',')})`);
  if (o.spawnRate !== undefined && !(o.spawnRate > 0))
    throw new ServeError('USAGE', `--spawn-rate must be a number of users per second > 0 (got ${o.spawnRate})`);
  if (o.targetRatio !== undefined && !(o.targetRatio > 0 && o.targetRatio <= MAX_REPLICAS))
    throw new ServeError('USAGE', `--target-ratio must be a number > 0 and ≤ ${MAX_REPLICAS} (got ${o.targetRatio})`);
  if (o.autoscale !== undefined) {
    if (o.replicas !== undefined)
      throw new ServeError(
        'USAGE',
        '--autoscale lets the autoscaler choose the worker count: give no --replicas (the steps are the --users list, e.g. --users 5,40,5)',
      );
    if (o.target.kind !== 'local')
      throw new ServeError(
        'USAGE',
        "--autoscale starts its own autoscaler and is for --local; with Swarm, run the stack's autoscaler service and watch it (docs/autoscale.md)",
      );
    const { min, max } = o.autoscale;
    if (min !== undefined && max !== undefined && min > max) throw new ServeError('USAGE', `--min (${min}) must not be above --max (${max})`);
  } else {
    if (o.replicas === undefined || o.replicas.length === 0 || o.replicas.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS))
      throw new ServeError('USAGE', `--replicas must list worker counts 1…${MAX_REPLICAS} (got ${o.replicas?.join(',') ?? 'nothing'})`);
    if (users.length > 1 && users.length !== o.replicas.length)
      throw new ServeError('USAGE', `--users lists ${users.length} steps and --replicas ${o.replicas.length}: give one user count, or one per step`);
  }
  checkSchedule({ stepMs: o.stepMs, settleMs: o.settleMs, windowMs: o.windowMs ?? DEFAULT_WINDOW_MS });
  if (o.model.trim() === '') throw new ServeError('USAGE', '--model must name a model');
  const dir = dirname(resolve(o.out));
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ServeError('USAGE', `--out ${o.out}: cannot write in ${dir} (does the directory exist?)`);
  }
  if (o.target.kind === 'swarm') {
    let url: URL | undefined;
    try {
      url = new URL(o.target.url);
    } catch {
      // reported below
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new ServeError('USAGE', `--url "${o.target.url}" is not an http(s) URL of the gateway (e.g. http://127.0.0.1:8080)`);
  }
}

/** Polls the gateway's /health/ready until 200: it reaches Redis and sees a live worker for every model version it routes. */
async function waitGatewayReady(url: string, signal: AbortSignal | undefined): Promise<void> {
  const deadline = performance.now() + GATEWAY_READY_TIMEOUT_MS;
  for (;;) {
    const answer = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(3_000) }).then(
      async (res) => ({ status: res.status, text: (await res.text()).slice(0, 200) }),
      (err: unknown) => ({ status: 0, text: err instanceof Error ? err.message : String(err) }),
    );
    if (answer.status === 200) return;
    const last = answer.status === 0 ? answer.text : `HTTP ${answer.status} ${answer.text}`;
    if (performance.now() > deadline)
      throw new ServeError('NOT_READY', `the gateway at ${url} was not ready within ${GATEWAY_READY_TIMEOUT_MS / 1000} s (GET /health/ready: ${last})`);
    await pause(250, signal);
  }
}

interface Target {
  /** With a fixed schedule: what sets the worker count. */
  scaler?: Scaler;
  /** With the autoscaler: what it did. */
  autoscaled?: LocalAutoscaled;
  description: string;
  url: string;
  /** Aborted when something the experiment depends on died (the autoscaler). */
  failed?: AbortSignal;
  /** Pids of the processes the experiment started (local), for the CPU left to other work. */
  pids?: () => number[];
  /** Put things back as they were: the local stack stopped, or the Swarm service at its old count. */
  release(progress: (line: string) => void): Promise<void>;
}

/** The local stack's options, whoever sizes its workers. */
function localOptions(o: ExperimentOptions, t: LocalTarget, progress: (line: string) => void): LocalScalerOptions {
  return {
    model: o.model,
    ...(o.version === undefined ? {} : { version: o.version }),
    ...(t.threads === undefined ? {} : { threads: t.threads }),
    ...(t.port === undefined ? {} : { port: t.port }),
    ...(t.models === undefined ? {} : { models: t.models }),
    onProgress: progress,
  };
}

async function openTarget(o: ExperimentOptions, progress: (line: string) => void): Promise<Target> {
  const t = o.target;
  if (t.kind === 'local' && o.autoscale !== undefined) {
    const autoscaled = await LocalAutoscaled.create({ ...localOptions(o, t, progress), settings: o.autoscale }, o.signal);
    return {
      autoscaled,
      description: autoscaled.description,
      url: autoscaled.url,
      failed: autoscaled.failed,
      pids: () => autoscaled.pids(),
      release: async (say) => {
        say('local: stopping the autoscaler (and its workers), the gateway and redis-server');
        await autoscaled.close();
        say(`local: stopped (pids ${autoscaled.pids().join(', ')})`);
      },
    };
  }
  if (t.kind === 'local') {
    const scaler = await LocalScaler.create(localOptions(o, t, progress), o.signal);
    return {
      scaler,
      description: scaler.description,
      url: scaler.url,
      pids: () => scaler.pids(),
      release: async (say) => {
        say('local: stopping the workers, the gateway and redis-server');
        await scaler.close();
        say(`local: stopped (pids ${scaler.pids().join(', ')})`);
      },
    };
  }
  const scaler = await SwarmService.create({ service: t.service, ...(t.socketPath === undefined ? {} : { socketPath: t.socketPath }) });
  progress(`swarm: service ${scaler.service} has ${scaler.initialReplicas} replicas; load goes to ${t.url}`);
  return {
    scaler,
    description: scaler.description,
    url: t.url.replace(/\/+$/, ''),
    release: async (say) => {
      try {
        if (t.restore !== false && (await scaler.running()) !== scaler.initialReplicas) {
          say(`swarm: putting ${scaler.service} back to ${scaler.initialReplicas} replicas`);
          await scaler.setReplicas(scaler.initialReplicas, AbortSignal.timeout(RESTORE_TIMEOUT_MS));
        }
      } catch (err) {
        say(`swarm: could not put ${scaler.service} back to ${scaler.initialReplicas} replicas: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        await scaler.close();
      }
    },
  };
}

/**
 * Runs the experiment and writes its report (HTML), chart (SVG) and timeline (JSON); resolves
 * with the summary. Whatever happens — success, error, abort — what the experiment started is
 * stopped (local) or put back (Swarm: the service's replica count, unless `restore: false`)
 * before it settles. Rejects with a USAGE `ServeError` (bad options), a `ServeError` (a scaler or
 * the gateway failed), or the abort reason.
 */
export async function runExperiment(o: ExperimentOptions): Promise<ExperimentSummary> {
  checkOptions(o);
  const progress = o.onProgress ?? (() => undefined);
  const signal = o.signal;
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const plan = stepPlan(o);
  const maxUsers = Math.max(...plan.map((p) => p.users));
  const image = resolve(o.image ?? samplePhotoPath());
  const body = await imageBody(image);
  const stepS = o.stepMs / 1000;
  const settleS = o.settleMs / 1000;
  const spawnS = o.spawnRate === undefined ? 1 : maxUsers / o.spawnRate;
  if (spawnS > settleS)
    progress(
      `warning: starting ${maxUsers} users at ${o.spawnRate}/s takes ${spawnS.toFixed(1)} s, longer than --settle: a step's row counts part of the ramp`,
    );

  signal?.throwIfAborted();
  const target = await openTarget(o, progress);
  const timeline = new Timeline();
  const timings: StepTiming[] = [];
  const imagesByStep: Array<Record<string, number> | null> = [];
  const otherCoresByStep: Array<number | null> = [];
  let load: SteppedLoad | undefined;
  let startEpochMs = 0;
  const label = (p: PlannedStep): string =>
    p.replicas === undefined ? `${p.users} users` : `${workersLabel(p.replicas)}${plan.some((q) => q.users !== p.users) ? `, ${p.users} users` : ''}`;
  try {
    const first = plan[0] ?? { users: 1, replicas: 1 };
    const setupSignal = anySignal(signal, target.failed);
    if (first.replicas !== undefined) {
      progress(`step 1/${plan.length}: scaling to ${workersLabel(first.replicas)}`);
      await target.scaler?.setReplicas(first.replicas, setupSignal);
    }
    // With --min 0 no worker runs before the first job, and the gateway is not ready without one.
    if (o.autoscale?.min !== 0) await waitGatewayReady(target.url, setupSignal);
    progress(
      `load: ${typeof o.users === 'number' ? o.users : o.users.join(' → ')} users${o.wait === undefined ? ', no think time' : `, ${o.wait.minS}–${o.wait.maxS} s think time`} → ${predictUrl(target.url, o.model, o.version)}`,
    );

    load = startSteppedLoad(
      {
        url: predictUrl(target.url, o.model, o.version),
        body,
        users: first.users,
        ...(o.spawnRate === undefined ? {} : { spawnRate: o.spawnRate }),
        wait: o.wait,
      },
      timeline,
    );
    startEpochMs = load.startEpochMs;
    // A load that fails (it only rejects on bad options) ends the experiment at once.
    const failed = new AbortController();
    load.failed.catch((err: unknown) => failed.abort(err));
    const stepSignal = anySignal(signal, failed.signal, target.failed) ?? failed.signal;
    const now = (): number => (Date.now() - startEpochMs) / 1000;

    for (const [i, step] of plan.entries()) {
      const startS = i === 0 ? 0 : now();
      if (i > 0) {
        progress(`step ${i + 1}/${plan.length}: ${step.replicas === undefined ? '' : 'scaling to '}${label(step)}`);
        load.setUsers(step.users);
        if (step.replicas !== undefined) await target.scaler?.setReplicas(step.replicas, stepSignal);
      }
      const readyS = i === 0 ? 0 : now();
      const endS = startS + stepS;
      if (readyS >= endS) progress(`warning: step ${i + 1}'s workers took ${(readyS - startS).toFixed(1)} s to run, the whole step: nothing of it is measured`);
      const measuredFromS = Math.min(endS, Math.max(startS + settleS, readyS));
      timings.push({ step: i + 1, replicas: step.replicas ?? 0, users: step.users, replicaRange: null, startS, readyS, measuredFromS, endS });
      await pause(Math.max(0, measuredFromS * 1000 - (Date.now() - startEpochMs)), stepSignal);
      const workBefore = await readReplicaWork(target.scaler, stepSignal);
      const cpuBefore = sampleOwnCpu(target);
      await pause(Math.max(0, endS * 1000 - (Date.now() - startEpochMs)), stepSignal);
      otherCoresByStep.push(otherCores(cpuBefore, sampleOwnCpu(target)));
      const workAfter = await readReplicaWork(target.scaler, stepSignal);
      imagesByStep.push(workDelta(workBefore, workAfter));
      if (target.autoscaled !== undefined) {
        const range = liveRange(samplesOf(target.autoscaled, startEpochMs), startS, endS);
        timings[i] = { ...timings[i], ...(range === null ? {} : { replicas: range.max, replicaRange: range }) } as StepTiming;
      }
      const row = withWork(stepTable(timeline.columns(startEpochMs), timings), imagesByStep, otherCoresByStep).at(-1);
      if (row !== undefined) progress(stepLine(row, plan.length));
      if (step.replicas !== undefined && target.scaler !== undefined) {
        const running = await target.scaler.running();
        if (running !== step.replicas) progress(`warning: ${running} of the step's ${step.replicas} workers were running at its end`);
      }
    }
  } catch (err) {
    await load?.stop().catch(() => undefined);
    await releaseQuietly(target, progress);
    throw err;
  }

  const loadSummary = await load.stop();
  const durationS = timings.at(-1)?.endS ?? 0;
  const cols = timeline.columns(startEpochMs);
  const steps = withWork(stepTable(cols, timings), imagesByStep, otherCoresByStep).map(roundRow);
  const summary: ExperimentSummary = {
    files: { report: resolve(o.out), timeline: resolve(sibling(o.out, '.json')), chart: resolve(sibling(o.out, '.svg')) },
    target: { kind: o.target.kind, description: target.description, url: target.url },
    settings: {
      model: o.model,
      version: o.version ?? null,
      image,
      users: o.users,
      spawnRate: o.spawnRate ?? null,
      wait: o.wait ?? null,
      replicas: o.autoscale === undefined ? (o.replicas ?? null) : null,
      autoscale: o.autoscale ?? null,
      stepS,
      settleS,
      windowS: windowMs / 1000,
      targetRatio: o.targetRatio ?? null,
    },
    startedAt: new Date(startEpochMs).toISOString(),
    durationS,
    steps,
    // The targets compare worker counts the schedule fixed; the autoscaler's are its own choice.
    targets: target.autoscaled === undefined ? judgeTargets(steps, o.targetRatio) : [],
    autoscaler:
      target.autoscaled === undefined ? null : { samples: samplesOf(target.autoscaled, startEpochMs), decisions: decisionsOf(target.autoscaled, startEpochMs) },
    totals: { requests: cols.t.length, failures: cols.failures.size, failuresByKind: failuresByKind(cols) },
    loadGenerator: { cpuCores: loadSummary.cpuCores, cutInFlight: loadSummary.cutInFlight },
  };
  for (const t of summary.targets) progress(targetLine(t));
  try {
    await writeReport(summary, slidingWindow(cols, { durationS, windowS: windowMs / 1000 }), cols);
  } finally {
    await releaseQuietly(target, progress);
  }
  return summary;
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 0 ? undefined : present.length === 1 ? present[0] : AbortSignal.any(present);
}

const toS = (epochMs: number, startEpochMs: number): number => round3((epochMs - startEpochMs) / 1000);

function samplesOf(a: LocalAutoscaled, startEpochMs: number): ReplicaSample[] {
  return a.samples.map((s) => ({ t: toS(s.epochMs, startEpochMs), ...s.value }));
}

function decisionsOf(a: LocalAutoscaled, startEpochMs: number): AutoscaleDecision[] {
  return a.decisions.map((d) => ({ t: toS(d.epochMs, startEpochMs), ...d.value }));
}

/** Fewest and most live workers sampled in [fromS, toS]; null without a sample there. */
export function liveRange(samples: readonly ReplicaSample[], fromS: number, toS: number): { min: number; max: number } | null {
  const live = samples.filter((s) => s.t >= fromS && s.t <= toS && s.live !== null).map((s) => s.live as number);
  return live.length === 0 ? null : { min: Math.min(...live), max: Math.max(...live) };
}

/** The replicas' own counters, or null when the scaler cannot read them or a read fails (the step's row then has none). */
async function readReplicaWork(scaler: Scaler | undefined, signal: AbortSignal): Promise<Record<string, number> | null> {
  if (scaler?.replicaWork === undefined) return null;
  try {
    return await scaler.replicaWork(signal);
  } catch {
    signal.throwIfAborted();
    return null;
  }
}

/** Images each replica computed between two readings; a replica that started in between counts from 0. */
function workDelta(before: Record<string, number> | null, after: Record<string, number> | null): Record<string, number> | null {
  if (before === null || after === null) return null;
  return Object.fromEntries(Object.entries(after).map(([name, n]) => [name, n - (before[name] ?? 0)]));
}

function withWork(rows: StepRow[], imagesByStep: ReadonlyArray<Record<string, number> | null>, otherCoresByStep: ReadonlyArray<number | null>): StepRow[] {
  return rows.map((row, i) => ({ ...row, imagesByReplica: imagesByStep[i] ?? null, otherCores: otherCoresByStep[i] ?? null }));
}

/** CPU of the machine and of every process the experiment runs (itself, and what the local scaler started); undefined for Swarm. */
function sampleOwnCpu(target: Target): CpuSample | undefined {
  if (target.pids === undefined) return undefined;
  return sampleCpu(Object.fromEntries([process.pid, ...target.pids()].map((pid) => [`pid ${pid}`, pid])));
}

/** Cores busy with other work between two samples: the machine's busy cores minus the experiment's own. */
function otherCores(before: CpuSample | undefined, after: CpuSample | undefined): number | null {
  return before === undefined || after === undefined ? null : (cpuUsage(before, after)?.otherCores ?? null);
}

/** Releases the target; a failure to do so is reported, and does not hide the experiment's own outcome. */
async function releaseQuietly(target: Target, progress: (line: string) => void): Promise<void> {
  try {
    await target.release(progress);
  } catch (err) {
    progress(`warning: could not stop or restore everything: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const round3OrNull = (v: number | null): number | null => (v === null ? null : round3(v));

/** The summary's figures to a thousandth (ms, req/s, s): plenty, and readable. */
function roundRow(row: StepRow): StepRow {
  return {
    ...row,
    startS: round3(row.startS),
    readyS: round3(row.readyS),
    measuredFromS: round3(row.measuredFromS),
    endS: round3(row.endS),
    measuredS: round3(row.measuredS),
    rps: round3(row.rps),
    meanMs: round3OrNull(row.meanMs),
    p50Ms: round3OrNull(row.p50Ms),
    p95Ms: round3OrNull(row.p95Ms),
    p99Ms: round3OrNull(row.p99Ms),
    ratio: round3OrNull(row.ratio),
  };
}
