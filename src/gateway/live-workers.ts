// A gateway's cached view of the worker registry, refreshed in the background: readiness
// and /metrics read it synchronously, and a registry hiccup keeps the last list instead of
// failing every probe.
import type { Logger } from '../common/logger.js';
import { PeriodicTask } from '../common/periodic.js';
import type { WorkerInfo, WorkerRegistry } from '../queue/contract.js';

export interface LiveWorkersOptions {
  /** How often the registry is read. */
  intervalMs: number;
  /** A list older than this is not trusted (a read that hangs counts as failing). */
  staleMs: number;
  logger: Logger;
  /** Called after every read, successful or not (e.g. to log readiness changes). */
  onRefresh?: () => void;
  now?: () => number;
}

export class LiveWorkers {
  private list: readonly WorkerInfo[] = [];
  private lastOkAt: number | undefined;
  private failure: string | undefined;
  private readonly task: PeriodicTask;
  private readonly now: () => number;

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly options: LiveWorkersOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.task = new PeriodicTask(() => this.refresh(), options.intervalMs);
  }

  /** Reads once (resolves when that read is done, whatever its result), then keeps reading every intervalMs. */
  start(): Promise<void> {
    return this.task.start();
  }

  /** The workers of the last successful read. */
  get workers(): readonly WorkerInfo[] {
    return this.list;
  }

  /** Why the list cannot be trusted now (the last read failed, or none succeeded lately); undefined when it can. */
  unknownReason(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.lastOkAt === undefined) return 'registry not read yet';
    const age = this.now() - this.lastOkAt;
    return age > this.options.staleMs ? `registry last read ${Math.round(age / 1000)} s ago` : undefined;
  }

  /** The keys (model:version) no live worker serves. */
  missing(keys: readonly string[]): string[] {
    const served = new Set(this.list.flatMap((w) => w.keys));
    return keys.filter((key) => !served.has(key));
  }

  /** Stops reading; resolves once a read in flight is done. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  private async refresh(): Promise<void> {
    const { logger } = this.options;
    try {
      this.list = await this.registry.liveWorkers();
      this.lastOkAt = this.now();
      if (this.failure !== undefined) logger.info({ workers: this.list.length }, 'worker registry readable again');
      this.failure = undefined;
    } catch (err) {
      // Once per failure streak: a registry down for minutes must not flood the log.
      if (this.failure === undefined)
        logger.warn({ err }, 'cannot read the worker registry; keeping the last list of live workers (readiness reports them unknown)');
      this.failure = `registry read failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    try {
      this.options.onRefresh?.();
    } catch (err) {
      logger.error({ err }, 'live workers: onRefresh failed');
    }
  }
}
