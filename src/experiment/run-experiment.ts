// The scaling experiment: load at N users while the worker count follows the schedule, one
// step after another, then the report. Steps are back to back: a step starts when the previous
// one ends, asks the scaler for its worker count, and lasts `stepMs` from its start whatever
// the scaling took; its table row counts from max(start + settle, workers running) to its end.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ServeError } from '../common/errors.js';
import { samplePhotoPath } from '../config/paths.js';
import type { ExperimentOptions, ExperimentSummary, Scaler, StepRow, StepTiming } from './contract.js';
import { cpuUsage, sampleCpu, type CpuSample } from '../common/proc-cpu.js';
import { stepLine } from './format.js';
import { judgeTargets, targetLine } from './targets.js';
import { imageBody, predictUrl, startLoad, type RunningLoad } from './load.js';
import { pause } from '../scaling/pause.js';
import { LocalScaler } from './scaler-local.js';
import { SwarmService } from '../scaling/swarm-service.js';
import { MAX_REPLICAS, checkSchedule } from './schedule.js';
import { workersLabel } from './svg-chart.js';
import { Timeline } from './timeline.js';
import { failuresByKind, slidingWindow, stepTable } from './timeline-stats.js';
import { sibling, writeReport } from './write-report.js';

export const DEFAULT_WINDOW_MS = 10_000;
const GATEWAY_READY_TIMEOUT_MS = 60_000;
const RESTORE_TIMEOUT_MS = 60_000;

function checkOptions(o: ExperimentOptions): void {
  if (!Number.isInteger(o.users) || o.users < 1 || o.users > 10_000)
    throw new ServeError('USAGE', `--users must be an integer from 1 to 10000 (got ${o.users})`);
  if (o.spawnRate !== undefined && !(o.spawnRate > 0))
    throw new ServeError('USAGE', `--spawn-rate must be a number of users per second > 0 (got ${o.spawnRate})`);
  if (o.targetRatio !== undefined && !(o.targetRatio > 0 && o.targetRatio <= MAX_REPLICAS))
    throw new ServeError('USAGE', `--target-ratio must be a number > 0 and ≤ ${MAX_REPLICAS} (got ${o.targetRatio})`);
  if (o.replicas.length === 0 || o.replicas.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS))
    throw new ServeError('USAGE', `--replicas must list worker counts 1…${MAX_REPLICAS} (got ${o.replicas.join(',')})`);
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
  scaler: Scaler;
  url: string;
  /** Pids of the processes the experiment started (local), for the CPU left to other work. */
  pids?: () => number[];
  /** Put things back as they were: the local stack stopped, or the Swarm service at its old count. */
  release(progress: (line: string) => void): Promise<void>;
}

