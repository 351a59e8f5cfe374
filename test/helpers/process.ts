import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/common/free-port.js';

export { freePort };

export const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** The e2e tests run the compiled CLI, as users do; `npm test` builds first, this covers a bare `vitest`. */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

export async function spawnServe(args: string[], timeoutMs = 90_000): Promise<ServeProcess> {
  ensureBuilt();
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { child, url, output: () => log, exited };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not become ready in ${timeoutMs} ms:\n${log}`);
}

export interface CliProcess extends ServeProcess {
  /** Base URL of its HTTP listener (the gateway's API, or a worker's metrics/health port). */
  port: number;
  /** Resident set size peak (VmHWM) and now (VmRSS), in bytes. */
  memory(): { peak: number; now: number };
}

/**
 * Starts `swarmserve <command>` (gateway, worker or autoscale) and waits until `readyPath` on its
 * HTTP port answers 200 (or only until it listens, with `waitFor: 'live'`).
 */
export async function spawnCli(
  command: 'gateway' | 'worker' | 'autoscale',
  args: string[],
  options: { waitFor?: 'ready' | 'live'; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliProcess> {
  ensureBuilt();
  const port = await freePort();
  const portArgs = command === 'gateway' ? ['--port', String(port), '--host', '127.0.0.1'] : ['--metrics-port', String(port), '--metrics-host', '127.0.0.1'];
  const child = spawn(process.execPath, [CLI, command, ...portArgs, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const path = options.waitFor === 'live' ? '/health/live' : '/health/ready';
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const memory = (): { peak: number; now: number } => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { peak: kb('VmHWM'), now: kb('VmRSS') };
  };
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(url + path).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { child, url, port, output: () => log, exited, memory };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${command} did not answer ${path} in ${timeoutMs} ms:\n${log}`);
}

/** Sends a signal and waits for the exit code. */
export async function stopProcess(proc: ServeProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.child.exitCode !== null) return proc.child.exitCode;
  proc.child.kill(signal);
  return proc.exited;
}
