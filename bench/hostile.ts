// bench:hostile — what each attack of the hardening review costs a real `swarmserve serve
// --only resnet50:1` (1,000 classes), measured from outside while another client is served:
//   - the server's longest event-loop stall during the attack (its own
//     nodejs_eventloop_lag_max_seconds, scraped before — which resets it — and after);
//   - its peak RSS over the RSS before the attack (/proc/<pid>/status, sampled every 20 ms);
//   - what the attack got, and what a good /predict from another address (127.0.0.2) got.
// Targets: stall < 250 ms, RSS growth < 100 MB, the good request 200, the attack a 4xx.
// Writes bench/results/hostile-<time>.json. Exits 0 when every attack ran, whatever the
// targets say (a report); 1 otherwise.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { cpuLine, readCpuInfo } from './cpuinfo.js';
import { MAIN_JS, ROOT, progress, runDriver, sleep } from './driver.js';
import { rawRequest, slowImageUpload, trickle } from './hostile-clients.js';
import { procMemory } from './processes.js';
import { markdownTable, writeResults } from './report.js';
import { freePort, scrapeMetrics, startServer, type ServerHandle } from './served.js';

const MiB = 1024 * 1024;
const TARGET_STALL_MS = 250;
const TARGET_RSS_GROWTH = 100 * MiB;
const DOG = readFileSync(join(ROOT, 'test', 'fixtures', 'images', 'dog.jpg'));

interface Attack {
  name: string;
  /** Runs the attack to its end; resolves with what it got (e.g. "400", "26 × 408"). */
  run: (url: string) => Promise<string>;
  /** When, after the attack starts, the good request is sent. */
  goodAfterMs: number;
}

interface Row {
  attack: string;
  got: string;
  good: string;
  stallMs: number;
  rssGrowth: number;
  pass: boolean;
}

async function post(url: string, path: string, body: string | Buffer, headers: Record<string, string>): Promise<string> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body, headers });
  await response.arrayBuffer();
  return String(response.status);
}

const json = { 'content-type': 'application/json' };
const images = Array.from({ length: 64 }, () => DOG.subarray(0, 64).toString('base64'));

const ATTACKS: Attack[] = [
  {
    name: 'OIP: 64 small images, outputs × 1,000 (69 KB)',
    goodAfterMs: 0,
    run: (url) =>
      post(
        url,
        '/v2/models/resnet50/infer',
        JSON.stringify({
          inputs: [{ name: 'input', shape: [64], datatype: 'BYTES', data: images }],
          outputs: Array.from({ length: 1000 }, () => ({ name: 'logits', parameters: { classification: 1000 } })),
        }),
        json,
      ),
  },
  {
    name: 'OIP: 3 M empty strings (9 MB JSON)',
    goodAfterMs: 0,
    run: (url) =>
      post(
        url,
        '/v2/models/resnet50/infer',
        JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: Array.from({ length: 3_000_000 }, () => '') }] }),
        json,
      ),
  },
  {
    name: 'OIP: 3.2 M empty arrays (9.6 MB JSON)',
    goodAfterMs: 0,
    run: (url) =>
      post(
        url,
        '/v2/models/resnet50/infer',
        `{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":[${Array.from({ length: 3_200_000 }, () => '[]').join(',')}]}]}`,
        json,
      ),
  },
  {
    name: '/predict: 9.6 MB of JSON (3.2 M empty arrays)',
    goodAfterMs: 0,
    run: (url) => post(url, '/predict', `[${Array.from({ length: 3_200_000 }, () => '[]').join(',')}]`, json),
  },
  {
    name: 'OIP: 2.5 M zero-length binary elements',
    goodAfterMs: 0,
    run: (url) => {
      const elements = Buffer.alloc(4 * 2_500_000);
      const header = Buffer.from(
        JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: elements.length } }] }),
      );
      return post(url, '/v2/models/resnet50/infer', Buffer.concat([header, elements]), {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      });
    },
  },
  {
    name: 'OIP: FP32 data nested 100,000 deep',
    goodAfterMs: 0,
    run: (url) =>
      post(
        url,
        '/v2/models/resnet50/infer',
        `{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":${'['.repeat(100_000)}0${']'.repeat(100_000)}}]}`,
        json,
      ),
  },
  {
    name: '26 slow 10 MB uploads (a byte every 500 ms), until cut',
    goodAfterMs: 2_500,
    run: async (url) => {
      const slow = Array.from({ length: 26 }, () => slowImageUpload(url));
      const stops = slow.map((s) => trickle(s, 500));
      try {
        const statuses = await Promise.all(slow.map((s) => s.status));
        const counts = new Map<number, number>();
        for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
        return [...counts].map(([s, n]) => `${n} × ${s}`).join(', ');
      } finally {
        for (const stop of stops) stop();
        for (const s of slow) s.close();
      }
    },
  },
  {
    name: '40 × PUT /metrics/x, 9.99 MB declared, the rest withheld',
    goodAfterMs: 500,
    run: async (url) => {
      const attacks = Array.from({ length: 40 }, () =>
        rawRequest(url, {
          method: 'PUT',
          path: '/metrics/x',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(Math.floor(9.99 * 1e6)) },
          initial: Buffer.alloc(64 * 1024, 1),
        }),
      );
      const statuses = await Promise.all(attacks.map((a) => a.status));
      await sleep(1_000);
      for (const a of attacks) a.close();
      return `${statuses.filter((s) => s === 404).length} × 404 of ${statuses.length}`;
    },
  },
];

