// A process's resident memory and the memory limit it runs under (its container's cgroup),
// for the dashboard's workers table: RSS against the limit is how close it is to an OOM kill.
import { readFileSync } from 'node:fs';

/** Above this a cgroup v1 "limit" means none (the kernel's page-rounded LONG_MAX). */
const NO_LIMIT = 2 ** 60;

function readLimit(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === 'max') return 0;
    const bytes = Number(text);
    return Number.isFinite(bytes) ? (bytes >= NO_LIMIT ? 0 : bytes) : undefined;
  } catch {
    return undefined;
  }
}

let cachedLimit: number | undefined;

/** The memory limit of this process's cgroup (v2, then v1), bytes; 0 when none is set or known. Read once. */
export function memoryLimitBytes(): number {
  cachedLimit ??= readLimit('/sys/fs/cgroup/memory.max') ?? readLimit('/sys/fs/cgroup/memory/memory.limit_in_bytes') ?? 0;
  return cachedLimit;
}

export const rssBytes = (): number => process.memoryUsage.rss();
