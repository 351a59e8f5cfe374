// docs/api.md's metrics table against what the real processes export, both ways (every
// documented metric exists where the table says, every exported one is documented there,
// with its type and labels), and the Grafana dashboard's queries against the same scrapes.
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment, predict } from '../helpers/distributed.js';
import { solidPng } from '../helpers/images.js';
import { covers, documentedMetrics, metricOf, promqlMetricNames, scrape, type DocumentedMetric, type Exported } from '../helpers/metrics-catalog.js';
import { ROOT, spawnServe, stopProcess, type ServeProcess } from '../helpers/process.js';

type Process = 'serve' | 'gateway' | 'worker';

let deployment: Deployment;
let serve: ServeProcess;
let urls: Record<Process, string>;
const scrapes = {} as Record<Process, Exported>;
let table: DocumentedMetric[];

/** Good and bad requests, so the labelled series exist: 200, unknown model, unknown version, not an image. */
async function exercise(url: string): Promise<void> {
  const png = await solidPng(8, 8, [120, 40, 200]);
  for (const [query, body, status] of [
    ['', png, 200],
    ['?model=nope', png, 404],
    ['?version=9', png, 404],
    ['', Buffer.from('not an image'), 415],
  ] as const) {
    const answer = await predict(url, body, {}, query);
    expect(answer.status, `${url}/predict${query}`).toBe(status);
  }
}

async function gauge(url: string, name: string): Promise<number> {
  return (await scrape(url)).samples.find((s) => s.name === name)?.value ?? Number.NaN;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  deployment = await Deployment.start();
  const { gateway, workers } = await deployment.stack(1);
  serve = await spawnServe(['--models', deployment.repoRoot, '--default-model', 'tiny', '--log-level', 'warn']);
  urls = { serve: serve.url, gateway: gateway.url, worker: (workers[0] as { url: string }).url };
  await exercise(serve.url);
  await exercise(gateway.url);
  // onResponse (which takes a request out of flight) runs just after the client has its answer.
  for (const url of [serve.url, gateway.url]) await until(async () => (await gauge(url, 'swarmserve_requests_in_flight')) === 0, 'no request in flight');
  for (const p of ['serve', 'gateway', 'worker'] as const) scrapes[p] = await scrape(urls[p]);
  table = documentedMetrics();
}, 180_000);

afterAll(async () => {
  if (serve !== undefined) await stopProcess(serve, 'SIGKILL');
  await deployment?.stop();
});

describe('docs/api.md metrics table', () => {
  it('has a row per metric naming its processes', () => {
    expect(table.length).toBeGreaterThan(10);
    for (const row of table) expect(row.processes.length, row.names.join(', ')).toBeGreaterThan(0);
  });

  it('documents every metric each process exports, with its type, for that process', () => {
    for (const p of ['serve', 'gateway', 'worker'] as const) {
      for (const [name, type] of scrapes[p].types) {
        const row = table.find((r) => covers(r, name));
        expect(row, `${p} exports ${name}: not in docs/api.md`).toBeDefined();
        expect(row?.processes, `${name}: docs/api.md does not say ${p} exports it`).toContain(p);
        if (row?.type !== '') expect(row?.type, `${name}: type`).toBe(type);
      }
    }
  });

  it('every documented metric is exported by every process the table names', () => {
    for (const row of table) {
      for (const p of row.processes as Process[]) {
        expect(Object.keys(urls), `unknown process ${p}`).toContain(p);
        const names = [...scrapes[p].types.keys()];
        for (const name of row.names)
          expect(
            names.some((n) => covers({ ...row, names: [name] }, n)),
            `${name} documented for ${p}, not exported`,
          ).toBe(true);
      }
    }
  });

  it('documents the labels of every series seen', () => {
    const seen = new Set<string>();
    for (const p of ['serve', 'gateway', 'worker'] as const) {
      const { types, samples } = scrapes[p];
      for (const sample of samples) {
        const metric = metricOf(sample.name, types);
        if (!metric.startsWith('swarmserve_')) continue;
        seen.add(metric);
        const row = table.find((r) => covers(r, metric));
        const labels = Object.keys(sample.labels).filter((l) => l !== 'le');
        expect(labels.sort(), `${p}: ${sample.name}`).toEqual([...(row?.labels ?? [])].sort());
      }
    }
    // Not vacuous: the series the requests above made are among them.
    for (const metric of [
      'swarmserve_requests_total',
      'swarmserve_request_duration_seconds',
      'swarmserve_queue_wait_seconds',
      'swarmserve_decode_duration_seconds',
      'swarmserve_build_info',
    ])
      expect(seen).toContain(metric);
  });
});

