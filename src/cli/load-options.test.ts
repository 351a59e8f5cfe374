import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { loadCommandConfig, targetUrl } from './load-options.js';
import { samplePhotoPath } from './predict-command.js';

describe('load options', () => {
  it('builds the target URL: a path prefix kept, model and version as query parameters', () => {
    expect(targetUrl('http://localhost:8080', '/predict', undefined, undefined)).toBe('http://localhost:8080/predict');
    expect(targetUrl('http://localhost:8080/', '/predict', 'resnet50', '2')).toBe('http://localhost:8080/predict?model=resnet50&version=2');
    expect(targetUrl('https://host/api/', '/predict?top_k=1', 'a b', undefined)).toBe('https://host/api/predict?top_k=1&model=a+b');
    expect(() => targetUrl('localhost:8080', '/predict', undefined, undefined)).toThrow(ServeError);
    expect(() => targetUrl('http://u:p@host', '/predict', undefined, undefined)).toThrow(/credentials/);
  });

  it('flag beats env var beats default; defaults as documented', () => {
    const defaults = loadCommandConfig('http://h:1', {}, {});
    expect(defaults).toMatchObject({
      users: 1,
      spawnRate: 1,
      wait: { minMs: 0, maxMs: 0 },
      rate: undefined,
      timeoutMs: 30_000,
      json: false,
      maxFailureRatio: 0,
      image: samplePhotoPath(),
    });
    expect(defaults.durationMs).toBeUndefined();
    expect(defaults.maxRequests).toBeUndefined();
    const env = { SWARMSERVE_LOAD_USERS: '7', SWARMSERVE_LOAD_WAIT: '0.5-5', SWARMSERVE_LOAD_JSON: '1', SWARMSERVE_LOAD_DURATION: '2m' };
    expect(loadCommandConfig('http://h:1', {}, env)).toMatchObject({ users: 7, wait: { minMs: 500, maxMs: 5_000 }, json: true, durationMs: 120_000 });
    expect(loadCommandConfig('http://h:1', { users: '9' }, env).users).toBe(9);
  });

  it('one USAGE error (exit 2) naming every bad option, by flag or env var', () => {
    let err: unknown;
    try {
      loadCommandConfig('http://h:1', { users: '0', requests: '1.5' }, { SWARMSERVE_LOAD_SPAWN_RATE: 'fast' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServeError);
    expect((err as ServeError).code).toBe('USAGE');
    const message = (err as ServeError).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/--users: expected an integer from 1 to 10000, got "0"/);
    expect(message).toMatch(/SWARMSERVE_LOAD_SPAWN_RATE: expected a number > 0/);
    expect(message).toMatch(/--requests: expected an integer >= 1, got "1.5"/);
  });

  it('rate excludes the users options, and max-in-flight needs rate', () => {
    expect(() => loadCommandConfig('http://h:1', { rate: '5', wait: '1' }, {})).toThrow(/--rate \(open loop\) cannot be combined with --wait/);
    expect(() => loadCommandConfig('http://h:1', { rate: '5' }, { SWARMSERVE_LOAD_USERS: '3' })).toThrow(/cannot be combined with --users/);
    expect(() => loadCommandConfig('http://h:1', { maxInFlight: '5' }, {})).toThrow(/--max-in-flight is for the open loop/);
    expect(loadCommandConfig('http://h:1', { rate: '5', maxInFlight: '5' }, {})).toMatchObject({ rate: 5, maxInFlight: 5 });
  });
});
