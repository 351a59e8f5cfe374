// `experiment --local --autoscale`: the experiment's own Redis and gateway, and the workers
// sized by `swarmserve autoscale --local` run as a child process (the experiment may not
// import the autoscale feature: docs/architecture.md). What the autoscaler did is read back
// from outside, as an operator would: its /metrics each second (desired, asked-for and live
// replicas) and its JSON decision lines on stdout. The workers are the autoscaler's children;
// close() stops it first (SIGTERM: its workers drain and stop with it), then the gateway and
// Redis.
import { ServeError } from '../common/errors.js';
import { ManagedProcess, freePort } from '../scaling/processes.js';
import { cliEntry } from '../scaling/worker-pool.js';
import type { AutoscaleDecision, AutoscaleSettings } from './contract.js';
import { DEFAULT_READY_TIMEOUT_MS, STOP_TIMEOUT_MS, only, startLocalStack, type LocalScalerOptions, type LocalStack } from './scaler-local.js';

const SAMPLE_EVERY_MS = 1_000;

/** A sample or decision at epoch milliseconds; the experiment makes it relative to the load's start. */
export interface Timed<T> {
  epochMs: number;
  value: T;
}

export type Gauges = { desired: number | null; current: number | null; live: number | null };
type Decision = Omit<AutoscaleDecision, 't'>;

/** One gauge of the autoscaler's exposition (its only series has the group label), or null. */
export function gauge(metrics: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
  const v = m === null ? Number.NaN : Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

/** The decision of one autoscaler log line when it changed the count (up/down), else undefined. */
export function decisionOf(line: string): { epochMs: number | undefined; decision: Decision } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  const o = parsed as { time?: unknown; decision?: Record<string, unknown> };
  const d = o.decision;
  if (d === undefined || (d.direction !== 'up' && d.direction !== 'down') || d.dryRun === true) return undefined;
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);
  return {
    epochMs: typeof o.time === 'number' ? o.time : undefined,
    decision: { direction: d.direction, reason: String(d.reason), from: num(d.from), replicas: num(d.replicas), desired: num(d.desired) },
  };
}

/** The autoscaler's command line, from the experiment's settings. */
export function autoscalerArgs(o: {
  redisUrl: string;
  only: string;
  metricsPort: number;
  models?: string;
  threads?: number;
  settings: AutoscaleSettings;
}): string[] {
  const s = o.settings;
  const duration = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : `${ms}ms`);
  const pairs: Array<[string, string | undefined]> = [
    ['--min', s.min?.toString()],
    ['--max', s.max?.toString()],
    ['--stabilization', duration(s.stabilizationMs)],
    ['--target-wait', duration(s.targetWaitMs)],
    ['--interval', duration(s.intervalMs)],
    ['--models', o.models],
    ['--worker-threads', o.threads?.toString()],
  ];
  return [
    'autoscale',
    '--local',
    '--redis',
    o.redisUrl,
    '--only',
    o.only,
    '--metrics-port',
    String(o.metricsPort),
    '--metrics-host',
    '127.0.0.1',
    '--log-level',
    'info',
    ...pairs.flatMap(([flag, value]) => (value === undefined ? [] : [flag, value])),
  ];
}

