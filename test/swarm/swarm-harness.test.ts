// The pure parts of the swarm test's harness: the host comparison its teardown is judged by,
// and the throughput recovery its fault cases report.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostDifferences, type HostSnapshot } from './host-state.js';
import { Load } from './load.js';

const snapshot = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  links: ['eth0', 'lo'],
  netns: [],
  mounts: ['0:1 / / rw - ext4 /dev/vda rw'],
  iptables: { filter: '-P INPUT ACCEPT\n', nat: '', mangle: '', raw: '' },
  cgroups: [],
  processes: [],
  ...over,
});

describe('hostDifferences', () => {
  it('is empty for an unchanged host', () => {
    expect(hostDifferences(snapshot(), snapshot())).toEqual([]);
  });
  it('names what a teardown left or took away', () => {
    const after = snapshot({
      links: ['eth0', 'lo', 'sscbr0'],
      mounts: [],
      iptables: { filter: '-P INPUT ACCEPT\n-P FORWARD DROP\n', nat: '', mangle: '', raw: '' },
      cgroups: ['/sys/fs/cgroup/freezer/swarmserve-cluster'],
      processes: ['123 dockerd --host unix:///var/run/docker.sock'],
    });
    expect(hostDifferences(snapshot(), after)).toEqual([
      'links added: sscbr0',
      'mounts removed: 0:1 / / rw - ext4 /dev/vda rw',
      'cgroups added: /sys/fs/cgroup/freezer/swarmserve-cluster',
      'processes added: 123 dockerd --host unix:///var/run/docker.sock',
      'iptables -t filter -S differs',
    ]);
  });
});

describe('Load.backSeconds: when throughput was back, and steady, after a fault', () => {
  const load = (): Load => new Load('http://127.0.0.1:9', join(import.meta.dirname, '../fixtures/images/dog.jpg'), 1000);
  /** `perSecond[i]` answers in second i after t0, evenly spread. */
  const fill = (l: Load, t0: number, perSecond: number[]): void => {
    perSecond.forEach((n, i) => {
      for (let k = 0; k < n; k++) l.okTimes.push(t0 + i * 1000 + (k * 1000) / n);
    });
  };
  const steady = (n: number): number[] => Array.from({ length: n }, () => 10);
  it('0 when it never fell below half of before', () => {
    const l = load();
    fill(l, 0, [10, 9, 8, ...steady(15)]);
    expect(l.backSeconds(0, 10, 18_000)).toBe(0);
  });
  it('the first moment after which every 3 s window for 10 s runs at half of before or more', () => {
    const l = load();
    fill(l, 0, [10, 2, 0, 0, 1, ...steady(20)]);
    // [3,6) holds 11 answers (3.7/s < 5); from 4 s on every window holds ≥ 21
    expect(l.backSeconds(0, 10, 25_000)).toBe(4);
  });
  it('a dip that starts a few seconds after the fault counts; a dip after 10 steady seconds does not', () => {
    const l = load();
    fill(l, 0, [10, 10, 10, 0, 0, 0, ...steady(12), 0, 0, 0, ...steady(12)]);
    expect(l.backSeconds(0, 10, 33_000)).toBe(5);
  });
  it('undefined while it is not back', () => {
    const l = load();
    fill(l, 0, [10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(l.backSeconds(0, 10, 15_000)).toBeUndefined();
  });
});
