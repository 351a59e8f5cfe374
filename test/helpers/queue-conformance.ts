// The Queue contract's conformance suite (src/queue/contract.ts): one set of tests, run
// against every transport (memory, Redis). A transport passes only if it behaves as the
// contract documents.
import { describe, expect, it } from 'vitest';
import { ServeError } from '../../src/common/errors.js';
import type { Delivery, JobConsumer, JobOutcome, JobProducer, JobRequest } from '../../src/queue/contract.js';

export interface TransportUnderTest {
  /** A gateway-side producer (several may exist at once). */
  producer(): Promise<JobProducer>;
  /** A worker-side consumer (several may exist at once). */
  consumer(): Promise<JobConsumer>;
  /** How long after a consumer closes (or dies) before its jobs go to a peer, in ms. */
  takeoverMs: number;
  /** Closes everything it made. */
  cleanup(): Promise<void>;
}

let counter = 0;
/** A unique model name per test, so tests do not share queues. */
function freshModel(): string {
  return `m${Date.now().toString(36)}${(counter++).toString(36)}`;
}

export function request(model: string, requestId: string, overrides: Partial<JobRequest> = {}): JobRequest {
  return {
    requestId,
    model,
    version: '1',
    payload: { kind: 'image', contentType: 'image/jpeg', bytes: Buffer.from(`bytes of ${requestId}`) },
    topK: 3,
    timeoutMs: 10_000,
    ...overrides,
  };
}

function answer(label: string): JobOutcome {
  return { ok: true, predictions: [{ label, probability: 0.5 }], timings: { queueMs: 1, inferenceMs: 2, batchSize: 1 } };
}

/** Receives until `n` deliveries came or `ms` passed. */
async function receiveN(consumer: JobConsumer, key: string, n: number, ms = 3_000): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const until = Date.now() + ms;
  while (got.length < n && Date.now() < until) got.push(...(await consumer.receive(key, n - got.length, Math.max(1, Math.min(200, until - Date.now())))));
  return got;
}

/** Each promise's state after `ms`: 'waiting' (queued, not answered), or its rejection. */
async function statesAfter(promises: readonly Promise<JobOutcome>[], ms = 300): Promise<Array<'waiting' | 'answered' | ServeError>> {
  const timeout = new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms));
  return Promise.all(
    promises.map((p) =>
      Promise.race([p, timeout]).then(
        (v) => (v === 'waiting' ? v : 'answered'),
        (err: unknown) => err as ServeError,
      ),
    ),
  );
}

function expectQueueFull(err: unknown): void {
  expect(err).toBeInstanceOf(ServeError);
  expect((err as ServeError).code).toBe('QUEUE_FULL');
  expect((err as ServeError).headers['retry-after']).toBe('1');
}

async function eventually(check: () => boolean, ms = 2_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  return check();
}

