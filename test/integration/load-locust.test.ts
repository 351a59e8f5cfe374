// Compatibility with Locust itself (Debian's python3-locust 2.12, installed by
// scripts/ensure-test-deps.sh): our --csv files have Locust's exact header lines, and the
// repository's locustfile.py load-tests a real `swarmserve serve` without a failure. Without
// locust the tests are skipped, except under CI=true, where that is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { after, answerOk, closeAllStubs, startStub } from '../helpers/http-stub.js';
import { CLI, ensureBuilt, ROOT, spawnServe, stopProcess, type ServeProcess } from '../helpers/process.js';

const hasLocust = spawnSync('locust', ['--version'], { stdio: 'ignore' }).status === 0;
const required = process.env.CI === 'true';

interface Run {
  code: number | null;
  output: string;
}

/** Runs a command to its end (killed after `timeoutMs`), stdout and stderr together. */
function runToEnd(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function firstLine(path: string): string {
  return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
}

let scratch: string;
beforeAll(() => {
  if (!hasLocust && required) throw new Error('locust is not installed (CI=true): scripts/ensure-test-deps.sh installs python3-locust');
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'swarmserve-locust-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(closeAllStubs);

describe.skipIf(!hasLocust && !required)('Locust compatibility', () => {
  it('--csv writes the header lines of a real `locust --csv` run', async () => {
    const stub = await startStub((req, _body, res) => (req.method === 'GET' ? answerOk(res) : after(5, () => answerOk(res))));
    const locustfile = join(scratch, 'tiny_locustfile.py');
    writeFileSync(
      locustfile,
      [
        'from locust import HttpUser, constant, task',
        '',
        'class Tiny(HttpUser):',
        '    wait_time = constant(0.2)',
        '',
        '    @task',
        '    def predict(self):',
        '        self.client.post("/predict", data=b"x")',
        '',
      ].join('\n'),
    );
    const theirs = join(scratch, 'locust');
    const ours = join(scratch, 'ours');
    const locust = await runToEnd('locust', [
      '-f',
      locustfile,
      '--headless',
      '-u',
      '1',
      '-r',
      '1',
      '-t',
      '3s',
      '--host',
      stub.url,
      '--csv',
      theirs,
      '--only-summary',
    ]);
    expect(locust.code, locust.output).toBe(0);
    const load = await runToEnd(process.execPath, [CLI, 'load', stub.url, '-n', '10', '--csv', ours]);
    expect(load.code, load.output).toBe(0);

    for (const suffix of ['_stats.csv', '_stats_history.csv', '_failures.csv']) {
      const header = firstLine(`${theirs}${suffix}`);
      expect(header.split(',').length, suffix).toBeGreaterThan(3);
      expect(firstLine(`${ours}${suffix}`), suffix).toBe(header);
    }
    // Every row of ours has as many fields as the header (no field holds a comma here).
    for (const suffix of ['_stats.csv', '_stats_history.csv']) {
      const [header = '', ...rows] = readFileSync(`${ours}${suffix}`, 'utf8').trim().split('\r\n');
      expect(rows.length).toBeGreaterThanOrEqual(1);
      for (const row of rows) expect(row.split(','), `${suffix}: ${row}`).toHaveLength(header.split(',').length);
    }
  });

  describe('the repository locustfile.py against a real swarmserve serve', () => {
    let serve: ServeProcess | undefined;
    afterEach(async () => {
      if (serve !== undefined) await stopProcess(serve);
      serve = undefined;
    });

    it('makes ≥ 30 requests, none failed, and the server counts exactly as many', async () => {
      serve = await spawnServe(['--only', 'moderation']);
      // The committed locustfile waits 0.5-5 s like the tutorial's; the documented variable shortens it.
      // --stop-timeout lets each user finish its request at the end, so both sides count it.
      const locust = await runToEnd(
        'locust',
        ['-f', join(ROOT, 'locustfile.py'), '--headless', '-u', '4', '-r', '4', '-t', '8s', '--stop-timeout', '20', '--only-summary', '--host', serve.url],
        { SWARMSERVE_LOCUST_WAIT: '0.1-0.3' },
      );
      expect(locust.code, locust.output).toBe(0); // Locust exits 1 when any request failed
      const row = /^\s+Aggregated\s+(\d+)\s+(\d+)\(/m.exec(locust.output);
      expect(row, locust.output).not.toBeNull();
      const requests = Number(row![1]);
      const failures = Number(row![2]);
      console.info(`locust: ${requests} requests, ${failures} failures`);
      expect(failures).toBe(0);
      expect(requests).toBeGreaterThanOrEqual(30);

      // The server counts a request when its answer has gone: give the last one a moment.
      let counted = -1;
      for (let i = 0; i < 10 && counted !== requests; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 200));
        const metrics = await (await fetch(`${serve.url}/metrics`)).text();
        counted = [...metrics.matchAll(/^swarmserve_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      }
      expect(counted).toBe(requests);
    }, 120_000);
  });
});
