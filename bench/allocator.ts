// `npm run bench:allocator`: what the worker's malloc tuning (src/runtime/allocator.ts) costs
// in speed and saves in memory, side by side in one run. The embedded server serving one
// model to 64 closed-loop clients, started alternately with the tuning and with
// --no-malloc-tuning (A B A B …, each a fresh process), reports images/s, p50 and the
// server's peak RSS (VmHWM) after the window; then the ratios of the medians.
//
// BENCH_ALLOCATOR_MODEL (default moderation), BENCH_ALLOCATOR_ROUNDS (default 3) and
// BENCH_DURATION_MS (default 20000) change the run.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/config/paths.js';
import { runLoadInChildProcess } from '../src/loadtest/child.js';
import { procMemory } from './processes.js';
import { freePort, startServer } from './served.js';

const ROOT = packageRoot();
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const IMAGES = join(ROOT, 'test', 'fixtures', 'images');
const MODEL = process.env.BENCH_ALLOCATOR_MODEL ?? 'moderation';
const ROUNDS = Number(process.env.BENCH_ALLOCATOR_ROUNDS ?? 3);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 20_000);

type Setting = 'tuned' | 'untuned';

interface Sample {
  setting: Setting;
  imagesPerSecond: number;
  p50Ms: number;
  peakRssBytes: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const MiB = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

async function measure(setting: Setting): Promise<Sample> {
  const port = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--only',
    MODEL,
    '--default-model',
    MODEL,
    '--log-level',
    'warn',
    '--no-prepare',
    ...(setting === 'untuned' ? ['--no-malloc-tuning'] : []),
  ];
  const server = await startServer(MAIN, args, url);
  try {
    const bodies = readdirSync(IMAGES)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .map((f) => ({ body: readFileSync(join(IMAGES, f)), contentType: 'image/jpeg' }));
    const report = await runLoadInChildProcess({ url: `${url}/predict`, concurrency: 64, durationMs: DURATION_MS, warmupMs: 3_000, bodies });
    if (report.errors > 0) throw new Error(`${report.errors} requests failed: ${JSON.stringify(report.statusCounts)}`);
    return { setting, imagesPerSecond: report.throughputRps, p50Ms: report.latencyMs.p50, peakRssBytes: procMemory(server.pid, 'VmHWM') };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(`allocator benchmark: ${MODEL}, 64 clients, ${DURATION_MS / 1000} s windows, ${ROUNDS} rounds of (tuned, --no-malloc-tuning)\n`);
  const samples: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const setting of ['tuned', 'untuned'] as const) {
      const s = await measure(setting);
      samples.push(s);
      process.stdout.write(`  ${setting.padEnd(7)} ${s.imagesPerSecond.toFixed(1)} img/s, p50 ${s.p50Ms.toFixed(1)} ms, peak RSS ${MiB(s.peakRssBytes)} MiB\n`);
    }
  }
  const of = (setting: Setting, key: 'imagesPerSecond' | 'p50Ms' | 'peakRssBytes'): number =>
    median(samples.filter((s) => s.setting === setting).map((s) => s[key]));
  process.stdout.write(
    `\nmedians, tuned vs untuned: ${of('tuned', 'imagesPerSecond').toFixed(1)} vs ${of('untuned', 'imagesPerSecond').toFixed(1)} img/s (${(of('tuned', 'imagesPerSecond') / of('untuned', 'imagesPerSecond')).toFixed(3)}×), ` +
      `p50 ${of('tuned', 'p50Ms').toFixed(1)} vs ${of('untuned', 'p50Ms').toFixed(1)} ms, ` +
      `server peak RSS ${MiB(of('tuned', 'peakRssBytes'))} vs ${MiB(of('untuned', 'peakRssBytes'))} MiB (${((1 - of('tuned', 'peakRssBytes') / of('untuned', 'peakRssBytes')) * 100).toFixed(0)} % less)\n`,
  );
}

await main();
