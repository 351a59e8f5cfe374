// Open Inference Protocol v2 through `swarmserve gateway` + `swarmserve worker` over Redis:
// the binary fixtures round trip through the Redis transport (tensor payloads, output rows).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MODELS_DIR, checkBinaryBytes, checkBinaryFp32 } from '../helpers/oip.js';
import { spawnCli, stopProcess, type CliProcess } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
const procs: CliProcess[] = [];
let url: string;

beforeAll(async () => {
  redis = await RedisServer.start();
  const common = [
    '--models',
    MODELS_DIR,
    '--only',
    'moderation',
    '--redis',
    redis.url,
    '--redis-prefix',
    `oip-${Date.now().toString(36)}`,
    '--log-level',
    'warn',
    '--heartbeat-interval-ms',
    '500',
    '--heartbeat-expiry-ms',
    '3000',
  ];
  const gateway = await spawnCli('gateway', [...common, '--default-model', 'moderation'], { waitFor: 'live' });
  procs.push(gateway);
  procs.push(await spawnCli('worker', [...common, '--threads', '1']));
  url = gateway.url;
  const end = Date.now() + 30_000;
  while (
    (await fetch(`${url}/v2/health/ready`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (Date.now() > end) throw new Error(`gateway not ready:\n${gateway.output()}\nworker:\n${procs[1]?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);
afterAll(async () => {
  await Promise.all(procs.map((p) => stopProcess(p, 'SIGKILL')));
  await redis.stop();
});

describe('Open Inference Protocol v2 (gateway + worker over Redis)', () => {
  it('binary BYTES infer (plain and gzip) and binary FP32 infer equal to onnxruntime', async () => {
    await checkBinaryBytes(url, false);
    await checkBinaryBytes(url, true);
    await checkBinaryFp32(url);
  }, 60_000);
});
