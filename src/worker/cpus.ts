// How many CPUs this process may really use. In a container os.availableParallelism()
// reports the host's cores while the cgroup CPU quota (docker --cpus, a Swarm service's
// resources.limits.cpus) allows fewer: sizing thread pools to the cores oversubscribes
// the quota and the container gets throttled.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a small text file; undefined when it is absent or unreadable. Injectable for tests. */
export type ReadText = (path: string) => string | undefined;

export const CGROUP_V2_CPU_MAX = '/sys/fs/cgroup/cpu.max';
export const CGROUP_V1_CFS_QUOTA = '/sys/fs/cgroup/cpu/cpu.cfs_quota_us';
export const CGROUP_V1_CFS_PERIOD = '/sys/fs/cgroup/cpu/cpu.cfs_period_us';

export interface CpuBudget {
  /** Whole CPUs to size thread pools for: at least 1. */
  cpus: number;
  /** What bounds it: the cgroup quota or the cores this process may be scheduled on. */
  source: 'cgroup v2 quota' | 'cgroup v1 quota' | 'cores';
  /** The cgroup quota in CPUs (fractional), when one is set. */
  quota?: number;
  cores: number;
}

const readIfPresent: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The cgroup CPU quota in CPUs, or undefined when none is set (or no cgroup file is readable). */
export function cgroupQuota(read: ReadText = readIfPresent): { cpus: number; version: 1 | 2 } | undefined {
  const v2 = read(CGROUP_V2_CPU_MAX);
  if (v2 !== undefined) {
    // "<quota> <period>" or "max <period>". A present file means cgroup v2: v1 files would not apply.
    const [quota, period] = v2.trim().split(/\s+/);
    const cpus = ratio(quota, period);
    return cpus === undefined ? undefined : { cpus, version: 2 };
  }
  const quota = read(CGROUP_V1_CFS_QUOTA);
  if (quota === undefined) return undefined;
  // -1: no quota.
  const cpus = ratio(quota.trim(), read(CGROUP_V1_CFS_PERIOD)?.trim());
  return cpus === undefined ? undefined : { cpus, version: 1 };
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || !/^\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

export function cpuBudget(read: ReadText = readIfPresent, cores: number = availableParallelism()): CpuBudget {
  const usable = Math.max(1, Math.floor(cores));
  const quota = cgroupQuota(read);
  if (quota === undefined) return { cpus: usable, source: 'cores', cores: usable };
  // A fraction of a CPU still needs a thread: 1.5 CPUs → 2.
  const fromQuota = Math.max(1, Math.ceil(quota.cpus));
  if (fromQuota > usable) return { cpus: usable, source: 'cores', quota: quota.cpus, cores: usable };
  return { cpus: fromQuota, source: quota.version === 2 ? 'cgroup v2 quota' : 'cgroup v1 quota', quota: quota.cpus, cores: usable };
}

/** The CPUs this process may really use: the cgroup quota rounded up, capped by the cores; at least 1. */
export function availableCpus(read?: ReadText, cores?: number): number {
  return cpuBudget(read, cores).cpus;
}

/** Intra-op threads of a worker: the --threads option when given, else the CPU budget, and why. */
export function intraOpThreads(
  option: number | undefined,
  budget: () => CpuBudget = () => cpuBudget(),
): { threads: number; source: string; budget?: CpuBudget } {
  if (option !== undefined) return { threads: option, source: '--threads / SWARMSERVE_THREADS' };
  const b = budget();
  return { threads: b.cpus, source: b.source, budget: b };
}
