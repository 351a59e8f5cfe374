// The CPU of the dashboard's stats code itself, measured in this process: what a gateway does
// per request (record the outcome and latency, and the worker's timings on the way back) and
// per sample (gather it, JSON), and what a worker adds to each heartbeat (its sample). A
// loaded process's CPU moves by tens of ms/s from one round to the next, which hides a cost of
// a few ms/s; these loops resolve it (the minimum of alternating repetitions, each against a
// baseline that does the same minus the stats code).
import type { JobOutcome, JobProducer, JobRequest } from '../src/queue/contract.js';
import { GatewayStatsRecorder, recordingTimings } from '../src/gateway/stats-recorder.js';
import { workerInfoOf } from '../src/worker/worker-sample.js';
import type { BatchWorker } from '../src/worker/batch-worker.js';

export interface StatsCodeCost {
  /** µs of CPU the stats code adds to one request (recording, the timings' wrapper). */
  perRequestUs: number;
  /** µs of CPU to gather a gateway's sample of a second of 1,000 requests and turn it into JSON. */
  perGatewaySampleUs: number;
  /** µs of CPU a worker's heartbeat spends on its sample (its figures, memory, JSON). */
  perWorkerSampleUs: number;
}

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

const OUTCOME: JobOutcome = { ok: true, predictions: [{ label: 'a', probability: 1 }], timings: { queueMs: 3.2, inferenceMs: 1.1, batchSize: 2 } };
const REQUEST = { model: 'echo', version: '1' } as JobRequest;

async function requests(n: number, withStats: boolean): Promise<number> {
  const producer = {
    submit: () => Promise.resolve(OUTCOME),
    submitAll: () => [Promise.resolve(OUTCOME)],
    depth: () => Promise.resolve(0),
    backlog: () => Promise.resolve({ waiting: 0, oldestWaitMs: -1 }),
    isAvailable: () => true,
    close: () => Promise.resolve(),
  } as JobProducer;
  const recorder = new GatewayStatsRecorder({ id: 'bench', queueKeys: ['echo:1'], backlog: (key) => producer.backlog(key), inFlight: () => 0 });
  const used = withStats ? recordingTimings(producer, recorder) : producer;
  const started = cpuUs();
  for (let i = 0; i < n; i++) {
    await used.submit(REQUEST, { bound: 1 });
    if (withStats) recorder.request('echo', '1', 200, 2 + (i % 50) / 10);
  }
  return (cpuUs() - started) / n;
}

async function gatewaySamples(n: number): Promise<number> {
  const recorder = new GatewayStatsRecorder({
    id: 'bench',
    queueKeys: ['echo:1'],
    backlog: () => Promise.resolve({ waiting: 3, oldestWaitMs: 12 }),
    inFlight: () => 5,
  });
  let spent = 0;
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < 1000; i++) {
      recorder.request('echo', '1', i % 100 === 0 ? 503 : 200, 2 + (i % 50) / 10);
      recorder.answered('echo:1', OUTCOME);
    }
    const started = cpuUs();
    JSON.stringify(await recorder.sample());
    spent += cpuUs() - started;
  }
  return spent / n;
}

function workerSamples(n: number): number {
  const workers = [{ key: 'echo:1', counters: { batches: 10, items: 80, busyMs: 123.4 } }] as unknown as BatchWorker[];
  const started = cpuUs();
  for (let i = 0; i < n; i++) {
    const info = workerInfoOf(workers, 'bench-worker', 1);
    JSON.stringify({ kind: 'worker', ...info });
  }
  return (cpuUs() - started) / n;
}

/** Alternating repetitions, the least disturbed (minimum) of each kept. */
export async function measureStatsCode(repetitions = 5): Promise<StatsCodeCost> {
  const withStats: number[] = [];
  const without: number[] = [];
  const gateway: number[] = [];
  const worker: number[] = [];
  // A warm-up pass, so the JIT has compiled both paths before anything is kept.
  await requests(50_000, true);
  await requests(50_000, false);
  for (let r = 0; r < repetitions; r++) {
    withStats.push(await requests(200_000, true));
    without.push(await requests(200_000, false));
    gateway.push(await gatewaySamples(200));
    worker.push(workerSamples(20_000));
  }
  return {
    perRequestUs: Math.max(0, Math.min(...withStats) - Math.min(...without)),
    perGatewaySampleUs: Math.min(...gateway),
    perWorkerSampleUs: Math.min(...worker),
  };
}
