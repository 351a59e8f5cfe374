// Steady closed-loop load on the gateway (dog.jpg → /predict with a deadline), counted by
// the phase in which each request started; a fault's phase also adopts the requests in
// flight when it begins. Outcomes: answered 200; refused with 503 at submission (the codes a gateway
// gives before it accepts a job: the request was never accepted, the client may retry);
// failed otherwise (any other status, or no answer). A timeline of 200 answers gives the
// throughput before and after a fault.
import { readFileSync } from 'node:fs';
import { sleep } from './exec.js';

/** 503 codes a gateway answers before a job is accepted into the queue. */
export const REFUSED_AT_SUBMISSION = new Set(['QUEUE_UNAVAILABLE', 'QUEUE_FULL', 'NOT_READY', 'SHUTTING_DOWN']);

export interface PhaseStats {
  sent: number;
  ok: number;
  refused: number;
  failed: number;
  /** The slowest 200 answer, ms. */
  slowestOkMs: number;
  /** The slowest 503 refusal, ms: refusals come at once. */
  slowestRefusalMs: number;
  /** Non-200 outcomes by status and code. */
  outcomes: Record<string, number>;
}

const emptyStats = (): PhaseStats => ({ sent: 0, ok: 0, refused: 0, failed: 0, slowestOkMs: 0, slowestRefusalMs: 0, outcomes: {} });

export class Load {
  private current = 'start';
  /** The phase of each request in flight (a fault adopts them: they are the ones it hits). */
  private readonly inFlight = new Set<{ phase: string }>();
  readonly byPhase: Record<string, PhaseStats> = {};
  /** First non-200 outcomes, for the log of a red run. */
  readonly errors: string[] = [];
  /** Date.now() of every 200 answer. */
  readonly okTimes: number[] = [];
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly image: Buffer;

  constructor(
    private readonly url: string,
    imagePath: string,
    private readonly timeoutMs: number,
  ) {
    this.image = readFileSync(imagePath);
  }

  get phase(): string {
    return this.current;
  }
  /** Requests that start from now on count in `phase`. */
  set phase(phase: string) {
    this.current = phase;
  }

  /** Enters a fault's phase: the requests in flight count in it too, as it is they that the fault hits. */
  enterFault(phase: string): void {
    this.current = phase;
    for (const req of this.inFlight) {
      this.stats(req.phase).sent--;
      req.phase = phase;
      this.stats(phase).sent++;
    }
  }

  get okCount(): number {
    return this.okTimes.length;
  }

  /**
   * `clients` closed-loop clients, plus `perSecond` requests a second sent whatever the
   * answers (open loop): while every closed-loop client waits on a job in an outage, these
   * are the new requests that must be refused at once.
   */
  start(clients: number, perSecond = 0): void {
    for (let i = 0; i < clients; i++) this.loops.push(this.client());
    if (perSecond > 0) this.loops.push(this.openLoop(perSecond));
  }

  private async openLoop(perSecond: number): Promise<void> {
    const sent: Promise<number>[] = [];
    for (let next = performance.now(); !this.stopping; next += 1000 / perSecond) {
      await sleep(Math.max(0, next - performance.now()));
      const p = this.request();
      sent.push(p);
      void p.finally(() => sent.splice(sent.indexOf(p), 1));
    }
    await Promise.all(sent);
  }

  stats(phase: string): PhaseStats {
    return (this.byPhase[phase] ??= emptyStats());
  }

  /** Answers 200 per second in [from, to). */
  rate(from: number, to: number): number {
    return this.okTimes.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
  }

