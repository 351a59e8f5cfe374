import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { REDIS_DEFAULTS } from '../queue/redis/options.js';
import { resolveGatewayConfig } from './gateway-config.js';
import { redactRedisUrl, redisConnection } from './redis-options.js';
import { resolveWorkerConfig } from './worker-config.js';

const URL = { SWARMSERVE_REDIS_URL: 'redis://redis:6379' };

/** The ServeError a rejected resolve gives: CONFIG_INVALID (exit 78) for the environment and files, USAGE (exit 2) for a flag. */
async function configError(promise: Promise<unknown>, code = 'CONFIG_INVALID'): Promise<ServeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServeError);
  expect((err as ServeError).code).toBe(code);
  return err as ServeError;
}

describe.each([
  ['gateway', resolveGatewayConfig],
  ['worker', resolveWorkerConfig],
] as const)('%s Redis options', (_name, resolve) => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmserve-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults: prefix, heartbeat timing and liveness timeout', async () => {
    const config = await resolve({}, URL);
    expect(config).toMatchObject({
      redis: 'redis://redis:6379',
      redisPrefix: REDIS_DEFAULTS.prefix,
      heartbeatIntervalMs: 1000,
      heartbeatExpiryMs: 10000,
      redisTimeoutMs: 5000,
    });
    expect(config.redisPassword).toBeUndefined();
    expect(redisConnection(config, createLogger('silent')).livenessTimeoutMs).toBe(5000);
  });

  it('the liveness timeout reaches the connection; below 1 s it is refused', async () => {
    const config = await resolve({}, { ...URL, SWARMSERVE_REDIS_TIMEOUT_MS: '8000' });
    expect(redisConnection(config, createLogger('silent')).livenessTimeoutMs).toBe(8000);
    await configError(resolve({ redisTimeoutMs: '500' }, URL), 'USAGE');
  });

  it('a missing Redis URL names the flag and the env var', async () => {
    for (const [env, code] of [
      [{}, 'USAGE'],
      [{ SWARMSERVE_REDIS_URL: '' }, 'CONFIG_INVALID'],
    ] as const) {
      const err = await configError(resolve({}, env), code);
      expect(err.message).toContain('--redis <url>');
      expect(err.message).toContain('SWARMSERVE_REDIS_URL');
    }
  });

  it('a URL that is not redis:// or rediss:// is refused without echoing it', async () => {
    const err = await configError(resolve({}, { SWARMSERVE_REDIS_URL: 'http://user:s3cret@redis:6379' }));
    expect(err.message).toContain('redis:');
    expect(err.message).not.toContain('s3cret');
    await expect(resolve({ redis: 'rediss://u:p@redis.example:6380/2' }, {})).resolves.toMatchObject({ redis: 'rediss://u:p@redis.example:6380/2' });
  });

  it('the flag beats the env var', async () => {
    await expect(resolve({ redis: 'redis://flag:6379' }, URL)).resolves.toMatchObject({ redis: 'redis://flag:6379' });
  });

  it('heartbeat expiry must exceed the interval', async () => {
    for (const [interval, expiry] of [
      ['2000', '2000'],
      ['5000', '3000'],
    ]) {
      const err = await configError(resolve({}, { ...URL, SWARMSERVE_HEARTBEAT_INTERVAL_MS: interval, SWARMSERVE_HEARTBEAT_EXPIRY_MS: expiry }));
      expect(err.message).toContain('--heartbeat-expiry-ms');
      expect(err.message).toContain('--heartbeat-interval-ms');
    }
    await expect(resolve({ heartbeatIntervalMs: '500', heartbeatExpiryMs: '1500' }, URL)).resolves.toMatchObject({
      heartbeatIntervalMs: 500,
      heartbeatExpiryMs: 1500,
    });
  });

  it('reads the password file at start-up, trailing newline trimmed', async () => {
    const path = join(dir, 'password');
    await writeFile(path, 'p@ss word \n');
    const config = await resolve({}, { ...URL, SWARMSERVE_REDIS_PASSWORD_FILE: path });
    expect(config.redisPassword).toBe('p@ss word ');
    expect(redisConnection(config, createLogger('silent'))).toMatchObject({ url: 'redis://redis:6379', password: 'p@ss word ', prefix: 'swarmserve' });
  });

  it('an unreadable password file is CONFIG_INVALID naming the path', async () => {
    const path = join(dir, 'no-such-secret');
    const err = await configError(resolve({ redisPasswordFile: path }, URL));
    expect(err.message).toContain(path);
    expect(err.message).toContain('--redis-password-file');
  });

  it('an empty password file is refused', async () => {
    const path = join(dir, 'empty');
    await writeFile(path, '\n');
    expect((await configError(resolve({ redisPasswordFile: path }, URL))).message).toContain('empty');
  });

  it('a bad prefix is refused: a usage error as a flag, a configuration error as an env var', async () => {
    await configError(resolve({ redisPrefix: 'has space' }, URL), 'USAGE');
    await configError(resolve({}, { ...URL, SWARMSERVE_REDIS_PREFIX: 'has space' }));
  });
});

describe('redactRedisUrl', () => {
  it('masks the password only', () => {
    expect(redactRedisUrl('redis://user:s3cret@redis:6379/1')).toBe('redis://user:***@redis:6379/1');
    expect(redactRedisUrl('redis://redis:6379')).toBe('redis://redis:6379');
  });
});