async function measure(server: ServerHandle, attack: Attack, second: Agent): Promise<Row> {
  await scrapeMetrics(server.url); // resets the server's event-loop lag statistics
  const baseline = procMemory(server.pid, 'VmRSS');
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, procMemory(server.pid, 'VmRSS'));
  }, 20);
  try {
    const good = sleep(attack.goodAfterMs).then(async () => {
      const started = performance.now();
      const response = await undiciFetch(`${server.url}/predict`, { method: 'POST', body: DOG, headers: { 'content-type': 'image/jpeg' }, dispatcher: second });
      await response.arrayBuffer();
      return `${response.status} in ${(performance.now() - started).toFixed(0)} ms`;
    });
    const [got, goodResult] = await Promise.all([attack.run(server.url), good]);
    peak = Math.max(peak, procMemory(server.pid, 'VmRSS'));
    const lag = (await scrapeMetrics(server.url)).find((s) => s.name === 'nodejs_eventloop_lag_max_seconds')?.value ?? Number.NaN;
    const stallMs = lag * 1000;
    const rssGrowth = peak - baseline;
    const pass = stallMs < TARGET_STALL_MS && rssGrowth < TARGET_RSS_GROWTH && goodResult.startsWith('200') && /^4\d\d|× 4\d\d/.test(got);
    return { attack: attack.name, got, good: goodResult, stallMs, rssGrowth, pass };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const cpu = readCpuInfo();
  progress(`${cpuLine(cpu)}; ${availableParallelism()} cores`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // 1 s per MiB: the slow uploads are cut after 10 s (the default, 5 s per MiB, takes 50 s).
  const args = ['--only', 'resnet50:1', '--port', String(port), '--host', '127.0.0.1', '--body-timeout-ms', '1000', '--log-level', 'warn'];
  progress(`starting \`node dist/src/cli/main.js serve ${args.join(' ')}\``);
  const server = await startServer(MAIN_JS, args, url);
  const second = new Agent({ localAddress: '127.0.0.2' });
  const rows: Row[] = [];
  try {
    // Warm: the first /predict loads what a cold server loads lazily.
    await undiciFetch(`${url}/predict`, { method: 'POST', body: DOG, headers: { 'content-type': 'image/jpeg' }, dispatcher: second }).then((r) =>
      r.arrayBuffer(),
    );
    for (const attack of ATTACKS) {
      progress(`attack: ${attack.name}`);
      const row = await measure(server, attack, second);
      progress(`  got ${row.got}; good request ${row.good}; stall ${row.stallMs.toFixed(0)} ms; RSS +${(row.rssGrowth / MiB).toFixed(1)} MiB`);
      rows.push(row);
    }
  } finally {
    await second.close();
    await server.stop();
  }
  const out = [
    '',
    `## Results (${startedAt.toISOString()}, ${cpu.model}, ${availableParallelism()} cores; serve --only resnet50:1)`,
    '',
    markdownTable(
      ['attack', 'attack got', 'good request (127.0.0.2)', `longest stall (< ${TARGET_STALL_MS} ms)`, 'RSS growth (< 100 MiB)', 'PASS/FAIL'],
      rows.map((r) => [r.attack, r.got, r.good, `${r.stallMs.toFixed(0)} ms`, `${(r.rssGrowth / MiB).toFixed(1)} MiB`, r.pass ? 'PASS' : '**FAIL**']),
    ),
    '',
    rows.every((r) => r.pass)
      ? 'ALL TARGETS PASS'
      : `NOT MET: ${rows
          .filter((r) => !r.pass)
          .map((r) => r.attack)
          .join('; ')}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  writeResults('hostile', startedAt, {
    startedAt: startedAt.toISOString(),
    machine: { cpu: cpu.model, cores: availableParallelism(), node: process.version },
    targets: { stallMs: TARGET_STALL_MS, rssGrowthBytes: TARGET_RSS_GROWTH },
    rows,
  });
  return 0;
}

runDriver('bench:hostile', main);
