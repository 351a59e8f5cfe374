// The autoscaler's options: one resolver, durations in any form, the checks across options.
import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { resolveAutoscaleConfig } from './autoscale-config.js';

const redis = { SWARMSERVE_REDIS_URL: 'redis://127.0.0.1:6379' };

async function code(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = redis): Promise<string> {
  try {
    await resolveAutoscaleConfig(flags, env);
    return 'ok';
  } catch (err) {
    return err instanceof ServeError ? `${err.code}: ${err.message}` : String(err);
  }
}

describe('resolveAutoscaleConfig', () => {
  it('the defaults: a 2 s tick, 500 ms target wait, a 3 min window, 1..10 replicas', async () => {
    const c = await resolveAutoscaleConfig({ local: true }, redis);
    expect(c).toMatchObject({ backend: 'local', interval: 2000, targetWait: 500, stabilization: 180_000, min: 1, max: 10, headroom: 0.2, dryRun: false });
  });

  it('durations from flags and env vars in any form (500ms, 1m30s, seconds)', async () => {
    const c = await resolveAutoscaleConfig(
      { swarm: 'swarmserve_worker', targetWait: '250ms', interval: '1.5' },
      { ...redis, SWARMSERVE_AUTOSCALE_STABILIZATION: '1m30s' },
    );
    expect(c).toMatchObject({ backend: 'swarm', swarm: 'swarmserve_worker', targetWait: 250, interval: 1500, stabilization: 90_000 });
  });

  it('refuses what does not go together, naming the options', async () => {
    expect(await code({})).toMatch(/^USAGE: name what to scale: --swarm <service> .* or --local/);
    expect(await code({ swarm: 'w', local: true })).toMatch(/^USAGE: --swarm <service> and --local do not go together/);
    expect(await code({ local: true, min: '5', max: '3' })).toMatch(/^USAGE: --min \(5\) must not exceed --max \(3\)/);
    expect(await code({ swarm: 'w', workerThreads: '2' })).toMatch(/^USAGE: --worker-threads applies to --local only/);
    expect(await code({ local: true, interval: '10ms' })).toMatch(/^USAGE: --interval: must be between 200 ms and 60 s/);
    expect(await code({ local: true, targetWait: 'soon' })).toMatch(/^USAGE: --target-wait: expected a duration/);
    expect(await code({ local: true }, {})).toMatch(/^USAGE: --redis .*required/);
  });
});
