// From raw readings to a tick's signals: rates from counter differences, the service rate from
// the heartbeats' items and busy time, the start-up time from a scale-up to its heartbeats.
import { describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../queue/contract.js';
import type { QueueReading } from '../queue/redis/queue-signals.js';
import type { GroupReading } from './contract.js';
import { SignalTracker } from './signals.js';

const worker = (id: string, items: number, busyMs: number): WorkerInfo => ({
  id,
  host: 'h',
  pid: 1,
  keys: ['m:1'],
  batches: items,
  items,
  busyMs,
  startedAt: 0,
  lastSeen: 0,
});
const queue = (at: number, added: number, length: number, pending: number, oldestWaitingAt?: number): QueueReading => ({
  at,
  added,
  length,
  pending,
  oldestWaitingAt,
});
const reading = (at: number, queues: Record<string, QueueReading>, workers: WorkerInfo[]): GroupReading => ({
  at,
  queues: new Map(Object.entries(queues)),
  workers,
});

describe('SignalTracker', () => {
  it('sums the rates and backlogs of the group’s queues and takes the oldest wait of any', () => {
    const t = new SignalTracker({ startupTimeoutMs: 60_000, intervalMs: 2000 });
    const first = t.read(reading(10_000, { 'm:1': queue(10_000, 100, 10, 2), 'm:2': queue(10_000, 50, 0, 0) }, []));
    expect(first.arrivalPerS).toBe(0); // one reading: no rate yet
    const s = t.read(reading(12_000, { 'm:1': queue(12_000, 140, 12, 2, 11_000), 'm:2': queue(12_000, 70, 5, 1, 11_700) }, []));
    expect(s.arrivalPerS).toBe(30); // (40 + 20) / 2 s
    expect(s.completedPerS).toBe(26.5); // answered = added - length: m:1 128 - 90 = 38, m:2 65 - 50 = 15; 53 / 2 s
    expect(s.backlog).toBe(10 + 4);
    expect(s.inProgress).toBe(3);
    expect(s.oldestWaitMs).toBe(1000);
  });

  it('measures a replica’s rate while busy from the heartbeats’ items and busy time, and keeps it while idle', () => {
    const t = new SignalTracker({ startupTimeoutMs: 60_000, intervalMs: 2000 });
    const q = (at: number): Record<string, QueueReading> => ({ 'm:1': queue(at, 0, 0, 0) });
    expect(t.read(reading(0, q(0), [worker('a', 0, 0), worker('b', 0, 0)])).perReplicaPerS).toBeUndefined();
    // a: 20 items in 2 s busy, b: 10 in 1 s → 30 items / 3 s = 10 per busy second
    expect(t.read(reading(2000, q(2000), [worker('a', 20, 2000), worker('b', 10, 1000)])).perReplicaPerS).toBeCloseTo(10);
    // idle: no busy time since, the rate stays
    expect(t.read(reading(4000, q(4000), [worker('a', 20, 2000), worker('b', 10, 1000)])).perReplicaPerS).toBeCloseTo(10);
    // a restarted worker (counters back to 0) and a new one give no difference this tick
    expect(t.read(reading(6000, q(6000), [worker('a', 1, 50), worker('c', 500, 10_000)])).perReplicaPerS).toBeCloseTo(10);
    // a new figure moves the rate, smoothed: 20 per busy second now
    const next = t.read(reading(8000, q(8000), [worker('a', 41, 2050), worker('c', 500, 10_000)])).perReplicaPerS;
    expect(next).toBeGreaterThan(10);
    expect(next).toBeLessThan(20);
  });

  it('times a scale-up until that many workers send heartbeats, and holds meanwhile', () => {
    const t = new SignalTracker({ startupTimeoutMs: 60_000, intervalMs: 2000 });
    const q = (at: number): Record<string, QueueReading> => ({ 'm:1': queue(at, 0, 0, 0) });
    const one = [worker('a', 0, 0)];
    expect(t.read(reading(0, q(0), one)).startupMs).toBeUndefined();
    t.scaledUp(0, 3);
    const waiting = t.read(reading(6000, q(6000), one));
    expect(waiting.startingForMs).toBe(6000);
    expect(waiting.startupMs).toBe(8000); // at least until they arrive: waited + one tick
    const arrived = t.read(reading(9000, q(9000), [...one, worker('b', 0, 0), worker('c', 0, 0)]));
    expect(arrived.startingForMs).toBeUndefined();
    expect(arrived.startupMs).toBe(9000);
  });

  it('stops waiting for replicas that never arrive after the start-up timeout', () => {
    const t = new SignalTracker({ startupTimeoutMs: 10_000, intervalMs: 2000 });
    const q = (at: number): Record<string, QueueReading> => ({ 'm:1': queue(at, 0, 0, 0) });
    t.scaledUp(0, 2);
    expect(t.read(reading(8000, q(8000), [])).startupGaveUp).toBe(false);
    const late = t.read(reading(12_000, q(12_000), []));
    expect(late.startupGaveUp).toBe(true);
    expect(late.startupMs).toBeUndefined();
    expect(t.read(reading(14_000, q(14_000), [])).startupGaveUp).toBe(false);
  });
});
