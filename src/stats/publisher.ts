// Publishes a process's stats sample once a second, best effort: a sample that cannot be
// written is dropped (logged once per failure streak), never retried and never awaited by
// a request.
import type { Logger } from '../common/logger.js';
import type { StatsSample, StatsStore } from './contract.js';

export interface StatsPublisherOptions {
  store: StatsStore;
  /** Builds this interval's sample (and starts the next interval). */
  collect: () => StatsSample | Promise<StatsSample>;
  intervalMs?: number;
  logger: Logger;
}

export class StatsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private failing = false;
  private stopped = false;
  private readonly intervalMs: number;

  private constructor(private readonly options: StatsPublisherOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
  }

  /** Starts publishing, just after each second of this host's clock begins: a sample then describes, almost whole, the second before. */
  static create(options: StatsPublisherOptions): StatsPublisher {
    const publisher = new StatsPublisher(options);
    publisher.schedule();
    return publisher;
  }

  /** Publishes one sample now (tests, and the last sample before a clean stop). */
  publishNow(): Promise<void> {
    this.inFlight = this.inFlight.then(() => this.publish());
    return this.inFlight;
  }

  /** No sample after this; resolves once one in flight is done. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = Date.now();
    const next = this.intervalMs === 1000 ? 1000 - (now % 1000) + 50 : this.intervalMs;
    this.timer = setTimeout(() => {
      void this.publishNow().finally(() => this.schedule());
    }, next);
    this.timer.unref();
  }

  private async publish(): Promise<void> {
    const { store, collect, logger } = this.options;
    try {
      await store.publish(await collect());
      if (this.failing) logger.info('stats: publishing again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) logger.warn({ err }, 'stats: a sample could not be published (the dashboard misses it); retrying every second');
      this.failing = true;
    }
  }
}