  /**
   * Seconds from `faultAt` until throughput was back: the first moment t (stepping by 1 s)
   * from which every `windowS` window up to t + `stableS` ran at ≥ `share` of `before`.
   * 0 if it never dipped in the first `stableS`; undefined if it was not back by `until`.
   */
  backSeconds(faultAt: number, before: number, until: number, o: { share?: number; windowS?: number; stableS?: number } = {}): number | undefined {
    const { share = 0.5, windowS = 3, stableS = 10 } = o;
    const low = (t: number): boolean => this.rate(t, t + windowS * 1000) < share * before;
    for (let t = faultAt; t + stableS * 1000 + windowS * 1000 <= until; t += 1000) {
      let stable = true;
      for (let w = t; w <= t + stableS * 1000 && stable; w += 1000) stable = !low(w);
      if (stable) return (t - faultAt) / 1000;
    }
    return undefined;
  }

  /** Every request started in the phase has its outcome. */
  settled(phase: string): boolean {
    const s = this.stats(phase);
    return s.sent === s.ok + s.refused + s.failed;
  }

  private record(phase: string, status: number, code: string, ms: number): void {
    const s = this.stats(phase);
    if (status === 200) {
      s.ok++;
      s.slowestOkMs = Math.max(s.slowestOkMs, Math.round(ms));
      this.okTimes.push(Date.now());
      return;
    }
    const key = `${status || 'no answer'} ${code}`.trim();
    s.outcomes[key] = (s.outcomes[key] ?? 0) + 1;
    if (status === 503 && REFUSED_AT_SUBMISSION.has(code)) {
      s.refused++;
      s.slowestRefusalMs = Math.max(s.slowestRefusalMs, Math.round(ms));
    } else s.failed++;
  }

  private async client(): Promise<void> {
    while (!this.stopping) {
      const status = await this.request();
      // a refused client waits as a well-behaved client would before retrying
      if (status === 503) await sleep(1000);
      else if (status === 0) await sleep(100);
    }
  }

  /** One request, counted in the phase it starts in (or the fault that adopts it); its status, 0 without an answer. */
  private async request(): Promise<number> {
    const req = { phase: this.current };
    this.stats(req.phase).sent++;
    this.inFlight.add(req);
    const fd = new FormData();
    fd.append('img_file', new Blob([this.image], { type: 'image/jpeg' }), 'dog.jpg');
    const started = performance.now();
    try {
      const r = await fetch(`${this.url}/predict?timeout_ms=${this.timeoutMs}`, {
        method: 'POST',
        body: fd,
        signal: AbortSignal.timeout(this.timeoutMs + 15_000),
      });
      const body = await r.text();
      let code = '';
      this.inFlight.delete(req);
      if (r.status !== 200) {
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          code = 'unparsable';
        }
        if (this.errors.length < 10) this.errors.push(`[${req.phase}] ${r.status} ${body.slice(0, 200)}`);
      }
      this.record(req.phase, r.status, code, performance.now() - started);
      return r.status;
    } catch (e) {
      this.inFlight.delete(req);
      this.record(req.phase, 0, String((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name), performance.now() - started);
      if (this.errors.length < 10) this.errors.push(`[${req.phase}] ${String((e as { cause?: unknown }).cause ?? e)}`);
      return 0;
    }
  }

  /** Sums the phases whose name passes `match`. */
  total(match: (phase: string) => boolean = () => true): PhaseStats {
    const t = emptyStats();
    for (const [p, s] of Object.entries(this.byPhase)) {
      if (!match(p)) continue;
      t.sent += s.sent;
      t.ok += s.ok;
      t.refused += s.refused;
      t.failed += s.failed;
      t.slowestOkMs = Math.max(t.slowestOkMs, s.slowestOkMs);
      t.slowestRefusalMs = Math.max(t.slowestRefusalMs, s.slowestRefusalMs);
      for (const [k, n] of Object.entries(s.outcomes)) t.outcomes[k] = (t.outcomes[k] ?? 0) + n;
    }
    return t;
  }

  /** Stops the clients (their requests finish); `resume` starts them again. */
  async pause(): Promise<void> {
    await this.stop();
    this.stopping = false;
  }
  resume(clients: number, perSecond = 0): void {
    this.start(clients, perSecond);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.loops = [];
  }
}
