// `node dist/bench/versions-cost.js` (after `npm run build`): what loading every version of the
// bundled models costs `swarmserve serve` against loading version 1 (FP32) only — start-up
// time (spawn → /health/ready 200, sessions created and warmed up) and resident memory, at
// ready and after a little real traffic to each loaded version (2 full batches of photos),
// which is when onnxruntime's arenas have grown to their working size.
//
// The two set-ups alternate (A B A B …, a fresh process each) so that a busy spell of the
// shared machine weighs on both; medians are reported, min–max alongside.
// BENCH_VERSIONS_ROUNDS (default 3) sets the number of processes per set-up.

import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolveOptions } from '../src/config/options.js';
import { SERVE_OPTIONS } from '../src/config/serve-config.js';
import type { ModelEntry } from '../src/model/repository/contract.js';
import { loadRepository } from '../src/model/repository/repository.js';
import { cpuLine, readCpuInfo } from './cpuinfo.js';
import { MAIN_JS, progress, runDriver } from './driver.js';
import { imageBodies } from './images.js';
import { missingVersion } from './int8-report.js';
import { markdownTable, writeResults } from './report.js';
import { freePort, startServer } from './served.js';

const HOST = '127.0.0.1';
const ROUNDS = Number(process.env.BENCH_VERSIONS_ROUNDS ?? 3);
const SETUPS = [
  { name: 'version 1 only', only: 'resnet50:1,moderation:1' },
  { name: 'all versions (1 + 2)', only: 'resnet50:1,resnet50:2,moderation:1,moderation:2' },
] as const;

interface Sample {
  setup: string;
  startupMs: number;
  rssReadyBytes: number;
  rssWarmBytes: number;
  peakRssBytes: number;
}

/** VmRSS / VmHWM of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Two full batches per loaded version, all in flight at once, so that each worker runs a full batch. */
async function warmUp(url: string, entries: readonly ModelEntry[], only: string): Promise<void> {
  const bodies = imageBodies();
  const requests: Promise<void>[] = [];
  for (const pair of only.split(',')) {
    const [model = '', version = ''] = pair.split(':');
    const batch = entries.find((e) => e.name === model)?.config.batching.maxBatchSize ?? 1;
    for (let i = 0; i < 2 * batch; i++) {
      const { body, contentType } = bodies[i % bodies.length] as (typeof bodies)[number];
      requests.push(
        fetch(`${url}/predict?model=${model}&version=${version}`, { method: 'POST', body, headers: { 'content-type': contentType } }).then(async (res) => {
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`${model}:${version} answered ${res.status}`);
        }),
      );
    }
  }
  await Promise.all(requests);
}

async function measure(setup: (typeof SETUPS)[number], entries: readonly ModelEntry[]): Promise<Sample> {
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const server = await startServer(MAIN_JS, ['--port', String(port), '--host', HOST, '--only', setup.only, '--log-level', 'warn'], url);
  try {
    const ready = memory(server.pid);
    await warmUp(url, entries, setup.only);
    const warm = memory(server.pid);
    return { setup: setup.name, startupMs: server.startupMs, rssReadyBytes: ready.rss, rssWarmBytes: warm.rss, peakRssBytes: warm.peak };
  } finally {
    const stopped = await server.stop();
    if (stopped.code !== 0) progress(`server (${setup.only}) did not exit cleanly: ${stopped.signal ?? `code ${stopped.code}`}`);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
const spread = (xs: readonly number[], f: (v: number) => string): string => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;

async function main(): Promise<number> {
  const startedAt = new Date();
  progress(
    `versions cost — ${availableParallelism()} cores, ${cpuLine(readCpuInfo())}, load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  const models = resolveOptions(SERVE_OPTIONS, {}).models;
  const repository = await loadRepository(models, ['resnet50', 'moderation']);
  const entries = [...repository.models.values()];
  const missing = entries.map(missingVersion).filter((m) => m !== undefined);
  if (missing.length > 0) {
    for (const why of missing) progress(`FAILED — ${why}`);
    return 1;
  }
  const samples: Sample[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const setup of SETUPS) {
      const s = await measure(setup, entries);
      progress(
        `${setup.name} (--only ${setup.only}): ready in ${(s.startupMs / 1000).toFixed(2)} s, RSS ${mb(s.rssReadyBytes)} MiB at ready, ${mb(s.rssWarmBytes)} MiB after warm-up (peak ${mb(s.peakRssBytes)} MiB)`,
      );
      samples.push(s);
    }
  }
  const of = (name: string, key: keyof Omit<Sample, 'setup'>): number[] => samples.filter((s) => s.setup === name).map((s) => s[key]);
  const rows = SETUPS.map(({ name, only }) => [
    name,
    `--only ${only}`,
    spread(of(name, 'startupMs'), (v) => (v / 1000).toFixed(2)),
    spread(of(name, 'rssReadyBytes'), mb),
    spread(of(name, 'rssWarmBytes'), mb),
    spread(of(name, 'peakRssBytes'), mb),
  ]);
  const [a, b] = SETUPS.map((s) => s.name) as [string, string];
  const diff = (key: keyof Omit<Sample, 'setup'>): number => median(of(b, key)) - median(of(a, key));
  rows.push([
    'difference (medians)',
    '',
    `+${(diff('startupMs') / 1000).toFixed(2)}`,
    `+${mb(diff('rssReadyBytes'))}`,
    `+${mb(diff('rssWarmBytes'))}`,
    `+${mb(diff('peakRssBytes'))}`,
  ]);
  process.stdout.write(`\n${markdownTable(['set-up', 'serve flags', 'start-up s', 'RSS at ready MiB', 'RSS after warm-up MiB', 'peak RSS MiB'], rows)}\n`);
  process.stdout.write(
    `\nMedian (min–max) of ${ROUNDS} processes per set-up, alternating. Warm-up: 2 × maxBatchSize photos per loaded version, all in flight at once.\n`,
  );
  writeResults('versions-cost', startedAt, { startedAt: startedAt.toISOString(), rounds: ROUNDS, setups: SETUPS, samples, loadavgAtEnd: loadavg() });
  return 0;
}

runDriver('versions-cost', main);
