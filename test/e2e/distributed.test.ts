// Distributed mode end to end: real redis-server, real `swarmserve gateway` and
// `swarmserve worker` processes, a tiny model with known answers per input. What the
// system must survive: many gateways and workers, a worker killed mid-batch, Redis paused
// and restarted empty, no worker at all, huge uploads, a worker with a wrong clock, drains.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { computedJobs, Deployment, knownInputs, predict, runConcurrently, sameAnswer, type Answer, type KnownInput } from '../helpers/distributed.js';
import { stopProcess, type CliProcess } from '../helpers/process.js';

const CLASSES = 10;
let deployment: Deployment | undefined;

afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});

async function deploy(options: Parameters<typeof Deployment.start>[0] = {}): Promise<{ d: Deployment; inputs: KnownInput[] }> {
  deployment = await Deployment.start({ classes: CLASSES, ...options });
  return { d: deployment, inputs: await knownInputs(deployment.repoRoot, 40, CLASSES) };
}

function expectAllCorrect(answers: Answer[], inputs: KnownInput[], inputOf: (i: number) => number): void {
  const wrong = answers.map((a, i) => ({ i, a })).filter(({ i, a }) => a.status !== 200 || !sameAnswer(a.body.predictions, inputs[inputOf(i)]!.expected));
  expect(wrong.slice(0, 5).map(({ i, a }) => ({ i, status: a.status, body: a.body }))).toEqual([]);
}

async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && line.includes(labels) && !line.startsWith('#')) sum += Number(line.split(' ').at(-1));
  return sum;
}

const alive = (p: CliProcess): boolean => p.child.exitCode === null;

