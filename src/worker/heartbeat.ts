// The worker's heartbeat into the worker registry.
import type { Logger } from '../common/logger.js';
import { PeriodicTask } from '../common/periodic.js';

/**
 * Beats every intervalMs (from the start of one beat to the next). A failed beat is logged
 * once per failure streak and never stops the worker: its jobs still flow while the
 * registry is unreachable, and the next beat that succeeds lists it again.
 */
export class Heartbeat {
  private readonly task: PeriodicTask;
  private failing = false;

  constructor(
    private readonly beat: () => Promise<void>,
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.task = new PeriodicTask(() => this.beatOnce(), intervalMs);
  }

  /** Beats once now (resolves when that beat is done, whatever its result), then keeps beating. */
  start(): Promise<void> {
    return this.task.start();
  }

  /** No beat starts after this; resolves once a beat in flight is done. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  private async beatOnce(): Promise<void> {
    try {
      await this.beat();
      if (this.failing) this.logger.info('heartbeat: worker registry reachable again (reconnected)');
      this.failing = false;
    } catch (err) {
      if (!this.failing)
        this.logger.warn({ err }, 'heartbeat failed; still serving, retrying every interval (gateways count this worker out after --heartbeat-expiry-ms)');
      this.failing = true;
    }
  }
}
