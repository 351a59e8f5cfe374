// What the cluster harness may change on the host, snapshotted before and compared after: the
// network links, network namespaces, mounts, iptables tables, cgroups and processes. A
// teardown that leaves any difference is a failed run.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { run } from './exec.js';

/** The tables Docker may write to (the nodes' dockerds write to their own namespaces' tables only). */
export const IPTABLES_TABLES = ['filter', 'nat', 'mangle', 'raw'] as const;

export interface HostSnapshot {
  links: string[];
  netns: string[];
  mounts: string[];
  iptables: Record<string, string>;
  /** Cgroup directories named `cgroupName` in any hierarchy. */
  cgroups: string[];
  /** Processes in such a cgroup or naming the harness's directory on their command line. */
  processes: string[];
}

/** Every cgroup hierarchy root: the v1 controllers' mounts, or the one v2 root. */
export function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(`${base}/cgroup.controllers`)) return [base];
  return readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(`${base}/${d.name}/cgroup.procs`))
    .map((d) => `${base}/${d.name}`);
}

/** Is `pid` this process or one of its descendants (a `docker` command the test is still running)? */
function ownTree(pid: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === process.pid) return true;
    try {
      p = Number(
        readFileSync(`/proc/${p}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ')[1],
      );
    } catch {
      return false;
    }
  }
  return false;
}

function processesOf(cgroupName: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || ownTree(pid)) continue;
    try {
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cgroup.includes(`/${cgroupName}/`) || cmdline.includes(dir)) out.push(`${pid} ${cmdline.slice(0, 160)}`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export async function hostSnapshot(cgroupName: string, dir: string): Promise<HostSnapshot> {
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(': ')[1] ?? l).split('@')[0] ?? l)
    .sort();
  const netns = (await run('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').filter(Boolean).sort();
  // Mount and parent ids stay the same for mounts nobody touched: compare whole lines minus the ids.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').slice(2).join(' '))
    .sort();
  const iptables: Record<string, string> = {};
  for (const table of IPTABLES_TABLES) iptables[table] = (await run('iptables', ['-t', table, '-S'], { allowFail: true })).stdout;
  const cgroups = cgroupRoots()
    .map((root) => `${root}/${cgroupName}`)
    .filter((p) => existsSync(p));
  return { links, netns, mounts, iptables, cgroups, processes: processesOf(cgroupName, dir) };
}

/** What differs from the baseline, one line per difference (empty: the host is as it was). */
export function hostDifferences(before: HostSnapshot, after: HostSnapshot): string[] {
  const diff: string[] = [];
  const lists = ['links', 'netns', 'mounts', 'cgroups', 'processes'] as const;
  for (const key of lists) {
    const added = after[key].filter((x) => !before[key].includes(x));
    const removed = before[key].filter((x) => !after[key].includes(x));
    if (added.length) diff.push(`${key} added: ${added.join(' | ')}`);
    if (removed.length) diff.push(`${key} removed: ${removed.join(' | ')}`);
  }
  for (const table of IPTABLES_TABLES) if (before.iptables[table] !== after.iptables[table]) diff.push(`iptables -t ${table} -S differs`);
  return diff;
}
