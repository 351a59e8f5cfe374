// Measures a model the way a worker runs it, in a fresh child process per batch size
// (see measure-child.ts), and compares with the estimate.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServeError } from '../common/errors.js';
import { packageRoot } from '../config/paths.js';
import type { ChildRequest, ChildResult } from './measure-child.js';

/** The compiled child script (the child must run compiled code: it starts a worker thread from dist). */
export function childScriptPath(): string {
  return join(packageRoot(), 'dist', 'src', 'planner', 'measure-child.js');
}

export async function runChild(req: ChildRequest, timeoutMs = 10 * 60_000): Promise<ChildResult> {
  const script = childScriptPath();
  if (!existsSync(script))
    throw new ServeError('CONFIG_INVALID', `${script} is missing: run "npm run build" first (measuring runs compiled code in a child process)`);
  return new Promise<ChildResult>((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(req)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || line === '') {
        reject(
          new ServeError(
            'INTERNAL',
            `measuring ${req.model} at batch ${req.batch} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
        return;
      }
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new ServeError('INTERNAL', `measuring ${req.model}: unreadable child output: ${line.slice(0, 200)}`));
      }
    });
  });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export const errorPct = (estimate: number, measured: number): number => (measured === 0 ? 0 : ((estimate - measured) / measured) * 100);
