// The dashboard's one reader per gateway: while at least one page is open it reads the
// stats store once a second (whatever the number of pages), folds the samples into frames
// and writes the same line to every open stream. With no page open it reads nothing.
import type { ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.js';
import type { StampedSample, StatsStore } from '../stats/contract.js';
import type { Frame, Header, StreamMessage } from './contract.js';
import { MAX_RANGE_S } from './contract.js';
import { FrameBuilder } from './frames.js';

export interface DashboardSources {
  store: StatsStore;
  /** The header of this gateway, without the cluster's request total (the hub adds it). */
  header: () => Omit<Header, 'requestsTotal'>;
  /** The worker ids the gateway counts live (its view of the registry); undefined: those that sent a sample lately. */
  liveWorkerIds?: () => ReadonlySet<string>;
  logger: Logger;
  /** Streams open at once (default 32). */
  maxStreams?: number;
}

interface Stream {
  res: ServerResponse;
  /** Its hello and history are written: ticks go to it from now on (before, they are in its history). */
  ready: boolean;
}

/** Seconds are finished this long after they end: a sample published up to ≈ 1 s late still counts. */
const FINISH_DELAY_S = 2;

/** A client this far behind (bytes not yet sent) is cut off: one slow page must not grow our memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export class DashboardHub {
  private readonly streams = new Set<Stream>();
  private builder = new FrameBuilder();
  private frames: Frame[] = [];
  private loadedFrom = Infinity;
  private cursor = 0;
  private readonly lastStamp = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Bumped by stop(): a tick of an earlier run schedules no more. */
  private generation = 0;
  private starting: Promise<void> | undefined;
  private closed = false;
  private failing = false;

  private constructor(private readonly sources: DashboardSources) {}

  static create(sources: DashboardSources): DashboardHub {
    return new DashboardHub(sources);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  get maxStreams(): number {
    return this.sources.maxStreams ?? 32;
  }

  /** Starts a stream on `res` (headers already decided by the route): hello, the history of `rangeS`, then a tick a second. */
  async open(res: ServerResponse, rangeS: number): Promise<void> {
    const stream: Stream = { res, ready: false };
    this.streams.add(stream);
    const socket = res.socket;
    res.on('close', () => {
      this.drop(stream);
      // A stream's connection is never reused: left open after a client's abort, Node would count it busy and a drain would wait for it.
      socket?.destroy();
    });
    try {
      await this.ensureRunning(rangeS);
      if (this.closed || res.destroyed) return;
      const from = Math.floor(this.cursor / 1000) - rangeS;
      this.write(stream, line({ type: 'hello', rangeS, header: this.header() }));
      this.write(stream, line({ type: 'history', frames: this.frames.filter((f) => f.t > from) }));
      stream.ready = true;
    } catch (err) {
      this.sources.logger.warn({ err }, 'dashboard: the stats history could not be read');
      res.end();
    }
  }

  /** Ends every stream at once (SIGTERM: a page must never hold a drain open) and stops reading. */
  close(): void {
    this.closed = true;
    for (const { res } of this.streams) {
      res.end();
      // A client that stopped reading would keep what is buffered, and so the drain, waiting: cut it.
      if (res.writableLength > 0) res.destroy();
    }
    this.streams.clear();
    this.stop();
  }

  private drop(stream: Stream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) this.stop();
  }

  private stop(): void {
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.starting = undefined;
    // The next page reads the history again: nothing is kept while nobody looks.
    this.builder = new FrameBuilder();
    this.frames = [];
    this.loadedFrom = Infinity;
    this.lastStamp.clear();
  }

  private async ensureRunning(rangeS: number): Promise<void> {
    this.starting ??= this.start(rangeS);
    await this.starting;
    const wanted = Math.floor(this.cursor / 1000) - rangeS;
    if (wanted < this.loadedFrom) await this.loadOlder(wanted);
  }

  private async start(rangeS: number): Promise<void> {
    const generation = this.generation;
    const { store } = this.sources;
    // The store's clock first (Redis's, not this host's), then the range before it.
    const clock = (await store.read(Number.MAX_SAFE_INTEGER)).now;
    const read = await store.read(clock - (rangeS + FINISH_DELAY_S + 1) * 1000);
    if (generation !== this.generation) return;
    const from = Math.floor(read.now / 1000) - rangeS;
    this.take(read.samples);
    this.frames = this.builder.finish(Math.floor(read.now / 1000) - FINISH_DELAY_S, from);
    this.loadedFrom = from;
    this.cursor = read.now;
    this.schedule(generation);
  }

  /** A page asks for more than is loaded: the older part is read and built on its own. */
  private async loadOlder(from: number): Promise<void> {
    const older = new FrameBuilder();
    const read = await this.sources.store.read(Math.max(from, Math.floor(this.cursor / 1000) - MAX_RANGE_S) * 1000 - 1);
    older.add(read.samples.filter((s) => s.at < this.loadedFrom * 1000));
    const frames = older.finish(this.loadedFrom - 1, from);
    this.frames = [...frames, ...this.frames];
    this.loadedFrom = from;
  }

  private take(samples: StampedSample[]): void {
    const fresh = samples.filter((s) => s.at > (this.lastStamp.get(s.source) ?? 0));
    for (const s of fresh) this.lastStamp.set(s.source, Math.max(s.at, this.lastStamp.get(s.source) ?? 0));
    this.builder.add(fresh);
  }

  private schedule(generation: number): void {
    if (this.closed || this.streams.size === 0 || generation !== this.generation) return;
    // A third into each second of this host's clock: publishers write just after it begins.
    const delay = 1000 - (Date.now() % 1000) + 300;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(generation).finally(() => this.schedule(generation)), delay);
    this.timer.unref();
  }

  private async tick(generation: number): Promise<void> {
    const { store, logger } = this.sources;
    try {
      // A little before the cursor, deduplicated per source: a sample added in the cursor's own millisecond is not missed.
      const read = await store.read(this.cursor - 1);
      if (generation !== this.generation) return;
      this.take(read.samples);
      this.cursor = read.now;
      this.failing = false;
    } catch (err) {
      if (!this.failing) logger.warn({ err }, 'dashboard: cannot read the stats store; pages get empty seconds until it answers');
      this.failing = true;
    }
    const frames = this.builder.finish(Math.floor(this.cursor / 1000) - FINISH_DELAY_S);
    this.frames.push(...frames);
    const oldest = Math.floor(this.cursor / 1000) - MAX_RANGE_S;
    if (this.frames.length > MAX_RANGE_S + 60) this.frames = this.frames.filter((f) => f.t > oldest);
    this.loadedFrom = Math.max(this.loadedFrom, oldest);
    const text = line({ type: 'tick', frames, header: this.header(), workers: this.builder.workerRows(this.cursor, this.sources.liveWorkerIds?.(), 3000) });
    for (const stream of this.streams) if (stream.ready) this.write(stream, text);
  }

  private header(): Header {
    return { ...this.sources.header(), requestsTotal: this.builder.requestsTotal(this.cursor) };
  }

  private write(stream: Stream, text: string): void {
    const { res } = stream;
    if (res.destroyed) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(text);
  }
}

const line = (message: StreamMessage): string => `${JSON.stringify(message)}\n`;