async function openTarget(o: ExperimentOptions, progress: (line: string) => void): Promise<Target> {
  const t = o.target;
  if (t.kind === 'local') {
    const scaler = await LocalScaler.create(
      {
        model: o.model,
        ...(o.version === undefined ? {} : { version: o.version }),
        ...(t.threads === undefined ? {} : { threads: t.threads }),
        ...(t.port === undefined ? {} : { port: t.port }),
        ...(t.models === undefined ? {} : { models: t.models }),
        onProgress: progress,
      },
      o.signal,
    );
    return {
      scaler,
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
  const spawnRate = o.spawnRate ?? o.users; // default: every user within the first second
  const image = resolve(o.image ?? samplePhotoPath());
  const body = await imageBody(image);
  const stepS = o.stepMs / 1000;
  const settleS = o.settleMs / 1000;
  if (o.users / spawnRate > settleS)
    progress(
      `warning: starting ${o.users} users at ${spawnRate}/s takes ${(o.users / spawnRate).toFixed(1)} s, longer than --settle: step 1's row counts part of the ramp`,
    );

  signal?.throwIfAborted();
  const target = await openTarget(o, progress);
  const timeline = new Timeline();
  const timings: StepTiming[] = [];
  const imagesByStep: Array<Record<string, number> | null> = [];
  const otherCoresByStep: Array<number | null> = [];
  let load: RunningLoad | undefined;
  let startEpochMs = 0;
  try {
    const first = o.replicas[0] ?? 1;
    progress(`step 1/${o.replicas.length}: scaling to ${workersLabel(first)}`);
    await target.scaler.setReplicas(first, signal);
    await waitGatewayReady(target.url, signal);
    progress(
      `load: ${o.users} users${o.wait === undefined ? ', no think time' : `, ${o.wait.minS}–${o.wait.maxS} s think time`} → ${predictUrl(target.url, o.model, o.version)}`,
    );

    load = startLoad({ url: predictUrl(target.url, o.model, o.version), body, users: o.users, spawnRate, wait: o.wait }, timeline);
    startEpochMs = load.startEpochMs;
    // A load that fails (it only rejects on bad options) ends the experiment at once.
    const failed = new AbortController();
    load.done.catch((err: unknown) => failed.abort(err));
    const stepSignal = signal === undefined ? failed.signal : AbortSignal.any([signal, failed.signal]);
    const now = (): number => (Date.now() - startEpochMs) / 1000;

    for (const [i, replicas] of o.replicas.entries()) {
      const startS = i === 0 ? 0 : now();
      if (i > 0) progress(`step ${i + 1}/${o.replicas.length}: scaling to ${workersLabel(replicas)}`);
      await target.scaler.setReplicas(replicas, stepSignal);
      const readyS = i === 0 ? 0 : now();
      const endS = startS + stepS;
      if (readyS >= endS) progress(`warning: step ${i + 1}'s workers took ${(readyS - startS).toFixed(1)} s to run, the whole step: nothing of it is measured`);
      const timing: StepTiming = { step: i + 1, replicas, startS, readyS, measuredFromS: Math.min(endS, Math.max(startS + settleS, readyS)), endS };
      timings.push(timing);
      await pause(Math.max(0, timing.measuredFromS * 1000 - (Date.now() - startEpochMs)), stepSignal);
      const workBefore = await readReplicaWork(target.scaler, stepSignal);
      const cpuBefore = sampleOwnCpu(target);
      await pause(Math.max(0, endS * 1000 - (Date.now() - startEpochMs)), stepSignal);
      otherCoresByStep.push(otherCores(cpuBefore, sampleOwnCpu(target)));
      const workAfter = await readReplicaWork(target.scaler, stepSignal);
      imagesByStep.push(workDelta(workBefore, workAfter));
      const row = withWork(stepTable(timeline.columns(startEpochMs), timings), imagesByStep, otherCoresByStep).at(-1);
      if (row !== undefined) progress(stepLine(row, o.replicas.length));
      const running = await target.scaler.running();
      if (running !== replicas) progress(`warning: ${running} of the step's ${replicas} workers were running at its end`);
    }
  } catch (err) {
    load?.stop();
    await load?.done.catch(() => undefined);
    await releaseQuietly(target, progress);
    throw err;
  }

  load.stop();
  const loadSummary = await load.done;
  const durationS = timings.at(-1)?.endS ?? 0;
  const cols = timeline.columns(startEpochMs);
  const steps = withWork(stepTable(cols, timings), imagesByStep, otherCoresByStep).map(roundRow);
  const summary: ExperimentSummary = {
    files: { report: resolve(o.out), timeline: resolve(sibling(o.out, '.json')), chart: resolve(sibling(o.out, '.svg')) },
    target: { kind: o.target.kind, description: target.scaler.description, url: target.url },
    settings: {
      model: o.model,
      version: o.version ?? null,
      image,
      users: o.users,
      spawnRate: o.spawnRate ?? null,
      wait: o.wait ?? null,
      replicas: o.replicas,
      stepS,
      settleS,
      windowS: windowMs / 1000,
      targetRatio: o.targetRatio ?? null,
    },
    startedAt: new Date(startEpochMs).toISOString(),
    durationS,
    steps,
    targets: judgeTargets(steps, o.targetRatio),
    totals: { requests: cols.t.length, failures: cols.failures.size, failuresByKind: failuresByKind(cols) },
    loadGenerator: { cpuCores: loadSummary.cpu.cores, cutInFlight: loadSummary.cutInFlight },
  };
  for (const t of summary.targets) progress(targetLine(t));
  try {
    await writeReport(summary, slidingWindow(cols, { durationS, windowS: windowMs / 1000 }), cols);
  } finally {
    await releaseQuietly(target, progress);
  }
  return summary;
}

/** The replicas' own counters, or null when the scaler cannot read them or a read fails (the step's row then has none). */
async function readReplicaWork(scaler: Scaler, signal: AbortSignal): Promise<Record<string, number> | null> {
  if (scaler.replicaWork === undefined) return null;
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
