// Running host commands and waiting for conditions: shared by the cluster harness, its CLI and
// the swarm end-to-end test.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

const MiB = 1024 * 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunOpts {
  env?: NodeJS.ProcessEnv | undefined;
  input?: string | undefined;
  timeoutMs?: number | undefined;
  allowFail?: boolean;
  cwd?: string | undefined;
}
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects on a non-zero exit unless `allowFail`. */
export function run(cmd: string, args: string[], o: RunOpts = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = execFile(
      cmd,
      args,
      { env: o.env ?? process.env, cwd: o.cwd, maxBuffer: 64 * MiB, timeout: o.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        if (err && !o.allowFail) {
          rej(new Error(`${cmd} ${args.join(' ')} failed (${err.killed ? 'timed out' : `exit ${String(err.code)}`}):\n${stderr.trim() || stdout.trim()}`));
        } else res({ code, stdout, stderr });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

/** True when the command exits 0 (within 30 s). */
export const succeeds = async (cmd: string, ...args: string[]): Promise<boolean> => (await run(cmd, args, { allowFail: true, timeoutMs: 30_000 })).code === 0;

/** Runs a long command with its output appended to `logFile`; on failure the error carries the log's tail. */
export async function runLogged(
  cmd: string,
  args: string[],
  logFile: string,
  o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 900_000);
  const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  clearTimeout(timer);
  const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code} (log ${logFile}):\n${tail}`);
  return tail;
}

/** Does the process exist (signal 0)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Thrown by a waitFor probe: stop waiting at once. */
export class Fatal extends Error {}

/** Polls `probe` until it returns a value (not undefined); a probe that throws is retried unless it throws Fatal. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 1000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    if (Date.now() > end) {
      const why = last instanceof Error ? `: ${last.message}` : last !== undefined ? `: ${JSON.stringify(last)}` : '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/** The HTTP status of a GET, or 0 when nothing answered in time. */
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}