export function queueConformance(name: string, make: () => Promise<TransportUnderTest>): void {
  describe(`Queue contract: ${name}`, () => {
    async function withTransport(body: (t: TransportUnderTest) => Promise<void>): Promise<void> {
      const transport = await make();
      try {
        await body(transport);
      } finally {
        await transport.cleanup();
      }
    }

    it('delivers a job with its bytes, request id, topK and deadline, and routes the outcome back', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const bytes = Buffer.from([0, 1, 2, 255, 0, 10, 13, 0]);
        const submitted = Date.now();
        const result = producer.submit(request(model, 'req-1', { payload: { kind: 'image', contentType: 'image/png', bytes }, topK: 2, timeoutMs: 5_000 }), {
          bound: 10,
        });
        const [delivery] = await receiveN(consumer, `${model}:1`, 1);
        expect(delivery).toBeDefined();
        const job = delivery!.job;
        expect(job.requestId).toBe('req-1');
        expect(job.model).toBe(model);
        expect(job.version).toBe('1');
        expect(job.topK).toBe(2);
        expect(job.payload).toMatchObject({ kind: 'image', contentType: 'image/png' });
        expect(Buffer.from(job.payload.bytes).equals(bytes)).toBe(true);
        expect(delivery!.deliveryCount).toBe(1);
        expect(delivery!.isCancelled()).toBe(false);
        expect(Math.abs(job.deadline - (submitted + 5_000))).toBeLessThan(500);
        expect(Math.abs(job.enqueuedAt - submitted)).toBeLessThan(500);
        expect(await consumer.complete(delivery!, answer('x'))).toBe('completed');
        await expect(result).resolves.toMatchObject({ ok: true, predictions: [{ label: 'x' }] });
      }));

    it('carries tensor payloads, error outcomes and full output rows', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const tensor = new Float32Array([1.5, -2, 3.25]);
        const a = producer.submit(
          request(model, 'tensor', { payload: { kind: 'tensor', dtype: 'float32', shape: [3], bytes: new Uint8Array(tensor.buffer) }, wantOutput: true }),
          { bound: 10 },
        );
        const b = producer.submit(request(model, 'error'), { bound: 10 });
        const deliveries = await receiveN(consumer, `${model}:1`, 2);
        const byId = new Map(deliveries.map((d) => [d.job.requestId, d]));
        const tensorJob = byId.get('tensor')!;
        expect(tensorJob.job.payload).toMatchObject({ kind: 'tensor', dtype: 'float32', shape: [3] });
        expect(tensorJob.job.wantOutput).toBe(true);
        expect([...new Float32Array(new Uint8Array(tensorJob.job.payload.bytes).slice().buffer)]).toEqual([1.5, -2, 3.25]);
        await consumer.complete(tensorJob, {
          ok: true,
          predictions: [],
          timings: { queueMs: 0, inferenceMs: 0, batchSize: 1 },
          output: new Float32Array([0.25, 0.75]),
        });
        await consumer.complete(byId.get('error')!, { ok: false, error: { code: 'INVALID_IMAGE', message: 'broken' } });
        const outcome = await a;
        expect(outcome.ok && [...(outcome.output ?? [])]).toEqual([0.25, 0.75]);
        await expect(b).resolves.toEqual({ ok: false, error: { code: 'INVALID_IMAGE', message: 'broken' } });
      }));

    it('makes its own job ids: two jobs with the same request id get their own answers', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const first = producer.submit(request(model, 'same', { topK: 1 }), { bound: 10 });
        const second = producer.submit(request(model, 'same', { topK: 2 }), { bound: 10 });
        const deliveries = await receiveN(consumer, `${model}:1`, 2);
        expect(new Set(deliveries.map((d) => d.job.id)).size).toBe(2);
        for (const d of deliveries.reverse()) await consumer.complete(d, answer(`topK=${d.job.topK}`));
        await expect(first).resolves.toMatchObject({ predictions: [{ label: 'topK=1' }] });
        await expect(second).resolves.toMatchObject({ predictions: [{ label: 'topK=2' }] });
      }));

    it('answers each producer its own jobs', () =>
      withTransport(async (t) => {
        const [p1, p2, consumer] = [await t.producer(), await t.producer(), await t.consumer()];
        const model = freshModel();
        const a = p1.submit(request(model, 'from-1'), { bound: 10 });
        const b = p2.submit(request(model, 'from-2'), { bound: 10 });
        for (const d of await receiveN(consumer, `${model}:1`, 2)) await consumer.complete(d, answer(d.job.requestId));
        await expect(a).resolves.toMatchObject({ predictions: [{ label: 'from-1' }] });
        await expect(b).resolves.toMatchObject({ predictions: [{ label: 'from-2' }] });
      }));

    it('accepts exactly `bound` waiting jobs and refuses the rest with QUEUE_FULL and Retry-After', () =>
      withTransport(async (t) => {
        const producer = await t.producer();
        const model = freshModel();
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, (_, i) =>
            Promise.race([producer.submit(request(model, `j${i}`), { bound: 3 }), new Promise((r) => setTimeout(() => r('waiting'), 300))]),
          ),
        );
        const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason as ServeError);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
        expect(refused).toHaveLength(2);
        for (const err of refused) {
          expect(err).toBeInstanceOf(ServeError);
          expect(err.code).toBe('QUEUE_FULL');
          expect(err.headers['retry-after']).toBe('1');
        }
        expect(await producer.depth(`${model}:1`)).toBe(3);
      }));

    it('reports the backlog: jobs waiting and the age of the oldest, none once taken', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const key = `${model}:1`;
        expect(await producer.backlog(key)).toEqual({ waiting: 0, oldestWaitMs: -1 });
        const outcomes = [producer.submit(request(model, 'a'), { bound: 10 }), producer.submit(request(model, 'b'), { bound: 10 })];
        await new Promise((r) => setTimeout(r, 120));
        const seen = await producer.backlog(key);
        expect(seen.waiting).toBe(2);
        expect(seen.oldestWaitMs).toBeGreaterThanOrEqual(100);
        expect(seen.oldestWaitMs).toBeLessThan(2_000);
        const taken = await receiveN(consumer, key, 2);
        expect(await producer.backlog(key)).toEqual({ waiting: 0, oldestWaitMs: -1 });
        for (const d of taken) await consumer.complete(d, answer('x'));
        await Promise.all(outcomes);
      }));

    it('submitAll queues N jobs that fit, in order, and answers each its own', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const ids = ['a', 'b', 'c', 'd'];
        const results = producer.submitAll(
          ids.map((id) => request(model, id)),
          { bound: 4 },
        );
        expect(results).toHaveLength(4);
        const deliveries = await receiveN(consumer, `${model}:1`, 4);
        expect(deliveries.map((d) => d.job.requestId)).toEqual(ids);
        expect(new Set(deliveries.map((d) => d.job.id)).size).toBe(4);
        // Answered out of order, one of them failed: each promise gets its own outcome.
        for (const d of [...deliveries].reverse())
          await consumer.complete(d, d.job.requestId === 'c' ? { ok: false, error: { code: 'INVALID_IMAGE', message: 'c' } } : answer(d.job.requestId));
        const outcomes = await Promise.all(results);
        expect(outcomes.map((o) => (o.ok ? o.predictions[0]?.label : o.error.code))).toEqual(['a', 'b', 'INVALID_IMAGE', 'd']);
        expect(producer.submitAll([], { bound: 4 })).toEqual([]);
      }));

    it('submitAll of N jobs that do not fit queues none and rejects all with QUEUE_FULL', () =>
      withTransport(async (t) => {
        const producer = await t.producer();
        const model = freshModel();
        const key = `${model}:1`;
        const first = producer.submitAll([request(model, 'x'), request(model, 'y')], { bound: 4 });
        expect(await statesAfter(first, 200)).toEqual(['waiting', 'waiting']);
        const refused = await statesAfter(
          producer.submitAll(
            ['p', 'q', 'r'].map((id) => request(model, id)),
            { bound: 4 },
          ),
        );
        expect(refused).toHaveLength(3);
        for (const err of refused) expectQueueFull(err);
        expect(await producer.depth(key)).toBe(2);
        // Exactly the room left still fits.
        expect(await statesAfter(producer.submitAll([request(model, 'p'), request(model, 'q')], { bound: 4 }))).toEqual(['waiting', 'waiting']);
        expect(await producer.depth(key)).toBe(4);
        // More jobs than the bound never fit, even in an empty queue.
        const empty = freshModel();
        for (const err of await statesAfter(
          producer.submitAll(
            ['s', 't', 'u'].map((id) => request(empty, id)),
            { bound: 2 },
          ),
        ))
          expectQueueFull(err);
        expect(await producer.depth(`${empty}:1`)).toBe(0);
      }));

    it('two submitAll calls racing for room where only one fits: exactly one is queued whole, the other queues nothing', () =>
      withTransport(async (t) => {
        const [p1, p2] = [await t.producer(), await t.producer()];
        for (let round = 0; round < 5; round++) {
          const model = freshModel();
          const jobs = (tag: string): JobRequest[] => [0, 1, 2].map((i) => request(model, `${tag}${i}`));
          const [a, b] = [p1.submitAll(jobs('a'), { bound: 5 }), p2.submitAll(jobs('b'), { bound: 5 })];
          const [stateA, stateB] = await Promise.all([statesAfter(a), statesAfter(b)]);
          const whole = [stateA, stateB].filter((states) => states.every((s) => s === 'waiting'));
          const refused = [stateA, stateB].filter((states) => states.every((s) => s instanceof ServeError && s.code === 'QUEUE_FULL'));
          expect(whole, `round ${round}: ${JSON.stringify([stateA, stateB])}`).toHaveLength(1);
          expect(refused).toHaveLength(1);
          expect(await p1.depth(`${model}:1`)).toBe(3);
        }
      }));

    it('aborting a submitAll rejects every job with the abort reason and cancels them all, queued or taken', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const key = `${model}:1`;
        const stop = new AbortController();
        const results = producer.submitAll(
          ['a', 'b', 'c'].map((id) => request(model, id)),
          { bound: 10, signal: stop.signal },
        );
        const [taken] = await receiveN(consumer, key, 1);
        expect(taken?.job.requestId).toBe('a');
        stop.abort(new ServeError('DEADLINE_EXCEEDED'));
        for (const result of results) await expect(result).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
        expect(await eventually(() => taken!.isCancelled())).toBe(true);
        expect(await consumer.receive(key, 4, 200)).toEqual([]);
        expect(await producer.depth(key)).toBe(0);
        await consumer.complete(taken!, { ok: false, error: { code: 'DEADLINE_EXCEEDED', message: 'gone' } });
        // A signal already aborted queues nothing.
        for (const result of producer.submitAll([request(model, 'late')], { bound: 10, signal: stop.signal }))
          await expect(result).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
        expect(await producer.depth(key)).toBe(0);
      }));

    it('submitAll refuses jobs of several queues, queueing none', () =>
      withTransport(async (t) => {
        const producer = await t.producer();
        const model = freshModel();
        const results = producer.submitAll([request(model, 'a'), request(model, 'b', { version: '2' })], { bound: 10 });
        for (const result of results) await expect(result).rejects.toMatchObject({ code: 'INTERNAL' });
        expect(await producer.depth(`${model}:1`)).toBe(0);
        expect(await producer.depth(`${model}:2`)).toBe(0);
      }));

    it('receive returns at most maxItems, and [] after waiting when empty', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const key = `${model}:1`;
        for (const id of ['a', 'b', 'c']) void producer.submit(request(model, id), { bound: 10 }).catch(() => undefined);
        await eventually(() => false, 100);
        const first = await consumer.receive(key, 2, 500);
        expect(first.map((d) => d.job.requestId)).toEqual(['a', 'b']);
        expect((await consumer.receive(key, 2, 500)).map((d) => d.job.requestId)).toEqual(['c']);
        const started = Date.now();
        expect(await consumer.receive(key, 2, 150)).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      }));

    it('a blocked receive wakes as soon as a job arrives (no polling)', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const received = consumer.receive(`${model}:1`, 4, 5_000);
        await new Promise((r) => setTimeout(r, 100));
        const sent = Date.now();
        void producer.submit(request(model, 'wake'), { bound: 10 }).catch(() => undefined);
        const [delivery] = await received;
        expect(delivery?.job.requestId).toBe('wake');
        // Woken by the job (~1 ms), not at the end of the 5 s wait or at a poll a second later.
        expect(Date.now() - sent).toBeLessThan(1_000);
      }));

    it('an aborted receive resolves at once', () =>
      withTransport(async (t) => {
        const consumer = await t.consumer();
        const stop = new AbortController();
        const started = Date.now();
        const received = consumer.receive(`${freshModel()}:1`, 4, 5_000, stop.signal);
        setTimeout(() => stop.abort(), 100);
        expect(await received).toEqual([]);
        expect(Date.now() - started).toBeLessThan(1_000);
      }));

    it('a caller that aborts gets its abort reason, and its job is never delivered, or delivered cancelled', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const key = `${model}:1`;
        const queued = new AbortController();
        const result = producer.submit(request(model, 'queued'), { bound: 10, signal: queued.signal });
        await new Promise((r) => setTimeout(r, 50));
        queued.abort(new ServeError('DEADLINE_EXCEEDED'));
        await expect(result).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
        expect(await consumer.receive(key, 4, 200)).toEqual([]);

        const taken = new AbortController();
        const second = producer.submit(request(model, 'taken'), { bound: 10, signal: taken.signal });
        const [delivery] = await receiveN(consumer, key, 1);
        expect(delivery?.isCancelled()).toBe(false);
        taken.abort();
        await expect(second).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
        expect(await eventually(() => delivery!.isCancelled())).toBe(true);
        await consumer.complete(delivery!, { ok: false, error: { code: 'CLIENT_CLOSED', message: 'gone' } });
      }));

    it('complete is idempotent and tells a duplicate apart', () =>
      withTransport(async (t) => {
        const [producer, consumer] = [await t.producer(), await t.consumer()];
        const model = freshModel();
        const result = producer.submit(request(model, 'twice'), { bound: 10 });
        const [delivery] = await receiveN(consumer, `${model}:1`, 1);
        expect(await consumer.complete(delivery!, answer('first'))).toBe('completed');
        expect(await consumer.complete(delivery!, answer('second'))).toBe('duplicate');
        await expect(result).resolves.toMatchObject({ predictions: [{ label: 'first' }] });
      }));

    it("a closed consumer's unfinished jobs go to a peer, which sees the delivery count grow", () =>
      withTransport(async (t) => {
        const [producer, first, peer] = [await t.producer(), await t.consumer(), await t.consumer()];
        const model = freshModel();
        const key = `${model}:1`;
        const result = producer.submit(request(model, 'orphan'), { bound: 10 });
        const [taken] = await receiveN(first, key, 1);
        expect(taken?.deliveryCount).toBe(1);
        await first.close();
        const [again] = await receiveN(peer, key, 1, t.takeoverMs + 5_000);
        expect(again?.job.requestId).toBe('orphan');
        expect(again?.job.id).toBe(taken?.job.id);
        expect(again?.deliveryCount).toBe(2);
        expect(await peer.complete(again!, answer('peer'))).toBe('completed');
        await expect(result).resolves.toMatchObject({ predictions: [{ label: 'peer' }] });
      }));

    it('a closed producer rejects the jobs it waits for with SHUTTING_DOWN and refuses new ones', () =>
      withTransport(async (t) => {
        const producer = await t.producer();
        const model = freshModel();
        const waiting = producer.submit(request(model, 'w'), { bound: 10 });
        const rejected = expect(waiting).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
        await new Promise((r) => setTimeout(r, 50));
        await producer.close();
        await rejected;
        await expect(producer.submit(request(model, 'late'), { bound: 10 })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
        expect(producer.isAvailable()).toBe(false);
      }));
  });
}
