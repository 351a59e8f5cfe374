// Distributed mode, worker side (`swarmserve worker`): one batching worker per model
// version it serves, taking jobs from Redis; a heartbeat in the worker registry (how
// gateways know a version is served); and a small HTTP listener for Prometheus and health
// checks (a worker takes no requests: its jobs come through Redis).
import { listenOrExplain, listeningUrl } from '../common/listen.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger.js';
import { redisConnection } from '../config/redis-options.js';
import { workerClock, type WorkerConfig } from '../config/worker-config.js';
import { prepareIfBundled } from '../model/prepare.js';
import type { ModelRepository } from '../model/repository/contract.js';
import { loadRepository } from '../model/repository/repository.js';
import { RedisConsumer } from '../queue/redis/consumer.js';
import { RedisWorkerRegistry } from '../queue/redis/registry.js';
import type { BatchWorker } from './batch-worker.js';
import { buildHealthApp } from '../common/health-app.js';
import { Heartbeat } from './heartbeat.js';
import { workerInfoOf } from './worker-sample.js';
import { intraOpThreads } from './cpus.js';
import { WorkerMetrics } from './metrics.js';
import { batchingOverrides, createBatchWorkers, type StartWorkersOptions } from './start-workers.js';

/** What readiness looks at; filled in as start-up goes on. */
interface Readiness {
  /** What start-up is doing; undefined once the workers run. */
  starting: string | undefined;
  draining: boolean;
  connected: () => boolean;
}

export class WorkerNode {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly config: WorkerConfig,
    readonly repository: ModelRepository,
    readonly workers: readonly BatchWorker[],
    /** Base URL of the listener: GET /metrics, /health/live, /health/ready. */
    readonly metricsUrl: string,
    readonly workerId: string,
    private readonly readiness: Readiness,
    private readonly app: FastifyInstance,
    private readonly consumer: RedisConsumer,
    private readonly registry: RedisWorkerRegistry,
    private readonly heartbeat: Heartbeat,
    private readonly logger: Logger,
  ) {}

  static async create(config: WorkerConfig, logger: Logger, doubles?: StartWorkersOptions['common']): Promise<WorkerNode> {
    const startedAt = Date.now();
    const readiness: Readiness = { starting: 'loading the model repository', draining: false, connected: () => false };
    const metrics = new WorkerMetrics({ defaultMetrics: true });
    let keys: string[] = [];
    const app = buildHealthApp(
      metrics.registry,
      () => notReadyReason(readiness),
      () => keys,
      logger,
    );
    // Undone in reverse if start-up fails half-way, so a failed start leaves nothing open.
    const undo: Array<() => Promise<unknown>> = [];
    try {
      // Listen first: liveness answers and a port conflict fails at once, not after minutes of model loading.
      await listenOrExplain(app, config.metricsPort, config.metricsHost, '--metrics-port / --metrics-host');
      undo.push(() => app.close());
      const metricsUrl = listeningUrl(app, config.metricsHost);
      if (config.prepare) await prepareIfBundled(config.models, config.only, logger);
      const repository = await loadRepository(config.models, config.only);

      readiness.starting = 'connecting to Redis';
      const connection = redisConnection(config, logger);
      const now = workerClock(config);
      const consumer = await RedisConsumer.create({
        ...connection,
        reclaimIdleMs: config.reclaimIdleMs,
        maxDeliveries: config.maxDeliveries,
        ...(config.workerId === undefined ? {} : { workerId: config.workerId }),
        ...(now === undefined ? {} : { now }),
      });
      undo.push(() => consumer.close());
      readiness.connected = () => consumer.isConnected();
      const registry = await RedisWorkerRegistry.create({ ...connection, expiryMs: config.heartbeatExpiryMs, statsHistoryS: config.statsHistoryS });
      undo.push(() => registry.close());

      readiness.starting = 'loading models';
      const threads = intraOpThreads(config.threads);
      logger.info(
        {
          threads: threads.threads,
          source: threads.source,
          ...(threads.budget === undefined ? {} : { cores: threads.budget.cores, quota: threads.budget.quota }),
        },
        `intra-op threads: ${threads.threads} (${threads.source})`,
      );
      if (now !== undefined) logger.warn({ clockOffsetMs: config.clockOffsetMs }, 'this worker runs on a shifted clock (--clock-offset-ms, for tests)');
      const workers = await createBatchWorkers({
        repository,
        consumer,
        metrics,
        logger,
        mallocTuning: config.mallocTuning,
        common: {
          ...batchingOverrides(config),
          intraOpThreads: threads.threads,
          // peers share each job stream: leave jobs there for an idle replica
          prefetch: 'just-in-time',
          ...(now === undefined ? {} : { now }),
          ...doubles,
        },
      });
      // Closed before the consumer (undo runs in reverse): they finish and answer what they took.
      undo.push(() => Promise.all(workers.map((w) => w.close())));
      keys = workers.map((w) => w.key);
      for (const worker of workers) worker.start();
      readiness.starting = undefined;

      const workerId = consumer.workerId;
      const heartbeat = new Heartbeat(() => registry.beat(workerInfoOf(workers, workerId, startedAt)), config.heartbeatIntervalMs, logger);
      // The first beat is awaited: once create() resolves, gateways can see this worker.
      await heartbeat.start();
      return new WorkerNode(config, repository, workers, metricsUrl, workerId, readiness, app, consumer, registry, heartbeat, logger);
    } catch (err) {
      for (const step of undo.reverse()) await step().catch((e: unknown) => logger.warn({ err: e }, 'cleanup after a failed start failed'));
      throw err;
    }
  }

  /** The queue keys (model:version) this worker serves. */
  get keys(): string[] {
    return this.workers.map((w) => w.key);
  }

  /**
   * SIGTERM drain: stops heartbeats, turns not ready, lets every batch worker finish and
   * answer the batch running and the one being filled, then leaves Redis and the registry.
   * Bounded by drainTimeoutMs: jobs still held then are reclaimed by peers.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.readiness.draining = true;
    const { drainTimeoutMs } = this.config;
    const step = async (what: string, action: () => Promise<unknown>): Promise<void> => {
      try {
        await action();
      } catch (err) {
        this.logger.warn({ err }, `shutdown: ${what} failed`);
      }
    };
    const sequence = (async () => {
      // Awaited before remove(): a beat landing after it would list this worker again until it expires.
      await step('stopping heartbeats', () => this.heartbeat.stop());
      await step('closing batch workers', () => Promise.all(this.workers.map((w) => w.close())));
      await step('closing the Redis consumer', () => this.consumer.close());
      await step('leaving the worker registry', () => this.registry.remove(this.workerId));
      await step('closing the worker registry', () => this.registry.close());
    })();
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), drainTimeoutMs).unref());
    const outcome = await Promise.race([sequence.then(() => 'drained' as const), timeout]);
    if (outcome === 'timeout') {
      this.logger.warn(
        `drain timeout (${drainTimeoutMs} ms): leaving with jobs in progress; peers reclaim them after --reclaim-idle-ms, and this worker drops out of the registry after --heartbeat-expiry-ms`,
      );
    }
    await step('closing the metrics listener', () => this.app.close());
  }
}

function notReadyReason(readiness: Readiness): string | undefined {
  if (readiness.draining) return 'shutting down';
  if (readiness.starting !== undefined) return `starting (${readiness.starting})`;
  if (!readiness.connected()) return 'Redis unreachable';
  return undefined;
}
