// What the autoscaler reads of a job stream (src/queue/redis/queue-signals.ts), against a real
// Redis: arrivals, completions, backlog, jobs in progress and the oldest waiting job's age, in
// Redis's clock.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, RedisKeys } from '../../src/queue/redis/keys.js';
import { RedisLink, str } from '../../src/queue/redis/link.js';
import { queueSignals, readQueue } from '../../src/queue/redis/queue-signals.js';
import { RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let link: RedisLink;
const keys = new RedisKeys(`signals-${Date.now().toString(36)}`);
const queue = 'tiny:1';

beforeAll(async () => {
  redis = await RedisServer.start();
  link = await RedisLink.connect({ url: redis.url, prefix: keys.prefix, logger: pino({ level: 'silent' }) }, 'signals-test');
});
afterAll(async () => {
  await link.close();
  await redis.stop();
});

describe('queue signals', () => {
  it('a stream that does not exist reads as empty, in Redis time', async () => {
    const r = await readQueue(link, keys, 'absent:1');
    expect(r).toMatchObject({ added: 0, length: 0, pending: 0, oldestWaitingAt: undefined });
    expect(Math.abs(r.at - Date.now())).toBeLessThan(5_000);
  });

  it('arrivals, completions, backlog, in progress and the oldest waiting age', async () => {
    const stream = keys.jobs(queue);
    const t0 = Number(str(((await link.send(['TIME'])) as unknown[])[0])) * 1000;
    // 5 jobs, the first submitted 4 s ago (ids carry their time)
    for (let i = 0; i < 5; i++) await link.send(['XADD', stream, `${t0 - 4000 + i * 500}-0`, 'job', String(i)]);
    await link.send(['XGROUP', 'CREATE', stream, GROUP, '0']);
    const before = await readQueue(link, keys, queue);
    expect(before).toMatchObject({ added: 5, length: 5, pending: 0, oldestWaitingAt: t0 - 4000 });

    // a worker takes 2; it answers one (answered jobs are deleted)
    const taken = (await link.send(['XREADGROUP', 'GROUP', GROUP, 'w', 'COUNT', '2', 'STREAMS', stream, '>'])) as unknown[];
    expect(taken).toHaveLength(1);
    await link.send(['XACK', stream, GROUP, `${t0 - 4000}-0`]);
    await link.send(['XDEL', stream, `${t0 - 4000}-0`]);
    // 3 more arrive
    for (let i = 0; i < 3; i++) await link.send(['XADD', stream, '*', 'job', `n${i}`]);
    const after = await readQueue(link, keys, queue);
    expect(after).toMatchObject({ added: 8, length: 7, pending: 1, oldestWaitingAt: t0 - 4000 + 2 * 500 });

    const s = queueSignals(before, { ...after, at: before.at + 2000 });
    expect(s.arrivalPerS).toBe(1.5); // 3 in 2 s
    expect(s.completedPerS).toBe(0.5); // 1 in 2 s
    expect(s.backlog).toBe(6);
    expect(s.inProgress).toBe(1);
    expect(s.oldestWaitMs).toBe(before.at + 2000 - (t0 - 3000));
  });

  it('no previous reading, or a Redis that restarted empty: no rates, never negative', () => {
    const reading = { at: 10_000, added: 3, length: 3, pending: 0, oldestWaitingAt: 9_000 };
    expect(queueSignals(undefined, reading)).toEqual({ arrivalPerS: 0, completedPerS: 0, backlog: 3, inProgress: 0, oldestWaitMs: 1_000 });
    const restarted = queueSignals({ ...reading, added: 500, length: 10 }, { ...reading, at: 12_000 });
    expect(restarted.arrivalPerS).toBe(0);
    expect(restarted.completedPerS).toBe(0);
  });
});
