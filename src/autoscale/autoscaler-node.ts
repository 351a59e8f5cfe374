// `swarmserve autoscale` as a process: the controller on Redis (signals and lease), sizing one
// worker group through a scaling target (a Swarm service, or local worker processes, built by
// the command), with its own listener for GET /metrics and /health/* like the other processes.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildHealthApp } from '../common/health-app.js';
import { listenOrExplain, listeningUrl } from '../common/listen.js';
import type { Logger } from '../common/logger.js';
import type { AutoscaleOptions } from '../config/autoscale-config.js';
import { redisConnection } from '../config/redis-options.js';
import { RedisStatsStore } from '../queue/redis/stats-store.js';
import { RedisGroupReader } from '../queue/redis/group-reader.js';
import type { ScalingTarget } from './contract.js';
import { AutoscaleController } from './controller.js';
import { AutoscaleMetrics } from './metrics.js';

/** The lease outlives this many missed ticks: a controller that stops (killed, partitioned) is replaced after about that long. */
const LEASE_TICKS = 3;

export interface AutoscalerNodeOptions {
  config: AutoscaleOptions;
  /** The group's name in logs, metrics and the lease key: the service's name, or "local". */
  group: string;
  /** The queue keys (model:version) the group's workers serve. */
  queueKeys: readonly string[];
  target: ScalingTarget;
  logger: Logger;
}

export class AutoscalerNode {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly controller: AutoscaleController,
    /** Base URL of the listener: GET /metrics, /health/live, /health/ready. */
    readonly metricsUrl: string,
    private readonly app: FastifyInstance,
    private readonly reader: RedisGroupReader,
    private readonly stats: RedisStatsStore,
  ) {}

  static async create(o: AutoscalerNodeOptions): Promise<AutoscalerNode> {
    const { config, logger } = o;
    const metrics = new AutoscaleMetrics({ defaultMetrics: true });
    let reader: RedisGroupReader | undefined;
    let stats: RedisStatsStore | undefined;
    let controller: AutoscaleController | undefined;
    const notReady = (): string | undefined => {
      if (reader === undefined) return 'starting (connecting to Redis)';
      if (!reader.isConnected) return 'Redis is unreachable';
      if (controller === undefined || controller.tickCount === 0) return 'starting (first tick)';
      return controller.lastError === undefined ? undefined : `the last tick failed: ${controller.lastError}`;
    };
    const app = buildHealthApp(metrics.registry, notReady, () => o.queueKeys, logger);
    await listenOrExplain(app, config.metricsPort, config.metricsHost, '--metrics-port / --metrics-host');
    try {
      const connection = { ...redisConnection(config, logger), expiryMs: config.heartbeatExpiryMs };
      reader = await RedisGroupReader.create(connection);
      stats = await RedisStatsStore.create({ ...connection, historyS: config.statsHistoryS });
      const holder = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
      const source = reader;
      controller = new AutoscaleController({
        group: o.group,
        queueKeys: o.queueKeys,
        policy: {
          minReplicas: config.min,
          maxReplicas: config.max,
          targetWaitMs: config.targetWait,
          headroom: config.headroom,
          stabilizationMs: config.stabilization,
        },
        intervalMs: config.interval,
        startupTimeoutMs: config.startupTimeout,
        dryRun: config.dryRun,
        target: o.target,
        source,
        lease: reader.lease(o.group, holder, Math.max(1_000, LEASE_TICKS * config.interval)),
        metrics,
        logger,
        stats,
      });
      await controller.start();
      return new AutoscalerNode(controller, listeningUrl(app, config.metricsHost), app, reader, stats);
    } catch (err) {
      await controller?.close().catch(() => undefined);
      await reader?.close().catch(() => undefined);
      await stats?.close().catch(() => undefined);
      await app.close();
      throw err;
    }
  }

  /** Stops deciding and gives the lease back; the scaling target (and what it started) is its owner's to close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.controller.close();
      await this.reader.close();
      await this.stats.close();
      await this.app.close();
    })();
    return this.closing;
  }
}
