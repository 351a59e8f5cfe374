// The autoscaler's loop: every tick, take (or renew) the lease, read the group's signals,
// let the policy decide, ask the target for the new count, log the decision and export it.
// Only the lease holder acts: a second controller (another replica, or the old one of a
// rolling update) reads nothing and waits, and takes over once the lease expires.
import type { Logger } from '../common/logger.js';
import { PeriodicTask } from '../common/periodic.js';
import type { AutoscaleConfig, Decision, Lease, PolicyState, ScalingTarget, SignalSource } from './contract.js';
import type { AutoscaleMetrics } from './metrics.js';
import type { StatsStore } from '../stats/contract.js';
import { decide, initialState } from './policy.js';
import { SignalTracker, type TickSignals } from './signals.js';

export interface ControllerOptions {
  /** The group's name in logs and metrics: the service, or "local". */
  group: string;
  /** The queue keys (model:version) its workers serve. */
  queueKeys: readonly string[];
  policy: Omit<AutoscaleConfig, 'clusterCap'>;
  intervalMs: number;
  startupTimeoutMs: number;
  /** Decide, log and export; never ask the target. */
  dryRun: boolean;
  target: ScalingTarget;
  source: SignalSource;
  lease: Lease;
  metrics: AutoscaleMetrics;
  logger: Logger;
  /** Where the lease holder publishes a sample per tick, for the dashboard (best effort). */
  stats?: StatsStore;
}

/** What one tick did (for tests). */
export interface TickOutcome {
  signals: TickSignals;
  decision: Decision;
  capacity: number | undefined;
  /** The count was asked of the target (false: hold, or --dry-run). */
  applied: boolean;
}

/** The cluster's capacity changes only when nodes or services do: read it this often at most. */
const CAPACITY_EVERY_MS = 30_000;

export class AutoscaleController {
  private state: PolicyState | undefined;
  private readonly tracker: SignalTracker;
  private readonly task: PeriodicTask;
  private leader = false;
  private capacityCache: { at: number; value: number | undefined } | undefined;
  private lastLogged: string | undefined;
  /** The last tick's error, for /health/ready; undefined when the last tick worked. */
  lastError: string | undefined;
  private ticks = 0;

  constructor(private readonly o: ControllerOptions) {
    this.tracker = new SignalTracker({ startupTimeoutMs: o.startupTimeoutMs, intervalMs: o.intervalMs });
    this.task = new PeriodicTask(() => this.safeTick(), o.intervalMs);
  }

  /** Runs the first tick now (resolves when it is done), then one every interval. */
  start(): Promise<void> {
    return this.task.start();
  }

  /** Holds the lease, or waits for another controller's to expire. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Ticks of the loop done so far, failed or not (readiness waits for the first). */
  get tickCount(): number {
    return this.ticks;
  }

  /** Stops ticking (a tick in flight finishes) and gives the lease back, so a successor need not wait for its expiry. */
  async close(): Promise<void> {
    await this.task.stop();
    if (this.leader) await this.o.lease.release().catch(() => false);
    this.leader = false;
  }

