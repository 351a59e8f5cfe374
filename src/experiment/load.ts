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
