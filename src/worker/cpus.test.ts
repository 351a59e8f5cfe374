import { describe, expect, it } from 'vitest';
import { CGROUP_V1_CFS_PERIOD, CGROUP_V1_CFS_QUOTA, CGROUP_V2_CPU_MAX, availableCpus, cpuBudget, intraOpThreads, type ReadText } from './cpus.js';

const files =
  (contents: Record<string, string>): ReadText =>
  (path) =>
    contents[path];

describe('availableCpus', () => {
  it('cgroup v2 without a limit ("max") gives the cores', () => {
    expect(cpuBudget(files({ [CGROUP_V2_CPU_MAX]: 'max 100000\n' }), 8)).toEqual({ cpus: 8, source: 'cores', cores: 8 });
  });

  it('cgroup v2 quota rounds up: 1.5 CPUs → 2', () => {
    expect(cpuBudget(files({ [CGROUP_V2_CPU_MAX]: '150000 100000\n' }), 8)).toEqual({ cpus: 2, source: 'cgroup v2 quota', quota: 1.5, cores: 8 });
  });

  it('a fraction of a CPU still gives 1', () => {
    expect(availableCpus(files({ [CGROUP_V2_CPU_MAX]: '20000 100000' }), 4)).toBe(1);
  });

  it('a quota above the cores is capped by the cores', () => {
    expect(cpuBudget(files({ [CGROUP_V2_CPU_MAX]: '800000 100000' }), 2)).toEqual({ cpus: 2, source: 'cores', quota: 8, cores: 2 });
  });

  it('cgroup v2 takes precedence: v1 files are not read when cpu.max exists', () => {
    const read = files({ [CGROUP_V2_CPU_MAX]: 'max 100000', [CGROUP_V1_CFS_QUOTA]: '100000', [CGROUP_V1_CFS_PERIOD]: '100000' });
    expect(availableCpus(read, 4)).toBe(4);
  });

  it('cgroup v1 quota / period', () => {
    const read = files({ [CGROUP_V1_CFS_QUOTA]: '250000\n', [CGROUP_V1_CFS_PERIOD]: '100000\n' });
    expect(cpuBudget(read, 16)).toEqual({ cpus: 3, source: 'cgroup v1 quota', quota: 2.5, cores: 16 });
  });

  it('cgroup v1 quota -1 means no limit', () => {
    const read = files({ [CGROUP_V1_CFS_QUOTA]: '-1\n', [CGROUP_V1_CFS_PERIOD]: '100000\n' });
    expect(cpuBudget(read, 6)).toEqual({ cpus: 6, source: 'cores', cores: 6 });
  });

  it('no cgroup files (not Linux, or not mounted) gives the cores', () => {
    expect(cpuBudget(files({}), 3)).toEqual({ cpus: 3, source: 'cores', cores: 3 });
  });

  it('malformed files are ignored', () => {
    expect(availableCpus(files({ [CGROUP_V2_CPU_MAX]: 'garbage' }), 5)).toBe(5);
    expect(availableCpus(files({ [CGROUP_V1_CFS_QUOTA]: '100000' }), 5)).toBe(5);
    expect(availableCpus(files({ [CGROUP_V2_CPU_MAX]: '0 100000' }), 5)).toBe(5);
  });

  it('is at least 1 even when the core count is 0', () => {
    expect(availableCpus(files({}), 0)).toBe(1);
  });

  it('reads this machine without throwing', () => {
    expect(availableCpus()).toBeGreaterThanOrEqual(1);
  });
});

describe('intraOpThreads', () => {
  const budget = () => cpuBudget(files({ [CGROUP_V2_CPU_MAX]: '150000 100000' }), 8);

  it('the option wins', () => {
    expect(intraOpThreads(3, budget)).toEqual({ threads: 3, source: '--threads / SWARMSERVE_THREADS' });
  });

  it('else the CPU budget, naming its source', () => {
    expect(intraOpThreads(undefined, budget)).toMatchObject({ threads: 2, source: 'cgroup v2 quota' });
  });
});
