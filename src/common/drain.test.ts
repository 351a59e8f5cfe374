import { describe, expect, it } from 'vitest';
import { drainAndClose, type DrainSteps } from './drain.js';

function steps(closeServer: () => Promise<void>, drainTimeoutMs: number): { steps: DrainSteps; log: string[] } {
  const log: string[] = [];
  return {
    log,
    steps: {
      markDraining: () => log.push('draining'),
      closeServer: async () => {
        log.push('server closing');
        await closeServer();
        log.push('server closed');
      },
      drainTimeoutMs,
      closeQueue: async () => {
        await Promise.resolve();
        log.push('queue closed');
      },
      closeWorkers: async () => {
        await Promise.resolve();
        log.push('workers closed');
      },
      logger: { warn: (message: string) => log.push(`warn: ${message}`) },
    },
  };
}

describe('drainAndClose', () => {
  it('marks draining, waits for the server to close, then closes the queue, then the workers', async () => {
    const { steps: s, log } = steps(() => new Promise((resolve) => setTimeout(resolve, 20)), 5_000);
    await expect(drainAndClose(s)).resolves.toBe('drained');
    expect(log).toEqual(['draining', 'server closing', 'server closed', 'queue closed', 'workers closed']);
  });

  it('a server that does not close within the drain timeout is left behind with a warning; queue and workers still close', async () => {
    let release = (): void => undefined;
    const { steps: s, log } = steps(() => new Promise<void>((resolve) => (release = resolve)), 30);
    await expect(drainAndClose(s)).resolves.toBe('timeout');
    expect(log).toEqual([
      'draining',
      'server closing',
      'warn: drain timeout (30 ms): answering what is left with SHUTTING_DOWN',
      'queue closed',
      'workers closed',
    ]);
    release();
  });
});
