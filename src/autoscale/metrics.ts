// The autoscaler's own /metrics: what it decided, why, and every signal it read, per worker group.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from './contract.js';
import type { TickSignals } from './signals.js';

export class AutoscaleMetrics {
  readonly registry = new Registry();
  private readonly desired: Gauge<'group'>;
  private readonly current: Gauge<'group'>;
  private readonly live: Gauge<'group'>;
  private readonly capped: Gauge<'group'>;
  private readonly leader: Gauge<'group'>;
  private readonly decisions: Counter<'group' | 'direction' | 'reason'>;
  private readonly tickErrors: Counter<'group'>;
  private readonly signals: Record<keyof typeof SIGNALS, Gauge<'group'>>;
  private readonly capacity: Gauge<'group'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string): Gauge<'group'> => new Gauge({ name, help, labelNames: ['group'], registers: [this.registry] });
    this.desired = gauge('swarmserve_autoscale_desired_replicas', 'Replicas the signals call for, before holds, steps and bounds.');
    this.current = gauge('swarmserve_autoscale_current_replicas', 'Replicas asked for now.');
    this.live = gauge('swarmserve_autoscale_live_replicas', 'Workers of the group sending heartbeats.');
    this.capped = gauge('swarmserve_autoscale_capped', '1 when the last decision was limited by --max or the cluster capacity.');
    this.leader = gauge('swarmserve_autoscale_leader', '1 when this controller holds the lease and acts; 0 when another one does.');
    this.capacity = gauge(
      'swarmserve_autoscale_cluster_capacity_replicas',
      'Replicas the cluster can hold (nodes against the reservations); absent when not known.',
    );
    this.decisions = new Counter({
      name: 'swarmserve_autoscale_decisions_total',
      help: 'Decisions made, by direction (up, down, hold) and reason.',
      labelNames: ['group', 'direction', 'reason'],
      registers: [this.registry],
    });
    this.tickErrors = new Counter({
      name: 'swarmserve_autoscale_tick_errors_total',
      help: 'Ticks that failed (Redis or the Docker Engine unreachable, a scale request refused).',
      labelNames: ['group'],
      registers: [this.registry],
    });
    this.signals = Object.fromEntries(Object.entries(SIGNALS).map(([key, [name, help]]) => [key, gauge(name, help)])) as Record<
      keyof typeof SIGNALS,
      Gauge<'group'>
    >;
  }

  observeTick(group: string, s: TickSignals, d: Decision, capacity: number | undefined): void {
    this.desired.set({ group }, d.desired);
    this.current.set({ group }, d.replicas);
    this.live.set({ group }, s.liveReplicas);
    this.capped.set({ group }, d.capped ? 1 : 0);
    this.decisions.inc({ group, direction: d.direction, reason: d.reason });
    if (capacity === undefined) this.capacity.remove({ group });
    else this.capacity.set({ group }, capacity);
    this.signals.arrival.set({ group }, s.arrivalPerS);
    this.signals.completion.set({ group }, s.completedPerS);
    this.signals.backlog.set({ group }, s.backlog);
    this.signals.inProgress.set({ group }, s.inProgress);
    this.signals.oldestWait.set({ group }, s.oldestWaitMs / 1000);
    if (s.perReplicaPerS === undefined) this.signals.serviceRate.remove({ group });
    else this.signals.serviceRate.set({ group }, s.perReplicaPerS);
    if (s.startupMs === undefined) this.signals.startup.remove({ group });
    else this.signals.startup.set({ group }, s.startupMs / 1000);
  }

  observeLeader(group: string, leader: boolean): void {
    this.leader.set({ group }, leader ? 1 : 0);
  }

  observeTickError(group: string): void {
    this.tickErrors.inc({ group });
  }
}

const SIGNALS = {
  arrival: ['swarmserve_autoscale_arrival_rate', 'Jobs submitted per second over the last tick (all model versions of the group).'],
  completion: ['swarmserve_autoscale_completion_rate', 'Jobs answered per second over the last tick.'],
  backlog: ['swarmserve_autoscale_backlog', 'Jobs waiting, not yet taken by a worker.'],
  inProgress: ['swarmserve_autoscale_in_progress', 'Jobs taken by a worker, not yet answered.'],
  oldestWait: ['swarmserve_autoscale_oldest_wait_seconds', 'Age of the oldest job not yet taken (0: none waits), in Redis time.'],
  serviceRate: ['swarmserve_autoscale_replica_service_rate', 'Jobs one busy replica completes per second, measured from the heartbeats (items / busy time).'],
  startup: ['swarmserve_autoscale_startup_seconds', 'Measured start-up time of a replica: scale-up asked for → its heartbeat.'],
} as const;
