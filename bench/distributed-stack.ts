// The processes of a distributed-mode benchmark (bench/distributed.ts, bench/dashboard.ts):
// redis-server, the CLI gateway, worker processes (the CLI's or bench/echo-worker.ts), the
// wait until the gateway counts its workers live, the SIGTERM stop of each with how it ended,
// and the ~1 KB JPEG body of the echo runs.
import sharp from 'sharp';
import { MAIN_JS, ROOT, progress, sleep } from './driver.js';
import { spawnProc, startRedisServer, type Proc } from './processes.js';
import { freePort, scrapeMetrics } from './served.js';

export const HOST = '127.0.0.1';
export const READY_TIMEOUT_MS = 120_000;
/** Bytes the echo request body should come close to. */
const ECHO_BODY_TARGET_BYTES = 1024;

/** A process whose CPU is sampled, and whose /metrics (if any) is scraped, around the window. */
export interface Watched {
  /** Key in the CPU table: gateway, worker-1, worker-2, redis, server. */
  role: string;
  proc: Proc;
  /** Base URL of its HTTP listener with GET /metrics. */
  metricsUrl?: string;
}

export interface StopRecord {
  name: string;
  code: number | null;
  signal: string | null;
  stopMs: number;
}

/** How every process stopped by stopAll() ended (a driver reports those that did not exit 0). */
export const stops: StopRecord[] = [];

/** SIGTERM and wait; a process that does not exit 0 is reported. */
export async function stopAll(procs: readonly Proc[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.exited() !== undefined) {
        const { code, signal } = p.exited() ?? { code: null, signal: null };
        stops.push({ name: p.name, code, signal, stopMs: 0 });
        progress(`${p.name} (pid ${p.pid}) had already exited: ${signal ?? `code ${code}`}`);
        return;
      }
      const s = await p.stop();
      stops.push({ name: p.name, code: s.code, signal: s.signal, stopMs: s.stopMs });
      progress(`${p.name} (pid ${p.pid}) stopped by SIGTERM: ${s.signal ?? `exit code ${s.code}`} after ${(s.stopMs / 1000).toFixed(1)}s`);
    }),
  );
}

export async function startRedis(dir: string): Promise<{ proc: Proc; url: string }> {
  const redis = await startRedisServer(dir, HOST);
  progress(`redis-server ${redis.url} ready (pid ${redis.proc.pid}, no persistence)`);
  return redis;
}

export async function startGateway(name: string, args: string[]): Promise<{ proc: Proc; url: string }> {
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const proc = spawnProc(name, process.execPath, [MAIN_JS, 'gateway', '--port', String(port), '--host', HOST, '--log-level', 'warn', '--no-prepare', ...args]);
  // Live first: ready needs a worker, which is started next.
  await proc.waitForHttp(`${url}/health/live`, READY_TIMEOUT_MS);
  progress(`${name} listening on ${url} in ${(proc.readyMs / 1000).toFixed(1)}s (pid ${proc.pid}): node dist/src/cli/main.js gateway … ${args.join(' ')}`);
  return { proc, url };
}

/** A worker process of a part. */
export interface WorkerSpec {
  /** Key in the tables: worker, worker-1, worker-2. */
  role: string;
  /** Process name, in its forwarded output and the stop lines. */
  name: string;
  /** Node script (and subcommand) it runs. */
  entry: string[];
  args: string[];
  /** taskset CPU list; undefined = not pinned. */
  cpus: string | undefined;
}

/**
 * Starts a worker and adds it to `workers` (which the caller stops), waits until the gateway
 * counts all of `workers` live for `model`, and returns the worker as a watched process.
 */
export async function addWorker(gateway: { url: string }, model: string, workers: Proc[], spec: WorkerSpec): Promise<Watched> {
  const { name, entry, args, cpus } = spec;
  const port = await freePort(HOST);
  const url = `http://${HOST}:${port}`;
  const proc = spawnProc(
    name,
    process.execPath,
    [...entry, '--metrics-port', String(port), '--metrics-host', HOST, '--log-level', 'warn', '--no-prepare', ...args],
    cpus === undefined ? {} : { cpus },
  );
  workers.push(proc);
  await proc.waitForHttp(`${url}/health/ready`, READY_TIMEOUT_MS);
  progress(
    `${name} ready in ${(proc.readyMs / 1000).toFixed(1)}s (pid ${proc.pid}${cpus === undefined ? ', not pinned' : `, pinned: taskset -c ${cpus}`}): ${entry.map((e) => e.slice(ROOT.length + 1) || e).join(' ')} … ${args.join(' ')}`,
  );
  await waitLiveWorkers(gateway.url, model, workers.length);
  return { role: spec.role, proc, metricsUrl: url };
}

/** Waits until the gateway's registry view lists exactly `count` live workers for `model` (it re-reads every second), and is ready if count > 0. */
export async function waitLiveWorkers(gatewayUrl: string, model: string, count: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const series = await scrapeMetrics(gatewayUrl).catch(() => []);
    const live = series.find((s) => s.name === 'swarmserve_live_workers' && s.labels.model === model)?.value ?? 0;
    const ready =
      count === 0 ||
      (await fetch(`${gatewayUrl}/health/ready`).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status === 200;
        },
        () => false,
      ));
    if (live === count && ready) return;
    if (performance.now() > deadline)
      throw new Error(`the gateway sees ${live} live worker(s) for ${model}${ready ? '' : ' and is not ready'}, expected ${count}`);
    await sleep(200);
  }
}

// ---- bodies ------------------------------------------------------------------------------

/** A noise JPEG (deterministic) whose size comes closest to ECHO_BODY_TARGET_BYTES: small enough that the queue path, not the bytes, is measured. */
export async function echoJpeg(): Promise<{ body: Buffer; side: number; quality: number }> {
  const side = 24;
  let seed = 12345;
  const pixels = Buffer.alloc(side * side * 3);
  for (let i = 0; i < pixels.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    pixels[i] = seed >>> 24;
  }
  let best: { body: Buffer; side: number; quality: number } | undefined;
  for (let quality = 50; quality <= 100; quality++) {
    const body = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality })
      .toBuffer();
    if (best === undefined || Math.abs(body.length - ECHO_BODY_TARGET_BYTES) < Math.abs(best.body.length - ECHO_BODY_TARGET_BYTES))
      best = { body, side, quality };
  }
  if (best === undefined) throw new Error('no JPEG');
  return best;
}
