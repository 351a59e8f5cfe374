// A deployment on the delay test double for tests that run real processes: its own Redis and
// a delay-model repository (test/helpers/delay-model.ts), the arguments every process of it
// shares, and stop(), which stops whatever was spawned through it, newest first (an
// autoscaler before the gateway), then Redis, and removes the repository.
import { makeDelayRepository } from './delay-model.js';
import { spawnCli, stopProcess, type CliProcess } from './process.js';
import { RedisServer } from './redis-server.js';

export interface DelayStackOptions {
  delayMs: number;
  /** Key prefix of the deployment. */
  prefix: string;
  heartbeatIntervalMs?: number;
  heartbeatExpiryMs?: number;
}

export class DelayStack {
  readonly processes: CliProcess[] = [];

  private constructor(
    readonly redis: RedisServer,
    private readonly repo: Awaited<ReturnType<typeof makeDelayRepository>>,
    readonly options: Required<DelayStackOptions>,
  ) {}

  static async start(o: DelayStackOptions): Promise<DelayStack> {
    const redis = await RedisServer.start();
    try {
      const repo = await makeDelayRepository({ delayMs: o.delayMs, maxBatch: 1 });
      return new DelayStack(redis, repo, { heartbeatIntervalMs: 300, heartbeatExpiryMs: 3000, ...o });
    } catch (err) {
      await redis.stop();
      throw err;
    }
  }

  /** What every process of the deployment is given: the repository, Redis, the prefix, the heartbeat timing. */
  args(): string[] {
    const o = this.options;
    return [
      '--models',
      this.repo.root,
      '--redis',
      this.redis.url,
      '--redis-prefix',
      o.prefix,
      '--heartbeat-interval-ms',
      String(o.heartbeatIntervalMs),
      '--heartbeat-expiry-ms',
      String(o.heartbeatExpiryMs),
    ];
  }

  async spawn(command: Parameters<typeof spawnCli>[0], args: string[], options?: Parameters<typeof spawnCli>[2]): Promise<CliProcess> {
    const proc = await spawnCli(command, [...this.args(), ...args], options);
    this.processes.push(proc);
    return proc;
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    for (const p of [...this.processes].reverse()) await stopProcess(p, signal);
    await this.redis.stop();
    await this.repo.cleanup();
  }
}
