import { describe, expect, it } from 'vitest';
import { CliError } from './cli-error.js';
import { parseDuration, parseWait, resolveLoadConfig, targetUrl } from './load-options.js';
import { samplePhotoPath } from './predict-command.js';

describe('load options', () => {
  it('parses durations as Locust -t does, plus ms', () => {
    expect(parseDuration('20s')).toBe(20_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('2.5s')).toBe(2_500);
    expect(parseDuration('500ms')).toBe(500);
    for (const bad of ['', 's', '10 parsecs', '-5s', '1x', 'm5']) expect(parseDuration(bad), bad).toBeUndefined();
  });

  it('parses the think time: A-B, A, 0', () => {
    expect(parseWait('0.5-5')).toEqual({ minMs: 500, maxMs: 5_000 });
    expect(parseWait(' 1 - 2 ')).toEqual({ minMs: 1_000, maxMs: 2_000 });
    expect(parseWait('2')).toEqual({ minMs: 2_000, maxMs: 2_000 });
    expect(parseWait('0')).toEqual({ minMs: 0, maxMs: 0 });
    for (const bad of ['5-1', '-1', 'a-b', '1-', '']) expect(parseWait(bad), bad).toBeUndefined();
  });

  it('builds the target URL: a path prefix kept, model and version as query parameters', () => {
    expect(targetUrl('http://localhost:8080', '/predict', undefined, undefined)).toBe('http://localhost:8080/predict');
    expect(targetUrl('http://localhost:8080/', '/predict', 'resnet50', '2')).toBe('http://localhost:8080/predict?model=resnet50&version=2');
    expect(targetUrl('https://host/api/', '/predict?top_k=1', 'a b', undefined)).toBe('https://host/api/predict?top_k=1&model=a+b');
    expect(() => targetUrl('localhost:8080', '/predict', undefined, undefined)).toThrow(CliError);
    expect(() => targetUrl('http://u:p@host', '/predict', undefined, undefined)).toThrow(/credentials/);
  });

  it('flag beats env var beats default; defaults as documented', () => {
    const defaults = resolveLoadConfig('http://h:1', {}, {});
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
    expect(resolveLoadConfig('http://h:1', {}, env)).toMatchObject({ users: 7, wait: { minMs: 500, maxMs: 5_000 }, json: true, durationMs: 120_000 });
    expect(resolveLoadConfig('http://h:1', { users: '9' }, env).users).toBe(9);
  });

  it('one CliError with exit code 2 naming every bad option, by flag or env var', () => {
    let err: unknown;
    try {
      resolveLoadConfig('http://h:1', { users: '0', requests: '1.5' }, { SWARMSERVE_LOAD_SPAWN_RATE: 'fast' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    const message = (err as CliError).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/--users: expected an integer from 1 to 10000, got "0"/);
    expect(message).toMatch(/SWARMSERVE_LOAD_SPAWN_RATE: expected a number > 0/);
    expect(message).toMatch(/--requests: expected an integer >= 1, got "1.5"/);
  });

  it('rate excludes the users options, and max-in-flight needs rate', () => {
    expect(() => resolveLoadConfig('http://h:1', { rate: '5', wait: '1' }, {})).toThrow(/--rate \(open loop\) cannot be combined with --wait/);
    expect(() => resolveLoadConfig('http://h:1', { rate: '5' }, { SWARMSERVE_LOAD_USERS: '3' })).toThrow(/cannot be combined with --users/);
    expect(() => resolveLoadConfig('http://h:1', { maxInFlight: '5' }, {})).toThrow(/--max-in-flight is for the open loop/);
    expect(resolveLoadConfig('http://h:1', { rate: '5', maxInFlight: '5' }, {})).toMatchObject({ rate: 5, maxInFlight: 5 });
  });
});
