// Child processes of the benchmarks (redis-server, gateways, workers, embedded servers):
// spawned with their output kept (and forwarded unless quiet), optionally pinned to CPUs with
// taskset (which execs, so the pid is the program's own), readiness by HTTP probe or log line,
// SIGTERM stop with its exit code, and a registry so that every process the benchmark started
// is killed when it ends, whatever happens.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { freePort } from '../src/common/free-port.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  readonly name: string;
  readonly pid: number;
  /** The command line as run (taskset included). */
  readonly commandLine: string;
  /** CPU list given to taskset, if pinned. */
  readonly cpus: string | undefined;
  /** Milliseconds from spawn to ready (set by the wait functions). */
  readyMs: number;
  exited(): ExitStatus | undefined;
  /** The last lines it printed. */
  tail(): string;
  /** Resolves once a line matches (rejects if it exits first or after timeoutMs). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Polls `url` until it answers 200 (rejects if it exits first or after timeoutMs). */
  waitForHttp(url: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after timeoutMs; resolves with how it ended. */
  stop(timeoutMs?: number): Promise<ExitStatus & { stopMs: number }>;
  /** SIGKILL at once (cleanup). */
  kill(): void;
}

const live = new Set<Proc>();
const TAIL_LINES = 40;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SpawnOptions {
  /** Pin to these CPUs (taskset -c). */
  cpus?: string;
  /** Keep its output for error messages only (redis-server's start-up banner). */
  quiet?: boolean;
  /** Every line it prints, as printed (a driver that parses a process's log). */
  onLine?: (line: string) => void;
}

export function spawnProc(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Proc {
  const argv = options.cpus === undefined ? [command, ...args] : ['taskset', '-c', options.cpus, command, ...args];
  const started = performance.now();
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${name}: ${argv.join(' ')}`);
  const lines: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      if (options.quiet !== true) process.stdout.write(`    [${name}] ${line}\n`);
      options.onLine?.(line);
      for (const listener of lineListeners) listener(line);
    });
  }
  let status: ExitStatus | undefined;
  const exit = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      live.delete(proc);
      resolve(status);
    });
  });
  const gone = (): Error => new Error(`${name} exited (${status?.signal ?? `code ${status?.code}`}) before it was ready:\n${lines.join('\n')}`);
  const proc: Proc = {
    name,
    pid,
    commandLine: argv.join(' '),
    cpus: options.cpus,
    readyMs: 0,
    exited: () => status,
    tail: () => lines.join('\n'),
    waitForLine(pattern, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
          if (err === undefined) {
            proc.readyMs = Math.round(performance.now() - started);
            resolve();
          } else reject(err);
        };
        const onLine = (line: string): void => {
          if (pattern.test(line)) done();
        };
        const timer = setTimeout(
          () => done(new Error(`${name} printed no line matching ${String(pattern)} within ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        );
        if (lines.some((l) => pattern.test(l))) done();
        else {
          lineListeners.add(onLine);
          void exit.then(() => done(gone()));
        }
      });
    },
    async waitForHttp(url, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (status !== undefined) throw gone();
        const code = await fetch(url).then(
          async (res) => {
            await res.arrayBuffer();
            return res.status;
          },
          () => 0,
        );
        if (code === 200) break;
        if (performance.now() > deadline) throw new Error(`${name}: ${url} did not answer 200 within ${timeoutMs} ms (last ${code}):\n${lines.join('\n')}`);
        await sleep(100);
      }
      proc.readyMs = Math.round(performance.now() - started);
    },
    async stop(timeoutMs = 45_000) {
      const t0 = performance.now();
      if (status === undefined) child.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill(), timeoutMs);
      const result = await exit;
      clearTimeout(timer);
      return { ...result, stopMs: Math.round(performance.now() - t0) };
    },
    kill() {
      if (status === undefined) child.kill('SIGKILL');
    },
  };
  live.add(proc);
  return proc;
}

/** Kills every process spawned here that is still running (on exit, failure or a signal). */
export function killAll(): void {
  for (const proc of live) proc.kill();
}

/** Pids of every process spawned here that is still running. */
export function livePids(): number[] {
  return [...live].map((p) => p.pid);
}

/** A memory field of /proc/<pid>/status in bytes (`VmRSS` now, `VmHWM` the peak), 0 if absent. */
export function procMemory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
}

/** A redis-server on a free port of `host`, without persistence, its files in `dir`. */
export async function startRedisServer(dir: string, host: string): Promise<{ proc: Proc; url: string }> {
  const port = await freePort(host);
  const proc = spawnProc(
    'redis',
    'redis-server',
    ['--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
    { quiet: true },
  );
  await proc.waitForLine(/Ready to accept connections/, 10_000);
  return { proc, url: `redis://${host}:${port}` };
}