describe('metric values', () => {
  it('requests carry model and version ("" when refused before one was chosen) and error_code', () => {
    for (const p of ['serve', 'gateway'] as const) {
      const requests = scrapes[p].samples.filter((s) => s.name === 'swarmserve_requests_total');
      const find = (labels: Record<string, string>): number => requests.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
      expect(find({ model: 'tiny', version: '1', code: '200', error_code: '' }), p).toBe(1);
      expect(find({ model: 'unknown', version: '', code: '404', error_code: 'MODEL_NOT_FOUND' }), p).toBe(1);
      expect(find({ model: 'tiny', version: '', code: '404', error_code: 'VERSION_NOT_FOUND' }), p).toBe(1);
      const durations = scrapes[p].samples.filter((s) => s.name === 'swarmserve_request_duration_seconds_count');
      expect(
        durations.reduce((sum, s) => sum + s.value, 0),
        p,
      ).toBe(requests.reduce((sum, s) => sum + s.value, 0));
    }
  });

  it('queue wait and decode time are observed once per image computed', () => {
    for (const p of ['serve', 'worker'] as const) {
      const count = (name: string): number =>
        scrapes[p].samples.filter((s) => s.name === name && s.labels.model === 'tiny').reduce((sum, s) => sum + s.value, 0);
      expect(count('swarmserve_queue_wait_seconds_count'), p).toBe(1);
      expect(count('swarmserve_decode_duration_seconds_count'), p).toBe(1);
      expect(count('swarmserve_queue_wait_seconds_sum'), p).toBeGreaterThanOrEqual(0);
      expect(count('swarmserve_queue_wait_seconds_sum'), p).toBeLessThan(5);
    }
  });

  it('build_info is 1 with the package, Node.js and onnxruntime versions, on every process', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const p of ['serve', 'gateway', 'worker'] as const) {
      const info = scrapes[p].samples.filter((s) => s.name === 'swarmserve_build_info');
      expect(info, p).toHaveLength(1);
      expect(info[0]?.value).toBe(1);
      expect(info[0]?.labels).toMatchObject({ version, node: process.version });
      expect(info[0]?.labels.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('in flight counts a request being uploaded, until its client leaves', async () => {
    const url = new URL(`${urls.serve}/predict`);
    const upload = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'image/png', 'content-length': '100000' },
    });
    upload.on('error', () => undefined);
    upload.write(Buffer.alloc(100));
    await until(async () => (await gauge(urls.serve, 'swarmserve_requests_in_flight')) === 1, 'one request in flight');
    upload.destroy();
    await until(async () => (await gauge(urls.serve, 'swarmserve_requests_in_flight')) === 0, 'none in flight after the client left');
  });
});

describe('deploy/grafana/swarmserve-dashboard.json', () => {
  interface Target {
    expr?: string;
  }
  interface Panel {
    type: string;
    targets?: Target[];
    datasource?: { uid?: string };
  }
  interface Dashboard {
    __inputs: Array<{ name: string; pluginId: string }>;
    panels: Panel[];
    templating: { list: Array<{ query: { query: string } | string }> };
  }
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'swarmserve-dashboard.json'), 'utf8')) as Dashboard;

  it('takes its Prometheus data source as the DS_PROMETHEUS input', () => {
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' }));
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) expect(panel.datasource?.uid).toBe('${DS_PROMETHEUS}');
  });

  it('queries only metrics the processes export', () => {
    const exported = new Set<string>();
    for (const p of ['serve', 'gateway', 'worker'] as const) {
      for (const name of scrapes[p].types.keys()) exported.add(name);
      for (const sample of scrapes[p].samples) exported.add(sample.name);
    }
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap(promqlMetricNames));
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
      const metric = /label_values\(\s*([\w:]+)\s*,/.exec(query)?.[1];
      if (metric !== undefined) used.add(metric);
    }
    for (const name of [
      'swarmserve_requests_in_flight',
      'swarmserve_queue_wait_seconds_bucket',
      'swarmserve_decode_duration_seconds_bucket',
      'process_cpu_seconds_total',
    ])
      expect(used).toContain(name);
    for (const name of used) expect(exported, `the dashboard queries ${name}`).toContain(name);
  });

  it('reads metric names out of PromQL', () => {
    expect(promqlMetricNames('histogram_quantile(0.95, sum by (le) (rate(a_bucket{model=~"$model", x="y(z)"}[$__rate_interval]))) / on (job) b')).toEqual([
      'a_bucket',
      'b',
    ]);
  });
});
