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

describe('Load.dipEndSeconds: when throughput was back for good after a fault', () => {
  const load = (): Load => new Load('http://127.0.0.1:9', join(import.meta.dirname, '../fixtures/images/dog.jpg'), 1000);
  /** `perSecond[i]` answers in second i after t0, evenly spread. */
  const fill = (l: Load, t0: number, perSecond: number[]): void => {
    perSecond.forEach((n, i) => {
      for (let k = 0; k < n; k++) l.okTimes.push(t0 + i * 1000 + (k * 1000) / n);
    });
  };
  it('0 when it never fell below half of before', () => {
    const l = load();
    fill(l, 0, [10, 9, 8, 10, 10, 10, 10, 10]);
    expect(l.dipEndSeconds(0, 10, 8000)).toBe(0);
  });
  it('the end of the last 3 s window below half of before', () => {
    const l = load();
    fill(l, 0, [10, 2, 0, 0, 1, 10, 10, 10, 10, 10, 10, 10]);
    // windows [2,5) (1 answer) and [3,6) (11: 3.7/s < 5) are below; [4,7) (21: 7/s) is not
    expect(l.dipEndSeconds(0, 10, 12_000)).toBe(6);
  });
  it('a dip after a short recovery counts: the last one decides', () => {
    const l = load();
    fill(l, 0, [0, 0, 0, 10, 10, 10, 10, 0, 0, 0, 10, 10, 10, 10]);
    // [8,11) holds 10 answers: 3.3/s, still below
    expect(l.dipEndSeconds(0, 10, 14_000)).toBe(11);
  });
});