export class LocalAutoscaled {
  readonly description: string;
  readonly samples: Array<Timed<Gauges>> = [];
  readonly decisions: Array<Timed<Decision>> = [];
  /** Aborted when the autoscaler exits without being told to: the experiment then fails. */
  readonly failed: AbortSignal;
  private readonly workerPids = new Set<number>();
  private readonly sampler: NodeJS.Timeout;
  private sampling = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly stack: LocalStack,
    private readonly autoscaler: ManagedProcess,
    private readonly metricsUrl: string,
    progress: (line: string) => void,
  ) {
    this.description = `local worker processes sized by swarmserve autoscale (pid ${autoscaler.pid})`;
    autoscaler.onLine((line) => this.onLine(line, progress));
    const failed = new AbortController();
    this.failed = failed.signal;
    void autoscaler.exit.then((s) => {
      if (autoscaler.stopRequested) return;
      failed.abort(
        new ServeError(
          'PROCESS_FAILED',
          `the autoscaler (pid ${autoscaler.pid}) exited (${s.signal ?? `code ${s.code}`}) during the experiment; its last output:\n${autoscaler.tail()}`,
        ),
      );
    });
    this.sampler = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
  }

  /** Starts Redis, the gateway and the autoscaler, ready when the autoscaler's /health/live answers. */
  static async create(options: LocalScalerOptions & { settings: AutoscaleSettings }, signal?: AbortSignal): Promise<LocalAutoscaled> {
    const stack = await startLocalStack(options, signal);
    const progress = options.onProgress ?? (() => undefined);
    let autoscaler: ManagedProcess | undefined;
    try {
      const metricsPort = await freePort();
      const args = autoscalerArgs({
        redisUrl: stack.redis.url,
        only: only(stack.options),
        metricsPort,
        settings: options.settings,
        ...(options.models === undefined ? {} : { models: options.models }),
        ...(options.threads === undefined ? {} : { threads: options.threads }),
      });
      autoscaler = ManagedProcess.spawn('autoscaler', process.execPath, [cliEntry(), ...args]);
      const metricsUrl = `http://127.0.0.1:${metricsPort}`;
      progress(`local: autoscaler pid ${autoscaler.pid} (metrics ${metricsUrl}/metrics): swarmserve ${args.join(' ')}`);
      await autoscaler.waitForHttp(`${metricsUrl}/health/live`, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
      return new LocalAutoscaled(stack, autoscaler, metricsUrl, progress);
    } catch (err) {
      await autoscaler?.stop(STOP_TIMEOUT_MS);
      await stack.close();
      throw err;
    }
  }

  get url(): string {
    return this.stack.url;
  }

  /** The workers the autoscaler started are named on its own log lines (their pids, for the CPU figures and the checks that none is left). */
  private onLine(line: string, progress: (line: string) => void): void {
    const decided = decisionOf(line);
    if (decided !== undefined) {
      this.decisions.push({ epochMs: decided.epochMs ?? Date.now(), value: decided.decision });
      const d = decided.decision;
      progress(`autoscaler: ${d.direction} ${d.from} → ${d.replicas} (${d.reason}; desired ${d.desired})`);
      return;
    }
    let o: { level?: number; msg?: string } = {};
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      return;
    }
    const msg = o.msg ?? '';
    const worker = /^local: worker \d+ pid (\d+)/.exec(msg);
    if (worker !== null) this.workerPids.add(Number(worker[1]));
    if (msg.startsWith('local: worker') || (o.level ?? 0) >= 40) progress(msg.startsWith('local: ') ? msg : `autoscaler: ${msg}`);
  }

  private async sample(): Promise<void> {
    if (this.sampling) return; // a slow answer: skip a second rather than pile up
    this.sampling = true;
    try {
      const res = await fetch(`${this.metricsUrl}/metrics`, { signal: AbortSignal.timeout(SAMPLE_EVERY_MS) });
      const text = await res.text();
      this.samples.push({
        epochMs: Date.now(),
        value: {
          desired: gauge(text, 'swarmserve_autoscale_desired_replicas'),
          current: gauge(text, 'swarmserve_autoscale_current_replicas'),
          live: gauge(text, 'swarmserve_autoscale_live_replicas'),
        },
      });
    } catch {
      // a missed sample leaves a gap of a second; the autoscaler's own exit is watched apart
    } finally {
      this.sampling = false;
    }
  }

  /** Live workers at the last sample (0 before any). */
  live(): number {
    return this.samples.at(-1)?.value.live ?? 0;
  }

  /** Every process started for it: Redis, the gateway, the autoscaler and the workers it reported. */
  pids(): number[] {
    return [this.stack.redis.process.pid, this.stack.gateway.pid, this.autoscaler.pid, ...this.workerPids];
  }

  /** The autoscaler first (its workers drain and stop with it), then the gateway and Redis. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sampler);
      try {
        await this.autoscaler.stop(STOP_TIMEOUT_MS);
      } finally {
        await this.stack.close();
      }
    })();
    return this.closing;
  }
}
