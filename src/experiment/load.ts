// The experiment's load: the project's Locust-like engine (src/loadtest) with the experiment's
// users, spawn rate and think time, POSTing one image as multipart field "img_file" (as the
// tutorial's Locust file does) to the gateway's /predict, every completed request recorded in
// the timeline. It runs until stopped.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sniffImageFormat } from '../common/image-format.js';
import { encodeMultipart } from '../loadtest/multipart.js';
import type { LoadRequestBody, LoadSummary } from '../loadtest/contract.js';
import { runLoad } from '../loadtest/run-load.js';
import type { WaitTime } from './contract.js';
import { ServeError } from '../common/errors.js';
import type { Timeline } from './timeline.js';

/** The image file as a /predict multipart body; a USAGE error if it cannot be read or is not an image the server decodes. */
export async function imageBody(path: string): Promise<LoadRequestBody> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new ServeError('USAGE', `--image ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let format: string;
  try {
    format = sniffImageFormat(data);
  } catch {
    throw new ServeError('USAGE', `--image ${path}: not a JPEG, PNG, WebP, GIF or TIFF image`);
  }
  return encodeMultipart([{ name: 'img_file', filename: basename(path), contentType: `image/${format}`, data }]);
}

export function predictUrl(base: string, model: string, version: string | undefined): string {
  const query = new URLSearchParams({ model });
  if (version !== undefined) query.set('version', version);
  return `${base.replace(/\/+$/, '')}/predict?${query.toString()}`;
}

export interface LoadSettings {
  url: string;
  body: LoadRequestBody;
  users: number;
  spawnRate: number;
  wait: WaitTime | undefined;
}

export interface RunningLoad {
  /** Date.now() when the load started: time 0 of the timeline. */
  startEpochMs: number;
  /** Resolves when the load has stopped (after `stop()`), with the engine's own summary. */
  done: Promise<LoadSummary>;
  stop(): void;
}

export function startLoad(settings: LoadSettings, timeline: Timeline): RunningLoad {
  const controller = new AbortController();
  const startEpochMs = Date.now();
  const done = runLoad(
    {
      url: settings.url,
      bodies: [settings.body],
      users: settings.users,
      spawnRate: settings.spawnRate,
      ...(settings.wait === undefined ? {} : { wait: { minMs: settings.wait.minS * 1000, maxMs: settings.wait.maxS * 1000 } }),
    },
    { onResult: (r) => timeline.add(r) },
    controller.signal,
  );
  return { startEpochMs, done, stop: () => controller.abort() };
}

export interface SteppedLoad {
  /** Date.now() when the load started: time 0 of the timeline. */
  startEpochMs: number;
  /** Changes the number of users: adds a group of users, or stops the newest groups (their requests in flight are cut, not counted). */
  setUsers(users: number): void;
  /** Rejects when a group of users fails (bad options only); never resolves. */
  failed: Promise<never>;
  /** Stops every user; resolves with the CPU this process used, in cores, and the requests cut in flight. */
  stop(): Promise<{ cpuCores: number; cutInFlight: number }>;
}

/**
 * Load whose user count changes step by step. The engine runs a fixed number of users, so the
 * users are kept as a stack of groups: more users start a group of the difference, fewer stop
 * the newest groups (and start one of the remainder), and the users that stay keep running
 * undisturbed. Every group records into the same timeline.
 */
export function startSteppedLoad(settings: Omit<LoadSettings, 'spawnRate'> & { spawnRate?: number }, timeline: Timeline): SteppedLoad {
  const groups: Array<{ users: number; load: RunningLoad }> = [];
  const stopped: Array<Promise<LoadSummary>> = [];
  let rejectFailed: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => undefined); // observed by the caller when it races it
  const startEpochMs = Date.now();
  const cpuAtStart = process.cpuUsage();
  const add = (users: number): void => {
    // default: a group's users all start within its first second
    const load = startLoad({ ...settings, users, spawnRate: settings.spawnRate ?? users }, timeline);
    load.done.catch(rejectFailed);
    groups.push({ users, load });
  };
  const pop = (): void => {
    const group = groups.pop();
    if (group === undefined) return;
    group.load.stop();
    stopped.push(group.load.done);
  };
  const total = (): number => groups.reduce((n, g) => n + g.users, 0);
  add(settings.users);
  return {
    startEpochMs,
    failed,
    setUsers(users) {
      while (total() > users) pop();
      if (users > total()) add(users - total());
    },
    async stop() {
      while (groups.length > 0) pop();
      const summaries = await Promise.all(stopped);
      const cpu = process.cpuUsage(cpuAtStart);
      const elapsedMs = Date.now() - startEpochMs;
      return {
        cpuCores: elapsedMs > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100) / 100 : 0,
        cutInFlight: summaries.reduce((n, s) => n + s.cutInFlight, 0),
      };
    },
  };
}
