// runLoadInChildProcess: the closed-loop engine in a forked child, as `swarmserve load` runs it.
// The child runs compiled code (dist/src/loadtest/load-process.js, built here when missing or
// stale), so this file is in the integration project, not unit.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { after, answerJson, closeAllStubs, startStub, type StubHandler } from '../../test/helpers/http-stub.js';
import { expectConsistent } from '../../test/helpers/load-report.js';
import { runLoadInChildProcess } from './child.js';
import { encodeMultipart } from './multipart.js';
import { LoadOptionsError } from './validate.js';
import type { LoadOptions, LoadRequestBody } from './contract.js';

afterEach(closeAllStubs);

const IMAGE: LoadRequestBody = { body: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0, 255]), contentType: 'image/jpeg' };

async function startServer(handler: StubHandler): Promise<{ url: string }> {
  const stub = await startStub(handler);
  return { url: `${stub.url}/predict?model=test` };
}

function answer(res: ServerResponse, status: number): void {
  answerJson(res, status, { success: status < 300 });
}

describe('runLoadInChildProcess', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const entry = join(root, 'dist/src/loadtest/load-process.js');
  const modules = ['contract', 'closed-loop', 'child', 'load-process'];

  /** The compiled child is missing, or older than one of the sources it is built from. */
  function distIsStale(): boolean {
    return modules.some((m) => {
      const js = join(root, 'dist/src/loadtest', `${m}.js`);
      return !existsSync(js) || statSync(js).mtimeMs < statSync(join(root, 'src/loadtest', `${m}.ts`)).mtimeMs;
    });
  }

  beforeAll(() => {
    if (!distIsStale()) return;
    let output = '';
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
    } catch (err) {
      // Type errors elsewhere in the tree make tsc exit non-zero but it still emits.
      output = String((err as { stdout?: unknown }).stdout ?? err);
    }
    if (distIsStale()) throw new Error(`Could not build ${entry} with tsc -p tsconfig.build.json:\n${output}`);
  }, 120_000);

  it('runs the load in another process; the bodies cross IPC byte for byte', async () => {
    const multipart = encodeMultipart([
      { name: 'img_file', filename: 'eagle.jpg', contentType: 'image/jpeg', data: new Uint8Array(5000).map((_, i) => (i * 13) % 256) },
    ]);
    const bodies = [multipart, IMAGE];
    let wrong = 0;
    const pids = new Set<number>();
    const server = await startServer((req, body, res) => {
      pids.add(Number(req.headers['x-pid']));
      const match = bodies.some((b) => b.contentType === req.headers['content-type'] && Buffer.from(b.body).equals(body));
      if (!match) wrong++;
      after(5, () => answer(res, match ? 200 : 400));
    });

    const report = await runLoadInChildProcess(
      { url: server.url, concurrency: 4, durationMs: 600, warmupMs: 100, bodies, headers: { 'x-pid': String(process.pid) } },
      { entry },
    );
    console.info(`child process: ${JSON.stringify(report)}`);
    expectConsistent(report);
    expect(wrong).toBe(0);
    expect(report.ok).toBeGreaterThanOrEqual(10);
    expect(Object.keys(report.statusCounts)).toEqual(['200']);
    expect(report.latencyMs.p50).toBeGreaterThanOrEqual(5);
    expect([...pids]).toEqual([process.pid]);
  });

  it('rejects bad options before forking, and a missing entry clearly', async () => {
    const options: LoadOptions = { url: 'http://127.0.0.1:9/', concurrency: 0, durationMs: 100, warmupMs: 0, bodies: [IMAGE] };
    await expect(runLoadInChildProcess(options, { entry })).rejects.toBeInstanceOf(LoadOptionsError);
    await expect(runLoadInChildProcess({ ...options, concurrency: 1 }, { entry: join(root, 'dist/nope.js') })).rejects.toThrow(/entry not found/);
  });

  it('kills the child when it gives no report in time', async () => {
    const server = await startServer(() => {
      // never answers
    });
    const promise = runLoadInChildProcess({ url: server.url, concurrency: 2, durationMs: 30_000, warmupMs: 0, bodies: [IMAGE] }, { entry, timeoutMs: 800 });
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/gave no report within 800 ms; killed it/);
    const pid = Number(/pid (\d+)/.exec(message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    // Gone (once reaped): signal 0 only checks that the process exists.
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = performance.now() + 3_000;
    while (alive() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive()).toBe(false);
  });
});