  /** One tick; the periodic loop calls it, tests may call it directly. Throws what failed. */
  async tick(): Promise<TickOutcome | undefined> {
    const { o } = this;
    const wasLeader = this.leader;
    this.leader = await o.lease.hold();
    o.metrics.observeLeader(o.group, this.leader);
    if (this.leader !== wasLeader)
      o.logger.info(
        { group: o.group, leader: this.leader },
        this.leader ? `${o.group}: this controller holds the lease and acts` : `${o.group}: another controller holds the lease; standing by`,
      );
    if (!this.leader) {
      // The holder may change the count meanwhile: start again from what is asked for then.
      this.state = undefined;
      return undefined;
    }

    const [reading, requested, capacity] = await Promise.all([o.source.read(o.queueKeys), o.target.requested(), this.capacity()]);
    const signals = this.tracker.read(reading);
    if (signals.startupGaveUp)
      o.logger.warn(
        { group: o.group, startupTimeoutMs: o.startupTimeoutMs },
        `${o.group}: replicas asked for did not all send heartbeats within the start-up timeout; no longer waited for`,
      );
    let state = this.state ?? initialState(requested);
    if (!o.dryRun && requested !== state.current) {
      o.logger.info(
        { group: o.group, requested, was: state.current },
        `${o.group}: the replica count was changed to ${requested} outside the controller; continuing from it`,
      );
      // A fresh start from it: a scale-down needs a whole window of readings at this count.
      state = initialState(requested);
    }
    const decision = decide(state, signals, { ...o.policy, clusterCap: capacity });
    this.state = decision.state;

    const applied = !o.dryRun && decision.replicas !== state.current;
    if (applied) {
      await o.target.request(decision.replicas);
      if (decision.direction === 'up') this.tracker.scaledUp(signals.at, decision.replicas);
      else this.tracker.scaledDown(decision.replicas);
    }
    this.log(signals, decision, capacity, state.current);
    o.metrics.observeTick(o.group, signals, decision, capacity);
    // Not awaited: the dashboard's sample must never slow or fail a tick.
    o.stats
      ?.publish({
        kind: 'autoscaler',
        id: o.group,
        desired: decision.desired,
        current: decision.replicas,
        live: signals.liveReplicas,
        reason: decision.reason,
        changed: decision.replicas !== state.current,
      })
      .catch(() => undefined);
    return { signals, decision, capacity, applied };
  }

  private async safeTick(): Promise<void> {
    try {
      await this.tick();
      this.lastError = undefined;
      this.ticks++;
    } catch (err) {
      this.ticks++;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.o.metrics.observeTickError(this.o.group);
      this.o.logger.warn({ group: this.o.group, err: this.lastError }, `${this.o.group}: tick failed (${this.lastError}); trying again next tick`);
    }
  }

  private async capacity(): Promise<number | undefined> {
    const now = performance.now();
    if (this.capacityCache === undefined || now - this.capacityCache.at > CAPACITY_EVERY_MS)
      this.capacityCache = { at: now, value: await this.o.target.capacity() };
    return this.capacityCache.value;
  }

  /**
   * One JSON line per decision that changes something, and one whenever the reason changes
   * (so a hold is explained once, not every tick); every tick at debug.
   */
  private log(s: TickSignals, d: Decision, capacity: number | undefined, before: number): void {
    const line = {
      group: this.o.group,
      decision: { replicas: d.replicas, from: before, direction: d.direction, reason: d.reason, desired: d.desired, capped: d.capped, dryRun: this.o.dryRun },
      signals: {
        arrivalPerS: round(s.arrivalPerS),
        completedPerS: round(s.completedPerS),
        backlog: s.backlog,
        inProgress: s.inProgress,
        oldestWaitMs: Math.round(s.oldestWaitMs),
        liveReplicas: s.liveReplicas,
        perReplicaPerS: s.perReplicaPerS === undefined ? null : round(s.perReplicaPerS),
        startupMs: s.startupMs === undefined ? null : Math.round(s.startupMs),
        clusterCapacity: capacity ?? null,
      },
    };
    const key = `${d.direction}:${d.reason}:${d.replicas}:${d.capped}`;
    const message =
      d.direction === 'hold'
        ? `${this.o.group}: hold at ${d.replicas} (${d.reason}; desired ${d.desired})`
        : `${this.o.group}: ${d.direction} ${before} → ${d.replicas} (${d.reason}; desired ${d.desired})${this.o.dryRun ? ' [dry run: not applied]' : ''}`;
    if (d.direction !== 'hold' || key !== this.lastLogged) this.o.logger.info(line, message + (d.capped ? ' [capped]' : ''));
    else this.o.logger.debug(line, message);
    this.lastLogged = key;
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;
