// What `swarmserve load` shows and records while it runs: a progress line on stderr (rewritten
// in place on a terminal, a plain line every few seconds otherwise), warnings as they come, and
// a row a second in the Locust history CSV. It keeps its own statistics, fed by the engine's
// observer, so the engine stays free of any display.

import type { LoadObserver, LoadResult } from '../loadtest/contract.js';
import type { HistoryCsvWriter } from '../loadtest/locust-csv.js';
import { formatProgress } from '../loadtest/report.js';
import { LoadStats } from '../loadtest/stats.js';

/** A terminal gets a fresh line every second; a log (not a TTY) a line every 2 s, as Locust's console. */
const TTY_INTERVAL_MS = 1_000;
const PLAIN_INTERVAL_MS = 2_000;
const HISTORY_INTERVAL_MS = 1_000;

export interface LiveOptions {
  out: NodeJS.WriteStream;
  /** Open loop: its rate, shown instead of the user count. */
  rate: number | undefined;
  history: HistoryCsvWriter | undefined;
}

export class LoadLive implements LoadObserver {
  private readonly startEpochMs = Date.now();
  private readonly stats = new LoadStats(this.startEpochMs);
  private readonly tty: boolean;
  private users = 0;
  private drawn = false;
  private progressTimer: NodeJS.Timeout | undefined;
  private historyTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: LiveOptions) {
    this.tty = options.out.isTTY === true;
  }

  onResult(result: LoadResult): void {
    this.stats.record(result.latencyMs, result.failure, result.contentBytes ?? 0, result.endEpochMs);
  }

  onUsers(users: number): void {
    this.users = users;
  }

  onWarning(message: string): void {
    this.clear();
    this.options.out.write(`swarmserve load: warning: ${message}\n`);
    if (this.tty) this.draw();
  }

  start(): void {
    this.progressTimer = setInterval(() => this.draw(), this.tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS);
    if (this.options.history !== undefined) this.historyTimer = setInterval(() => this.appendHistory(), HISTORY_INTERVAL_MS);
  }

  /** Stops the timers, writes the last history row, and leaves the terminal on a clean line. */
  stop(): void {
    clearInterval(this.progressTimer);
    clearInterval(this.historyTimer);
    this.appendHistory();
    this.clear();
  }

  private appendHistory(): void {
    const now = Date.now();
    this.options.history?.append(this.stats, now, now, this.options.rate === undefined ? this.users : 0);
  }

  private line(): string {
    const { rps } = this.stats.currentRates(Date.now());
    return formatProgress({
      elapsedMs: Date.now() - this.startEpochMs,
      users: this.options.rate === undefined ? this.users : undefined,
      rate: this.options.rate,
      rps,
      p50: this.stats.percentileMs(0.5),
      p95: this.stats.percentileMs(0.95),
      requests: this.stats.requests,
      failures: this.stats.failures,
    });
  }

  private draw(): void {
    const { out } = this.options;
    if (!this.tty) {
      out.write(`${this.line()}\n`);
      return;
    }
    // Cut to the terminal's width: a wrapped line could not be rewritten in place.
    const columns = out.columns > 0 ? out.columns : 80; // 0 on a pty with no size set
    const width = Math.max(20, columns - 1);
    out.write(`\r\x1b[2K${this.line().slice(0, width)}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.tty && this.drawn) this.options.out.write('\r\x1b[2K');
    this.drawn = false;
  }
}
