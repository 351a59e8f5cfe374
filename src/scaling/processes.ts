// Child processes of the local worker pool and the experiment (workers, gateway,
// redis-server): output kept for error messages, readiness by HTTP probe or log line, stop by
// SIGTERM (then SIGKILL), and a registry so that every one still running is killed when this
// process exits, whatever the reason. Where util-linux `setpriv` exists, children also get a
// parent-death signal, so not even a SIGKILL of this process leaves them running.
import { spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ServeError } from '../common/errors.js';
export { freePort } from '../common/free-port.js';
import { pause } from './pause.js';

/** 0.3, 12, 180: tenths only for short waits. */
const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 30;
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** The executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter((d) => d !== '')) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers run synchronously: kill() and rmSync are, so this always runs to the end.
  process.on('exit', killAll);
}

function describeExit(s: ExitStatus): string {
  return s.signal !== null ? `signal ${s.signal}` : `code ${s.code}`;
}

export class ManagedProcess {
  readonly pid: number;
  private readonly lines: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private status: ExitStatus | undefined;
  private stopping = false;
  /** Resolves when it exits, for whatever reason. */
  readonly exit: Promise<ExitStatus>;

  private constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ) {
    const setpriv = findOnPath('setpriv');
    const argv = setpriv === undefined ? [command, ...args] : [setpriv, '--pdeathsig', 'TERM', '--', command, ...args];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    if (child.pid === undefined) throw new ServeError('PROCESS_FAILED', `could not start ${name} (${command})`);
    this.pid = child.pid;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        if (this.lines.length > TAIL_LINES) this.lines.shift();
        for (const listener of this.lineListeners) listener(line);
      });
    }
    this.exit = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal };
        live.delete(this);
        resolve(this.status);
      });
    });
    this.kill = () => {
      if (this.status === undefined) child.kill('SIGKILL');
    };
    this.signal = (signal) => {
      if (this.status === undefined) child.kill(signal);
    };
  }

  /** Spawns `command args` (no shell); killed with SIGKILL if this process exits first. */
  static spawn(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ManagedProcess {
    installExitHook();
    const proc = new ManagedProcess(name, command, args, env);
    live.add(proc);
    return proc;
  }

  /** SIGKILL at once (no-op once exited). */
  readonly kill: () => void;
  private readonly signal: (signal: NodeJS.Signals) => void;

  get exited(): ExitStatus | undefined {
    return this.status;
  }

  /** Whether `stop()` was called (an exit after it is expected). */
  get stopRequested(): boolean {
    return this.stopping;
  }

  /** Calls `listener` with every line it prints from now on (stdout and stderr); returns the unsubscribe. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** The last lines it printed. */
  tail(): string {
    return this.lines.join('\n');
  }

  private gone(what: string): ServeError {
    const tail = this.tail();
    return new ServeError(
      'PROCESS_FAILED',
      `${this.name} (pid ${this.pid}) exited (${describeExit(this.status ?? { code: null, signal: null })}) ${what}${tail === '' ? '' : `; its last output:\n${tail}`}`,
    );
  }

  /** Polls `url` until it answers 200; rejects if the process exits first, after `timeoutMs`, or on abort. */
  async waitForHttp(url: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      signal?.throwIfAborted();
      if (this.status !== undefined) throw this.gone(`before ${url} answered 200`);
      const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status;
        },
        () => 0,
      );
      if (status === 200) return;
      if (status !== 0) last = `HTTP ${status}`;
      if (performance.now() > deadline) {
        const tail = this.tail();
        throw new ServeError(
          'PROCESS_FAILED',
          `${this.name} (pid ${this.pid}): ${url} did not answer 200 within ${seconds(timeoutMs)} s (last: ${last})${tail === '' ? '' : `; its last output:\n${tail}`}`,
        );
      }
      await pause(100, signal);
    }
  }

  /** Resolves once it prints a line matching `pattern`; rejects if it exits first or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.lineListeners.delete(onLine);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onLine = (line: string): void => {
        if (pattern.test(line)) done();
      };
      const timer = setTimeout(
        () =>
          done(
            new ServeError(
              'PROCESS_FAILED',
              `${this.name} (pid ${this.pid}) printed no line matching ${String(pattern)} within ${seconds(timeoutMs)} s:\n${this.tail()}`,
            ),
          ),
        timeoutMs,
      );
      if (this.lines.some((l) => pattern.test(l))) done();
      else {
        this.lineListeners.add(onLine);
        void this.exit.then(() => done(this.gone('before it was ready')));
      }
    });
  }

  /** SIGTERM (it drains), SIGKILL after `timeoutMs`; resolves with how it ended. */
  async stop(timeoutMs: number): Promise<ExitStatus> {
    this.stopping = true;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}

const tempDirs = new Set<string>();

/** Removes `dir` when this process exits, unless `forgetTempDir` was called first. */
export function removeOnExit(dir: string): void {
  installExitHook();
  tempDirs.add(dir);
}

export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/** SIGKILLs every process started here that still runs, and removes the temporary directories left. */
export function killAll(): void {
  for (const proc of live) proc.kill();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Pids of the processes started here that still run. */
export function livePids(): number[] {
  return [...live].map((p) => p.pid);
}
