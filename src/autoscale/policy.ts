// The autoscaler's policy: a pure function of the state, one tick's signals and the
// configuration. No time and no I/O, so every rule is tested on synthetic traces.
//   - desired = the capacity for the arrival rate with headroom, or for the arrivals plus the
//     backlog drained within the wait target if that is more, over the measured per-replica
//     rate (the headroom drains a job or two in transit: they cost no replica); replicas still
//     starting are not counted as capacity (the rate is per live, measured worker);
//   - up at once; when the oldest waiting job is past the target ("panic"), at least double the
//     live replicas; then hold for one measured start-up time, so a worker slower to start than
//     a tick never causes a second scale-up;
//   - down only when every desired value over the stabilization window (a whole window after
//     the last scale-up) was below the current count, one replica per tick: the queue per
//     replica falling after a scale-up (the oscillation reported in ray-project/ray#18925)
//     cannot undo it; and replicas asked for only to drain a backlog (above what the arrivals
//     called for anywhere in the window) go one per tick once it is drained and a start-up has
//     passed, instead of idling for a whole window;
//   - --min, --max and the cluster's capacity bound it; --min 0 scales from zero on the first job.
import type { AutoscaleConfig, Decision, DecisionReason, PolicyState, Signals } from './contract.js';

export function initialState(current: number): PolicyState {
  return { current, since: undefined, lastUpAt: undefined, lastUpForBacklog: false, recent: [] };
}

/** Replicas the signals call for, before holds, steps and bounds; undefined when work is waiting or arriving and no worker has been measured. */
export function desiredReplicas(s: Signals, c: AutoscaleConfig): number | undefined {
  // Nothing arrives and nothing waits: none needed, whatever a replica's rate. Without this a
  // controller that never saw a batch long enough to measure (started while idle, or woken
  // from zero by a burst shorter than a tick) held its replicas for ever.
  if (s.arrivalPerS === 0 && s.backlog === 0) return 0;
  if (s.perReplicaPerS === undefined || !(s.perReplicaPerS > 0)) return undefined;
  const perS = Math.max(s.arrivalPerS * (1 + c.headroom), s.arrivalPerS + s.backlog / (c.targetWaitMs / 1000));
  return replicasFor(perS, s.perReplicaPerS);
}

/** Replicas the arrival rate alone calls for (with headroom, no backlog); undefined when no worker has been measured. */
export function arrivalReplicas(s: Signals, c: AutoscaleConfig): number | undefined {
  if (s.perReplicaPerS === undefined || !(s.perReplicaPerS > 0)) return s.arrivalPerS === 0 ? 0 : undefined;
  return replicasFor(s.arrivalPerS * (1 + c.headroom), s.perReplicaPerS);
}

function replicasFor(jobsPerS: number, perReplicaPerS: number): number {
  // A hair over a whole number from float noise (3.0000000004) is that number, not one more.
  return Math.max(0, Math.ceil(jobsPerS / perReplicaPerS - 1e-9));
}

export function decide(state: PolicyState, s: Signals, c: AutoscaleConfig): Decision {
  const cap = Math.min(c.maxReplicas, c.clusterCap ?? Number.POSITIVE_INFINITY);
  const since = state.since ?? s.at;
  const measured = desiredReplicas(s, c);
  const panic = measured !== undefined && s.oldestWaitMs > c.targetWaitMs;
  const desired =
    measured === undefined
      ? state.current === 0 && (s.backlog > 0 || s.arrivalPerS > 0)
        ? 1 // a job and no worker: scale from zero
        : state.current
      : panic
        ? Math.max(measured, 2 * Math.max(1, s.liveReplicas))
        : measured;
  const forArrivals = Math.min(desired, arrivalReplicas(s, c) ?? desired);
  const recent = [...state.recent.filter((r) => s.at - r.at < c.stabilizationMs), { at: s.at, desired, forArrivals }];

  const make = (replicas: number, reason: DecisionReason, capped = false): Decision => ({
    replicas,
    direction: replicas > state.current ? 'up' : replicas < state.current ? 'down' : 'hold',
    reason,
    desired,
    capped,
    state: {
      current: replicas,
      since,
      lastUpAt: replicas > state.current ? s.at : state.lastUpAt,
      lastUpForBacklog: replicas > state.current ? replicas > forArrivals : state.lastUpForBacklog,
      recent,
    },
  });

  if (state.current < c.minReplicas) return make(Math.min(c.minReplicas, cap), 'at-min');
  if (state.current > cap) return make(Math.max(c.minReplicas, cap), 'at-max', true);
  if (measured === undefined)
    return desired > state.current ? make(Math.min(desired, cap), 'scale-from-zero', desired > cap) : make(state.current, 'no-measurement-yet');

  if (desired > state.current) {
    // A scale-up less than a start-up ago has not shown its effect: its workers still start.
    if (state.lastUpAt !== undefined && s.at - state.lastUpAt < (s.startupMs ?? 0)) return make(state.current, 'holding-for-startup');
    if (state.current >= cap) return make(state.current, 'at-max', true);
    return make(Math.min(desired, cap), panic ? 'oldest-wait-past-target' : 'arrival-above-capacity', desired > cap);
  }
  if (desired < state.current) {
    if (state.current <= c.minReplicas) return make(state.current, 'at-min');
    // A whole window of readings since the controller started and since the last scale-up, every one below.
    const windowStart = Math.max(since, state.lastUpAt ?? Number.NEGATIVE_INFINITY);
    const whole = s.at - windowStart >= c.stabilizationMs;
    if (whole && recent.every((r) => r.desired < state.current)) return make(state.current - 1, 'below-for-the-window');
    // The last scale-up asked for more than the arrivals called for: the rest was to drain a
    // backlog. Replicas above what the arrivals called for anywhere in the window go once it is
    // drained (nothing waits past the target) and they have had a
    // start-up to show their effect, they go. Arrivals that rose in the window keep theirs.
    const arrivalsNeeded = Math.max(...recent.map((r) => r.forArrivals));
    const startedUp = state.lastUpAt === undefined || s.at - state.lastUpAt >= (s.startupMs ?? 0);
    if (state.lastUpForBacklog && startedUp && !panic && state.current > arrivalsNeeded && desired <= arrivalsNeeded)
      return make(state.current - 1, 'backlog-drained');
    return make(state.current, 'waiting-for-the-window');
  }
  return make(state.current, 'steady');
}
