// The malformed-input suite through a gateway and a worker (distributed mode, both in this
// process, on a real redis-server): every case gets the same status and code as in
// embedded mode, and the worker keeps serving. The cases only a decoder can judge
// (truncated JPEG, decompression bomb) must be answered by the worker itself.
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/logger.js';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { resolveWorkerConfig } from '../../src/config/worker-config.js';
import { GatewayNode } from '../../src/gateway/gateway-node.js';
import { WorkerNode } from '../../src/worker/worker-node.js';
import { predictErrorsSuite } from '../helpers/predict-errors-suite.js';
import { RedisServer } from '../helpers/redis-server.js';

/** The worker's log lines (debug level: one line per job answered with an error). */
const workerLog: string[] = [];
let redis: RedisServer | undefined;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const status = (url: string): Promise<number> =>
  fetch(url).then(
    (r) => r.status,
    () => 0,
  );

predictErrorsSuite('distributed mode (gateway → Redis → worker)', async (repoRoot, limits) => {
  redis = await RedisServer.start();
  const shared = {
    models: repoRoot,
    redis: redis.url,
    redisPrefix: `errors-${Date.now().toString(36)}`,
    heartbeatIntervalMs: '200',
    heartbeatExpiryMs: '3000',
    logLevel: 'silent',
  };
  const worker = await WorkerNode.create(
    await resolveWorkerConfig(
      { ...shared, maxPixels: String(limits.maxPixels), metricsPort: '0', metricsHost: '127.0.0.1', threads: '1', workerId: 'w-errors' },
      {},
    ),
    pino({ level: 'debug' }, { write: (line: string) => void workerLog.push(line) }),
  );
  let gateway: GatewayNode | undefined;
  try {
    gateway = await GatewayNode.create(
      await resolveGatewayConfig({ ...shared, port: '0', host: '127.0.0.1', defaultModel: 'tiny', bodyLimit: String(limits.bodyLimit) }, {}),
      createLogger('silent'),
    );
    const url = await gateway.listen();
    await until('the gateway to see a live worker', async () => (await status(`${url}/health/ready`)) === 200);
    const node = gateway;
    return {
      url,
      stop: async () => {
        await node.close();
        await worker.close();
      },
      alive: async () =>
        (await status(`${worker.metricsUrl}/health/live`)) === 200 &&
        (await status(`${worker.metricsUrl}/health/ready`)) === 200 &&
        node.notReadyReason() === undefined,
    };
  } catch (err) {
    await gateway?.close();
    await worker.close();
    throw err;
  }
});

afterAll(async () => {
  await redis?.stop();
});

describe('distributed mode: who answered', () => {
  it('the truncated JPEG and the decompression bomb were judged by the worker; every other bad input stopped at the gateway', () => {
    const errors = workerLog
      .map((line) => JSON.parse(line) as { msg?: string; code?: string })
      .filter((record) => record.msg === 'job answered with an error')
      .map((record) => record.code);
    expect(errors.sort()).toEqual(['IMAGE_TOO_LARGE', 'INVALID_IMAGE']);
    // And the good requests after every case were computed there too.
    expect(workerLog.filter((line) => line.includes('"job computed"')).length).toBeGreaterThanOrEqual(15);
  });
});
