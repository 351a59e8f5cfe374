// `swarmserve load` as users run it: the compiled CLI against a scripted HTTP server.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadSummary } from '../../src/loadtest/contract.js';
import { after, answerJson, answerOk, closeAllStubs, startStub } from '../helpers/http-stub.js';
import { CLI, ensureBuilt, freePort } from '../helpers/process.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `swarmserve load …` (never through a TTY: progress comes as plain lines). */
function load(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'load', ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

let scratch: string;
beforeAll(() => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'swarmserve-load-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(closeAllStubs);

/** The multipart body of a request, as the server's parser sees it. */
async function formOf(contentType: string, body: Buffer): Promise<FormData> {
  return new Request('http://x/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
}

describe('swarmserve load', () => {
  it('posts the sample photo as img_file with ?model=&version=, and --json prints the summary as one JSON object', async () => {
    const seen: Array<{ url: string; field: string; bytes: number }> = [];
    const stub = await startStub((req, body, res) => {
      if (req.method === 'GET') return answerOk(res); // the reachability check
      void formOf(req.headers['content-type'] ?? '', body).then((form) => {
        const file = form.get('img_file');
        seen.push({ url: req.url ?? '', field: file instanceof File ? file.name : 'missing', bytes: file instanceof File ? file.size : 0 });
        after(20, () => answerOk(res));
      });
    });
    const run = await load([stub.url, '--requests', '12', '-u', '3', '-r', '100', '--json', '--model', 'resnet50', '--version', '1']);
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!) as LoadSummary;
    expect(summary.requests).toBe(12);
    expect(summary.failures).toBe(0);
    expect(summary.users).toBe(3);
    expect(summary.latencyMs.p50).toBeGreaterThanOrEqual(20);
    expect(summary.cpu.userMs).toBeGreaterThanOrEqual(0);
    expect(stub.received()).toBe(13); // the reachability check (GET), then the load
    expect(seen).toHaveLength(12);
    const photo = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'images', 'dog.jpg'));
    for (const s of seen) expect(s).toEqual({ url: '/predict?model=resnet50&version=1', field: 'dog.jpg', bytes: photo.length });
  });

  it('prints a Locust-like table, the failures by kind and its CPU; --max-failure-ratio decides the exit code', async () => {
    let n = 0;
    const stub = await startStub((_req, _body, res) => {
      if (++n % 4 === 0) answerJson(res, 503, { success: false, error: { code: 'QUEUE_FULL', message: 'full' } });
      else answerOk(res);
    });
    const strict = await load([stub.url, '-n', '20']); // default 0: any failure fails
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/# reqs\s+# fails\s+mean\s+min\s+max\s+p50\s+p90\s+p95\s+p99\s+req\/s/);
    expect(strict.stdout).toMatch(/POST \/predict\s+20\s+5 \(25\.00%\)/);
    expect(strict.stdout).toMatch(/^\s+5\s+HTTP 503 QUEUE_FULL$/m);
    expect(strict.stdout).toMatch(/Load generator CPU: \d+\.\d\d core/);
    expect(strict.stderr).toMatch(/5 of 20 requests failed \(ratio 0\.2500\), above --max-failure-ratio 0$/m);

    const lenient = await load([stub.url, '-n', '20', '--max-failure-ratio', '0.3']);
    expect(lenient.code).toBe(0);
    const byEnv = await load([stub.url, '-n', '20'], { SWARMSERVE_LOAD_MAX_FAILURE_RATIO: '0.2' });
    expect(byEnv.code).toBe(1);
  });

  it('bad arguments: one line, exit 2, nothing sent', async () => {
    const stub = await startStub((_req, _body, res) => answerOk(res));
    const cases: Array<[string[], RegExp]> = [
      [[stub.url, '--users', 'many'], /--users: expected an integer from 1 to 10000, got "many"/],
      [[stub.url, '--wait', '5-1'], /--wait: expected a wait range A-B with A <= B/],
      [[stub.url, '--duration', '10 parsecs'], /--duration: expected a duration such as 20s, 1m30s/],
      [[stub.url, '--rate', '10', '--users', '5'], /--rate \(open loop\) cannot be combined with --users/],
      [[stub.url, '--max-in-flight', '5'], /--max-in-flight is for the open loop: it needs --rate/],
      [[stub.url, '--max-failure-ratio', '2'], /--max-failure-ratio: expected a number from 0 to 1/],
      [['localhost:8080'], /BASE_URL must be http: or https:|BASE_URL must be an http\(s\) URL/],
      [[stub.url, '--image', join(scratch, 'nope.jpg')], /cannot read --image .*nope\.jpg \(ENOENT\)/],
      [[stub.url, '--no-such-flag'], /unknown option '--no-such-flag'/],
      [[], /missing required argument 'BASE_URL'/],
    ];
    for (const [args, message] of cases) {
      const run = await load(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
      expect(run.stdout).toBe('');
    }
    const env = await load([stub.url], { SWARMSERVE_LOAD_USERS: '0' });
    expect(env.code).toBe(78); // a bad env var is invalid configuration (docs/errors.md)
    expect(env.stderr).toMatch(/SWARMSERVE_LOAD_USERS: expected an integer from 1 to 10000, got "0"/);
    expect(stub.received()).toBe(0);
  });

  it('an unreachable URL is one clear line and exit 3, before any load', async () => {
    const port = await freePort(); // free: nothing listens there
    const run = await load([`http://127.0.0.1:${port}`, '-n', '5']);
    expect(run.code).toBe(3);
    expect(run.stderr.trim()).toBe(
      `swarmserve: TARGET_UNREACHABLE: load: cannot reach http://127.0.0.1:${port}: connection refused: is the server running, on that port? (ECONNREFUSED)`,
    );
    expect(run.stdout).toBe('');
  });

  it('open loop: --rate with --duration; progress lines when not a TTY; --csv writes the three files', async () => {
    const stub = await startStub((_req, _body, res) => after(10, () => answerOk(res)));
    const prefix = join(scratch, 'open');
    const run = await load([stub.url, '--rate', '40', '--duration', '5s', '--csv', prefix]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/open loop at 40 req\/s/);
    // Kept, unless this shared machine held the sender up for over 50 ms: then it must say so.
    expect(run.stdout).toMatch(/^(Rate kept|RATE NOT KEPT): \d+\.\d\d req\/s sent of 40 asked/m);
    expect(run.stdout).toMatch(/POST \/predict\s+200\s+0 \(0%\)/); // due at 0, 25, …, 4975 ms
    // A line every 2 s (at 2 and 4 s when the timer is on time; a 5 s run has one even if it is late).
    expect(run.stderr).toMatch(/^\[\s+\d+ s\] open loop 40\/s \| [\d.]+ req\/s \| p50 [\d.]+ ms, p95 [\d.]+ ms \| \d+ reqs, 0 failures/m);
    for (const suffix of ['_stats.csv', '_stats_history.csv', '_failures.csv']) expect(existsSync(`${prefix}${suffix}`), suffix).toBe(true);
    const stats = readFileSync(`${prefix}_stats.csv`, 'utf8').split('\r\n');
    expect(stats[1]).toMatch(/^POST,\/predict,200,0,/);
    expect(stats[2]).toMatch(/^,Aggregated,200,0,/);
    const history = readFileSync(`${prefix}_stats_history.csv`, 'utf8').trim().split('\r\n');
    expect(history.length).toBeGreaterThanOrEqual(3); // the header and a row a second
    expect(history.at(-1)).toMatch(/^\d{10},0,,Aggregated,[\d.]+,0\.000000,(\d+,){11}200,0,/);
  });

  it('Ctrl-C stops the run and still reports', async () => {
    const stub = await startStub((_req, _body, res) => after(20, () => answerOk(res)));
    const child = execFile(process.execPath, [CLI, 'load', stub.url, '-u', '2', '-r', '100', '--json']);
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    // Interrupted once the load is well under way (the reachability GET, then ≥ 9 requests), however
    // long this machine takes to start the CLI.
    const until = Date.now() + 30_000;
    while (stub.received() < 10 && child.exitCode === null && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stub.received()).toBeGreaterThanOrEqual(10);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as LoadSummary;
    expect(summary.stoppedBy).toBe('signal');
    expect(summary.requests).toBeGreaterThan(5);
    expect(summary.failures).toBe(0);
  });
});
