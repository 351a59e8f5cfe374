import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ServeError } from '../common/errors.js';
import { ManagedProcess, findOnPath, freePort, livePids } from './processes.js';

const node = process.execPath;

describe('ManagedProcess', () => {
  it('stop(): SIGTERM first; a process that ignores it is killed after the timeout', async () => {
    const polite = ManagedProcess.spawn('polite', node, [
      '-e',
      "process.on('SIGTERM', () => { console.log('draining'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);",
    ]);
    onTestFinished(() => polite.stop(1_000).then(() => undefined));
    await polite.waitForLine(/^up$/, 10_000);
    expect(livePids()).toContain(polite.pid);
    expect(await polite.stop(5_000)).toEqual({ code: 0, signal: null });
    expect(polite.tail()).toContain('draining');
    expect(polite.stopRequested).toBe(true);
    expect(livePids()).not.toContain(polite.pid);

    const stubborn = ManagedProcess.spawn('stubborn', node, [
      '-e',
      "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000);",
    ]);
    onTestFinished(() => stubborn.stop(1_000).then(() => undefined));
    await stubborn.waitForLine(/^up$/, 10_000);
    const t0 = performance.now();
    expect(await stubborn.stop(300)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(stubborn.tail()).toContain('ignored');
  });

  it('waitForHttp / waitForLine fail with PROCESS_FAILED and its last output when it exits first', async () => {
    const dying = ManagedProcess.spawn('dying', node, ['-e', "console.error('swarmserve: CONFIG_INVALID: port taken'); process.exit(78);"]);
    const err: unknown = await dying.waitForHttp(`http://127.0.0.1:${await freePort()}/health/ready`, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServeError);
    expect((err as ServeError).code).toBe('PROCESS_FAILED');
    expect((err as ServeError).message).toMatch(
      /^dying \(pid \d+\) exited \(code 78\) before .* answered 200; its last output:\nswarmserve: CONFIG_INVALID: port taken$/,
    );

    const silent = ManagedProcess.spawn('silent', node, ['-e', 'process.exit(3)']);
    await expect(silent.waitForLine(/never/, 10_000)).rejects.toThrow(/silent \(pid \d+\) exited \(code 3\) before it was ready/);
  });

  it('waitForHttp resolves on the first 200, and times out naming the last answer', async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.statusCode = calls >= 3 ? 200 : 503;
      res.end();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const proc = ManagedProcess.spawn('idle', node, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      await proc.waitForHttp(`http://127.0.0.1:${port}/`, 10_000);
      expect(calls).toBe(3);
      calls = -1_000_000;
      await expect(proc.waitForHttp(`http://127.0.0.1:${port}/`, 300)).rejects.toThrow(/did not answer 200 within 0.3 s \(last: HTTP 503\)/);
    } finally {
      await proc.stop(2_000);
      server.close();
    }
  });

  it('findOnPath finds executables only', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toMatch(/\/sh$/);
    expect(findOnPath('no-such-program-swarmserve', '/bin:/usr/bin')).toBeUndefined();
    expect(findOnPath('sh', '')).toBeUndefined();
  });
});
