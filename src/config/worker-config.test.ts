import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { GATEWAY_OPTIONS } from './gateway-config.js';
import { SERVE_OPTIONS } from './serve-config.js';
import { WORKER_OPTIONS, resolveWorkerConfig, workerClock } from './worker-config.js';

const ENV = { SWARMSERVE_REDIS_URL: 'redis://redis:6379' };

describe('worker options', () => {
  it('defaults', async () => {
    const config = await resolveWorkerConfig({}, ENV);
    expect(config).toMatchObject({
      metricsPort: 9090,
      metricsHost: '0.0.0.0',
      reclaimIdleMs: 15_000,
      maxDeliveries: 3,
      clockOffsetMs: 0,
      mallocTuning: true,
      prepare: true,
    });
    expect(config.workerId).toBeUndefined();
    expect(config.threads).toBeUndefined();
    expect(workerClock(config)).toBeUndefined();
  });

  it('env vars for the worker-only options', async () => {
    const config = await resolveWorkerConfig(
      {},
      {
        ...ENV,
        SWARMSERVE_METRICS_PORT: '0',
        SWARMSERVE_RECLAIM_IDLE_MS: '2500',
        SWARMSERVE_MAX_DELIVERIES: '5',
        SWARMSERVE_WORKER_ID: 'w-1',
        SWARMSERVE_ONLY: 'tiny:1, other',
      },
    );
    expect(config).toMatchObject({ metricsPort: 0, reclaimIdleMs: 2500, maxDeliveries: 5, workerId: 'w-1', only: ['tiny:1', 'other'] });
  });

  it('an empty worker id means the default', async () => {
    expect((await resolveWorkerConfig({}, { ...ENV, SWARMSERVE_WORKER_ID: '' })).workerId).toBeUndefined();
  });

  it('refuses bad values', async () => {
    for (const env of [
      { SWARMSERVE_MAX_DELIVERIES: '0' },
      { SWARMSERVE_WORKER_ID: 'has space' },
      { SWARMSERVE_METRICS_PORT: '70000' },
      { SWARMSERVE_CLOCK_OFFSET_MS: 'soon' },
    ]) {
      await expect(resolveWorkerConfig({}, { ...ENV, ...env })).rejects.toBeInstanceOf(ServeError);
    }
  });

  it('the clock offset shifts the clock', async () => {
    const now = workerClock(await resolveWorkerConfig({}, { ...ENV, SWARMSERVE_CLOCK_OFFSET_MS: '-5000' }));
    expect(now).toBeDefined();
    const shift = now!() - Date.now();
    expect(shift).toBeGreaterThan(-6_000); // -5000, less the time between the two readings
    expect(shift).toBeLessThanOrEqual(-5000);
  });

  it('shares the serve options it has in common by reference', () => {
    for (const key of ['models', 'only', 'maxPixels', 'drainTimeoutMs', 'mallocTuning'] as const) expect(WORKER_OPTIONS[key]).toBe(SERVE_OPTIONS[key]);
    expect(WORKER_OPTIONS.threads.schema).toBe(SERVE_OPTIONS.threads.schema);
    for (const key of ['port', 'host', 'bodyLimit', 'maxQueuedBytes', 'prepare'] as const) expect(GATEWAY_OPTIONS[key]).toBe(SERVE_OPTIONS[key]);
  });
});