/** Polls `check` until it holds; fails after `timeoutMs` (what it waits for normally takes a second or two). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('distributed mode', () => {
  it('a Redis at its maxmemory gives 503 QUEUE_FULL, not 500; the gateway keeps serving', async () => {
    const { d, inputs } = await deploy({ redis: { maxmemory: '4mb' }, batching: { queueBound: 100_000 } });
    const gateway = await d.gateway();
    const body = Buffer.alloc(256 * 1024, 1);
    body.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]); // PNG signature: the gateway accepts it
    // No worker: the jobs stay in Redis until it is full.
    const settled: Answer[] = [];
    const answers = Array.from({ length: 60 }, () =>
      predict(gateway.url, body, {}, '?timeout_ms=60000').then((a) => {
        settled.push(a);
        return a;
      }),
    );
    // What is answered while there is no worker (the first answer, and a second more of them) is refused.
    await until('a first answer', () => Promise.resolve(settled.length > 0));
    await new Promise((r) => setTimeout(r, 1_000));
    const early = [...settled];
    expect(early.filter((a) => a.status !== 503 || a.body.error?.code !== 'QUEUE_FULL')).toEqual([]);
    // A worker drains the queue (it answers the fake images 422): nothing got a 500.
    await d.worker();
    const all = await Promise.all(answers);
    expect(all.filter((a) => a.status !== 503 && a.status !== 422)).toEqual([]);
    expect((await predict(gateway.url, inputs[0]!.png)).status).toBe(200);
  }, 90_000);

  it('a Redis at its maxmemory keeps the live worker registered: /health/ready stays 200, new jobs get 503 QUEUE_FULL, all recover when memory frees', async () => {
    const { d, inputs } = await deploy({ redis: { maxmemory: '4mb' } });
    // Heartbeats every 200 ms, presumed dead after 1 s: the watch below spans 4 expiries.
    const beat = ['--heartbeat-interval-ms', '200', '--heartbeat-expiry-ms', '1000'];
    await d.worker(beat);
    const gateway = await d.gateway(beat);
    await d.waitReady(gateway);
    expect((await predict(gateway.url, inputs[0]!.png)).status).toBe(200);
    // 2 MB of ballast, then the limit lowered under what Redis holds: it is above maxmemory (noeviction).
    const ballast = Array.from({ length: 8 }, (_, i) => `ballast:${i}`);
    await d.redis.command(['CONFIG', 'SET', 'maxmemory', '64mb']);
    for (const key of ballast) await d.redis.command(['SET', key, 'x'.repeat(256 * 1024)]);
    await d.redis.command(['CONFIG', 'SET', 'maxmemory', '1mb']);
    const ready: number[] = [];
    for (const end = Date.now() + 4_000; Date.now() < end;) {
      ready.push((await fetch(`${gateway.url}/health/ready`)).status);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready.length).toBeGreaterThan(5);
    expect(ready.filter((status) => status !== 200)).toEqual([]);
    const refused = await predict(gateway.url, inputs[0]!.png);
    expect([refused.status, refused.body.error?.code]).toEqual([503, 'QUEUE_FULL']);
    // Memory frees: the ballast goes, the limit is what it was.
    await d.redis.command(['DEL', ...ballast]);
    await d.redis.command(['CONFIG', 'SET', 'maxmemory', '4mb']);
    const again = await predict(gateway.url, inputs[1]!.png, {}, `?top_k=${CLASSES}`);
    expect(again.status).toBe(200);
    expect(sameAnswer(again.body.predictions, inputs[1]!.expected)).toBe(true);
  }, 90_000);

  it('speaks TLS to a rediss:// URL', async () => {
    const { d, inputs } = await deploy({ redis: { tls: true, password: 'tls-pass' } });
    d.redisArgs = ['--redis', `rediss://:tls-pass@127.0.0.1:${d.redis.port}`];
    const trust = { NODE_EXTRA_CA_CERTS: d.redis.caFile };
    await d.worker([], trust);
    const gateway = await d.gateway([], trust);
    await d.waitReady(gateway);
    const answer = await predict(gateway.url, inputs[2]!.png, {}, `?top_k=${CLASSES}`);
    expect(answer.status).toBe(200);
    expect(sameAnswer(answer.body.predictions, inputs[2]!.expected)).toBe(true);
  }, 60_000);

  it('authenticates with a password from a file (a Docker secret) or in the URL', async () => {
    const { d, inputs } = await deploy({ redis: { password: 's3cret pass' } });
    const secret = join(d.repoRoot, 'redis-password');
    writeFileSync(secret, 's3cret pass\n');
    d.redisArgs = ['--redis', d.redis.url, '--redis-password-file', secret];
    await d.worker();
    d.redisArgs = ['--redis', `redis://:${encodeURIComponent('s3cret pass')}@127.0.0.1:${d.redis.port}`];
    const gateway = await d.gateway();
    await d.waitReady(gateway);
    const answer = await predict(gateway.url, inputs[1]!.png, {}, `?top_k=${CLASSES}`);
    expect(answer.status).toBe(200);
    expect(sameAnswer(answer.body.predictions, inputs[1]!.expected)).toBe(true);
    // A wrong password is a clear start-up failure, not a hang.
    d.redisArgs = ['--redis', `redis://:wrong@127.0.0.1:${d.redis.port}`];
    await expect(d.gateway()).rejects.toThrow(/exited with 78[\s\S]*refused to log in/);
  }, 60_000);

  it('2 gateways and 3 workers answer 2,000 requests, each with its own answer, even with a shared X-Request-Id', async () => {
    const { d, inputs } = await deploy();
    const gateways = [await d.gateway(), await d.gateway()];
    for (let i = 0; i < 3; i++) await d.worker();
    await d.waitReady(gateways[0]!);
    await d.waitReady(gateways[1]!);
    const inputOf = (i: number): number => (i * 7) % inputs.length;
    const answers = await runConcurrently(2_000, 32, (i) =>
      predict(gateways[i % 2]!.url, inputs[inputOf(i)]!.png, { 'x-request-id': i % 5 === 0 ? 'shared-id' : `req-${i}` }, `?top_k=${CLASSES}`),
    );
    expectAllCorrect(answers, inputs, inputOf);
    expect(answers.filter((a, i) => a.requestId !== (i % 5 === 0 ? 'shared-id' : `req-${i}`))).toEqual([]);
    // Every worker took part.
    for (const w of d.workers) expect(await metric(w.url, 'swarmserve_batch_size_count')).toBeGreaterThan(0);
    expect([...d.gateways, ...d.workers].every(alive)).toBe(true);
  }, 120_000);

  it('kill -9 of a worker in the middle of a batch: every request gets its own answer; only its jobs run twice', async () => {
    const { d, inputs } = await deploy();
    const gateways = [await d.gateway(), await d.gateway()];
    // Batches that never fill and a long gathering window keep every worker holding jobs.
    const workerArgs = ['--reclaim-idle-ms', '5000', '--max-batch-size', '64', '--max-queue-delay-ms', '150', '--log-level', 'debug'];
    const victim = await d.worker([...workerArgs, '--worker-id', 'victim']);
    const others = [await d.worker([...workerArgs, '--worker-id', 'rescuer-1']), await d.worker([...workerArgs, '--worker-id', 'rescuer-2'])];
    await d.waitReady(gateways[0]!);
    // Closed-loop clients until well after the takeover.
    let stop = false;
    const answers: Array<{ input: number; answer: Answer }> = [];
    const clients = Array.from({ length: 48 }, async (_, c) => {
      for (let i = c; !stop; i += 48) {
        const input = i % inputs.length;
        answers.push({ input, answer: await predict(gateways[i % 2]!.url, inputs[input]!.png, {}, `?top_k=${CLASSES}&timeout_ms=30000`) });
      }
    });

    // Kill it while it holds unacknowledged jobs.
    await new Promise((r) => setTimeout(r, 1_000));
    const pendingOf = async (consumer: string): Promise<string[]> => {
      const rows = (await d.redis.command(['XPENDING', d.jobStream, 'workers', '-', '+', '1000', consumer])) as Array<[string]>;
      return rows.map((r) => r[0]);
    };
    const until = Date.now() + 10_000;
    while ((await pendingOf('victim')).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
    victim.child.kill('SIGKILL');
    await victim.exited;
    const heldEntries = await pendingOf('victim');
    expect(heldEntries.length).toBeGreaterThan(0);
    // Entry ids → job ids (the entries stay until a peer reclaims and completes them).
    const held = new Set<string>();
    for (const entry of heldEntries) {
      const rows = (await d.redis.command(['XRANGE', d.jobStream, entry, entry])) as Array<[string, string[]]>;
      const fields = rows[0]?.[1] ?? [];
      held.add(fields[fields.indexOf('jid') + 1] ?? '');
    }

    await new Promise((r) => setTimeout(r, 9_000));
    stop = true;
    await Promise.all(clients);
    expectAllCorrect(
      answers.map((a) => a.answer),
      inputs,
      (i) => answers[i]!.input,
    );
    const computed = new Map<string, number>();
    for (const w of d.workers) computedJobs(w.output(), computed);
    const twice = [...computed].filter(([, n]) => n > 1).map(([job]) => job);
    // Every job not held by the killed worker ran exactly once; duplicates only from its batches.
    expect(twice.filter((job) => !held.has(job))).toEqual([]);
    expect([...computed].filter(([job, n]) => !held.has(job) && n !== 1)).toEqual([]);
    // Each job the killed worker held was computed by a live worker after the takeover.
    const rescued = new Map<string, number>();
    for (const w of others) computedJobs(w.output(), rescued);
    expect([...held].filter((job) => !rescued.has(job))).toEqual([]);
    expect(computed.size).toBeGreaterThanOrEqual(answers.length);
    expect([...gateways, ...others].every(alive)).toBe(true);
    expect(await pendingOf('victim')).toEqual([]);
  }, 120_000);

  it('Redis paused (SIGSTOP) for 3 s under load: nothing lost, requests in flight finish with 200, no process exits', async () => {
    const { d, inputs } = await deploy();
    const { gateway } = await d.stack(2);
    const inputOf = (i: number): number => i % inputs.length;
    const load = runConcurrently(400, 16, async (i) => {
      if (i === 100) {
        d.redis.pause();
        setTimeout(() => d.redis.resume(), 3_000);
      }
      return predict(gateway.url, inputs[inputOf(i)]!.png, {}, `?top_k=${CLASSES}`);
    });
    const answers = await load;
    expectAllCorrect(answers, inputs, inputOf);
    expect(Math.max(...answers.map((a) => a.ms))).toBeGreaterThan(2_500);
    expect([...d.gateways, ...d.workers].every(alive)).toBe(true);
  }, 120_000);

  it('Redis restarted empty under load: 503 fast while down, served again within 10 s, waiting requests re-enqueued or answered', async () => {
    const { d, inputs } = await deploy();
    // Batches gather for up to 400 ms, so jobs are always waiting in Redis when it dies.
    const { gateway } = await d.stack(2, ['--max-queue-delay-ms', '400']);
    const inputOf = (i: number): number => i % inputs.length;
    let stop = false;
    const results: Array<{ at: number; answer: Answer }> = [];
    const clients = Array.from({ length: 12 }, async (_, c) => {
      for (let i = c; !stop; i += 12) {
        const at = Date.now();
        results.push({ at, answer: await predict(gateway.url, inputs[inputOf(i)]!.png, {}, `?top_k=${CLASSES}`) });
      }
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const downAt = Date.now();
    await d.redis.kill();
    // While it is down, every new request is refused at once (the clients above are
    // mostly still waiting for the jobs Redis lost).
    const probes: Answer[] = [];
    while (Date.now() - downAt < 2_000) {
      probes.push(await predict(gateway.url, inputs[0]!.png));
      await new Promise((r) => setTimeout(r, 100));
    }
    await d.redis.launch();
    const backAt = Date.now();
    // Reconnections back off to one a second: served again within a second or two, normally.
    await new Promise((r) => setTimeout(r, 11_000));
    stop = true;
    await Promise.all(clients);

    expect(probes.length).toBeGreaterThan(5);
    expect(probes.filter((p) => p.status !== 503 || p.body.error?.code !== 'QUEUE_UNAVAILABLE' || p.ms > 1_000)).toEqual([]);
    const served = results.filter((r) => r.at > backAt && r.answer.status === 200).map((r) => r.at - backAt);
    console.info(`Redis restarted empty: the first request sent after its return that succeeded was sent ${Math.min(...served)} ms after it`);
    // Within 10 s of its return, requests succeed again.
    const after = results.filter((r) => r.at > backAt + 10_000);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => r.answer.status !== 200)).toEqual([]);
    // Every answer is either correct or a 503; nothing hangs until its 30 s deadline (those waiting
    // when Redis died are answered once it is back and the workers with it).
    expect(results.filter((r) => r.answer.status !== 200 && r.answer.status !== 503)).toEqual([]);
    expect(Math.max(...results.map((r) => r.answer.ms))).toBeLessThan(backAt - downAt + 10_000);
    const reenqueued = await metric(gateway.url, 'swarmserve_reenqueued_jobs_total');
    const lost = await metric(gateway.url, 'swarmserve_lost_jobs_total');
    expect(reenqueued + lost).toBeGreaterThan(0);
    expect([...d.gateways, ...d.workers].every(alive)).toBe(true);
  }, 120_000);

  it('with no worker, exactly `bound` requests are accepted and the rest get 503; a worker started later answers them', async () => {
    const { d, inputs } = await deploy({ batching: { queueBound: 8 } });
    const gateway = await d.gateway();
    const answers = runConcurrently(12, 12, (i) => predict(gateway.url, inputs[i]!.png, {}, `?top_k=${CLASSES}`));
    await new Promise((r) => setTimeout(r, 1_000));
    await d.worker();
    const done = await answers;
    const ok = done.map((a, i) => ({ a, i })).filter(({ a }) => a.status === 200);
    expect(ok).toHaveLength(8);
    expect(done.filter((a) => a.status === 503 && a.body.error?.code === 'QUEUE_FULL')).toHaveLength(4);
    for (const { a, i } of ok) expect(sameAnswer(a.body.predictions, inputs[i]!.expected)).toBe(true);
  }, 60_000);

  it('300 concurrent 5 MB uploads: 503 beyond the byte bound, and the gateway stays under 450 MiB', async () => {
    const { d } = await deploy();
    const { gateway } = await d.stack(1, [], ['--max-queued-bytes', String(64 * 1024 * 1024), '--body-limit', String(8 * 1024 * 1024)]);
    const idle = gateway.memory().now;
    const big = Buffer.alloc(5 * 1024 * 1024, 0x5a);
    big.set([0xff, 0xd8, 0xff, 0xe0]); // a JPEG header: accepted by the gateway, refused by the decoder
    const statuses = await Promise.all(
      Array.from({ length: 300 }, () =>
        fetch(`${gateway.url}/predict`, { method: 'POST', body: big, headers: { 'content-type': 'image/jpeg' } }).then(
          async (r) => ({ status: r.status, code: ((await r.json()) as Answer['body']).error?.code }),
          () => ({ status: 0, code: 'network' }),
        ),
      ),
    );
    const counts = new Map<string, number>();
    for (const s of statuses) counts.set(`${s.status} ${s.code}`, (counts.get(`${s.status} ${s.code}`) ?? 0) + 1);
    expect(counts.get('503 QUEUE_FULL') ?? 0).toBeGreaterThan(0);
    expect([...counts.keys()].filter((k) => k !== '503 QUEUE_FULL' && k !== '422 INVALID_IMAGE')).toEqual([]);
    const { peak } = gateway.memory();
    console.info(`gateway RSS idle ${(idle / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB; answers ${JSON.stringify([...counts])}`);
    expect(peak).toBeLessThan(450 * 1024 * 1024);
    expect(alive(gateway)).toBe(true);
    // It still serves.
    expect((await predict(gateway.url, (await knownInputs(d.repoRoot, 1, CLASSES))[0]!.png)).status).toBe(200);
  }, 120_000);

  it('a worker whose clock is 10 s off judges deadlines right; expired jobs never reach the model', async () => {
    const { d, inputs } = await deploy();
    const gateway = await d.gateway();
    // 10 s ahead: a naive worker would find every 5 s deadline long past.
    const ahead = await d.worker(['--clock-offset-ms', '10000']);
    await d.waitReady(gateway);
    const fast = await runConcurrently(20, 4, (i) => predict(gateway.url, inputs[i]!.png, {}, `?top_k=${CLASSES}&timeout_ms=5000`));
    expectAllCorrect(fast, inputs, (i) => i);
    await stopProcess(ahead);

    // 10 s behind, gathering batches for 3 s: a 1 s deadline passes while the job waits in
    // the worker; a naive worker would think it had 11 s left and compute it.
    const behind = await d.worker(['--clock-offset-ms', '-10000', '--max-queue-delay-ms', '3000']);
    await d.waitReady(gateway);
    const late = await predict(gateway.url, inputs[0]!.png, {}, '?timeout_ms=1000');
    expect(late.status).toBe(504);
    // When its 3 s of gathering end, the worker finds the job expired and drops it.
    await until('the expired job to be dropped', async () => (await metric(behind.url, 'swarmserve_jobs_skipped_total', 'reason="expired"')) > 0);
    expect(await metric(behind.url, 'swarmserve_jobs_skipped_total', 'reason="expired"')).toBe(1);
    expect(await metric(behind.url, 'swarmserve_batch_size_count')).toBe(0);
  }, 60_000);

  it('a client that disconnects cancels its job across processes: not computed', async () => {
    const { d, inputs } = await deploy();
    const {
      gateway,
      workers: [worker],
    } = await d.stack(1, ['--max-queue-delay-ms', '2000']);
    const leaving = new AbortController();
    const gone = fetch(`${gateway.url}/predict`, {
      method: 'POST',
      body: inputs[0]!.png,
      headers: { 'content-type': 'image/png' },
      signal: leaving.signal,
    }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 500)); // taken by the worker, batch still gathering
    leaving.abort();
    expect(await gone).toBe('aborted');
    // When its 2 s of gathering end, the worker finds the job cancelled and drops it.
    await until('the cancelled job to be dropped', async () => (await metric(worker!.url, 'swarmserve_jobs_skipped_total', 'reason="cancelled"')) > 0);
    expect(await metric(worker!.url, 'swarmserve_jobs_skipped_total', 'reason="cancelled"')).toBe(1);
    expect(await metric(worker!.url, 'swarmserve_batch_size_count')).toBe(0);
    expect(await metric(gateway.url, 'swarmserve_requests_total', 'error_code="CLIENT_CLOSED"')).toBe(1);
  }, 60_000);

  it('SIGTERM: a worker finishes and acknowledges what it took and exits 0; a gateway answers what it holds and exits 0', async () => {
    const { d, inputs } = await deploy();
    const gateway = await d.gateway();
    // Batches that never fill: the load lasts over a second and the leaving worker holds jobs when it is told to stop.
    const leaving = await d.worker(['--max-batch-size', '64', '--max-queue-delay-ms', '100', '--worker-id', 'leaving']);
    await d.worker(['--max-batch-size', '64', '--max-queue-delay-ms', '100']);
    await d.waitReady(gateway);
    const inputOf = (i: number): number => i % inputs.length;
    const load = runConcurrently(300, 24, (i) => predict(gateway.url, inputs[inputOf(i)]!.png, {}, `?top_k=${CLASSES}`));
    // Told to stop once it has computed a batch, the load still going on.
    await until('the leaving worker to compute a batch', async () => (await metric(leaving.url, 'swarmserve_batch_size_count')) > 0);
    expect(await stopProcess(leaving, 'SIGTERM')).toBe(0);
    const pending = (await d.redis.command(['XPENDING', d.jobStream, 'workers', '-', '+', '100', 'leaving'])) as unknown[];
    expect(pending).toEqual([]);
    expectAllCorrect(await load, inputs, inputOf);

    let answered = false;
    const inFlight = runConcurrently(40, 20, (i) => predict(gateway.url, inputs[inputOf(i)]!.png, {}, `?top_k=${CLASSES}`)).finally(() => (answered = true));
    // Told to stop once it holds requests.
    await until('requests in flight at the gateway', async () => answered || (await metric(gateway.url, 'swarmserve_requests_in_flight')) > 0);
    const exit = stopProcess(gateway, 'SIGTERM');
    const answers = await inFlight;
    expect(await exit).toBe(0);
    // Accepted requests were answered; those that came after the listener closed were refused.
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    for (const [i, a] of answers.entries()) if (a.status === 200) expect(sameAnswer(a.body.predictions, inputs[inputOf(i)]!.expected)).toBe(true);
  }, 60_000);
});

afterAll(async () => {
  await deployment?.stop();
});
