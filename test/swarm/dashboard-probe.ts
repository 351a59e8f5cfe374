// Reads a gateway's /dashboard/stream (NDJSON) until a tick satisfies `done`, or the time is
// up: the swarm e2e's check that a gateway's dashboard shows the workers of every node.
import type { StreamMessage, WorkerRow } from '../../src/dashboard/contract.js';

export interface DashboardReading {
  /** The workers table of the last tick read. */
  workers: WorkerRow[];
  /** Requests answered 2xx over the frames read (history and ticks). */
  answeredOk: number;
  gateways: number;
  ticks: number;
}

export async function readDashboard(gateway: string, done: (r: DashboardReading) => boolean, timeoutMs: number): Promise<DashboardReading> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const reading: DashboardReading = { workers: [], answeredOk: 0, gateways: 0, ticks: 0 };
  try {
    const res = await fetch(`${gateway}/dashboard/stream?range=60`, { signal: abort.signal });
    if (res.status !== 200) throw new Error(`GET /dashboard/stream: ${res.status}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffered.slice(0, end)) as StreamMessage;
        buffered = buffered.slice(end + 1);
        if (message.type === 'hello') continue;
        for (const frame of message.frames) {
          reading.answeredOk += frame.all.outcomes[0];
          reading.gateways = frame.gateways;
        }
        if (message.type === 'tick') {
          reading.workers = message.workers;
          reading.ticks++;
        }
      }
      if (done(reading)) break;
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return reading;
}
