// A task run every intervalMs (from the start of one run to the next), never two at once:
// the worker's heartbeat and the gateway's read of the worker registry.
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;

  /** `run` must not throw (a failure is the task's to log). */
  constructor(
    private readonly run: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** Runs once now (resolves when that run is done), then keeps running. */
  async start(): Promise<void> {
    this.tick();
    await this.inFlight;
  }

  /** No run starts after this; resolves once a run in flight is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private tick(): void {
    if (this.stopped) return;
    const started = performance.now();
    this.inFlight = this.run().finally(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), Math.max(0, this.intervalMs - (performance.now() - started)));
      this.timer.unref();
    });
  }
}
