// The lease that lets one controller act among several (src/queue/redis/lease.ts), against a
// real Redis: one holder at a time, renewal, expiry of a holder that stopped, release.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLease } from '../../src/queue/redis/lease.js';
import { RedisLink } from '../../src/queue/redis/link.js';
import { RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let link: RedisLink;

beforeAll(async () => {
  redis = await RedisServer.start();
  link = await RedisLink.connect({ url: redis.url, prefix: 'lease-test', logger: pino({ level: 'silent' }) }, 'lease-test');
});
afterAll(async () => {
  await link.close();
  await redis.stop();
});

describe('RedisLease', () => {
  it('one holder at a time; its renewals keep it; released, the other takes it at once', async () => {
    const a = new RedisLease(link, 'lease-test:autoscaler', 'a', 2000);
    const b = new RedisLease(link, 'lease-test:autoscaler', 'b', 2000);
    expect(await a.hold()).toBe(true);
    expect(await b.hold()).toBe(false);
    for (let i = 0; i < 6; i++) {
      await sleep(400); // 2.4 s in all: longer than the time to live, renewed 5× within it
      expect(await a.hold()).toBe(true);
      expect(await b.hold()).toBe(false);
    }
    expect(await b.release()).toBe(false); // not b's to give back
    expect(await a.release()).toBe(true);
    expect(await b.hold()).toBe(true);
    expect(await b.release()).toBe(true);
  });

  it('a holder that stops renewing loses the lease after its time to live', async () => {
    const a = new RedisLease(link, 'lease-test:expiry', 'a', 300);
    const b = new RedisLease(link, 'lease-test:expiry', 'b', 300);
    expect(await a.hold()).toBe(true);
    expect(await b.hold()).toBe(false);
    await sleep(450);
    expect(await b.hold()).toBe(true);
    expect(await a.hold()).toBe(false);
  });
});
