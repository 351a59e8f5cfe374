// Embedded mode: the gateway and one batching worker per model version, joined by the
// in-memory queue, in one process, no Redis. The main job that `swarmserve serve` starts.
// Distributed mode composes the same two halves with the Redis transport instead.
import { listenOrExplain, listeningUrl } from '../common/listen.js';
import { drainAndClose } from '../common/drain.js';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';
import type { ServeConfig } from '../config/serve-config.js';
import { loadTls } from '../config/tls.js';
import { loadApiKeys, type ApiKeys } from '../gateway/auth.js';
import { catalogKeys, catalogOf, pickDefaultModel } from '../gateway/catalog.js';
import { GatewayMetrics } from '../gateway/metrics.js';
import { HeldBytes, buildGateway } from '../gateway/server.js';
import { prepareIfBundled } from '../model/prepare.js';
import type { ModelRepository } from '../model/repository/contract.js';
import { loadRepository } from '../model/repository/repository.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import { GatewayStats } from '../gateway/gateway-stats.js';
import { MemoryStatsStore } from '../stats/memory-store.js';
import { StatsPublisher } from '../stats/publisher.js';
import { embeddedWorkerSample } from '../worker/worker-sample.js';
import type { BatchWorker } from '../worker/batch-worker.js';
import type { StartWorkersOptions } from '../worker/start-workers.js';
import { batchingOverrides, createBatchWorkers } from '../worker/start-workers.js';
import { WorkerMetrics } from '../worker/metrics.js';

export class EmbeddedServer {
  private closing: Promise<void> | undefined;
  /** The API keys in force (undefined: the API is open); SIGHUP reloads them. */
  apiKeys: ApiKeys | undefined;

  private constructor(
    readonly config: ServeConfig,
    readonly repository: ModelRepository,
    readonly app: FastifyInstance,
    readonly workers: readonly BatchWorker[],
    private readonly queue: MemoryQueue,
    private readonly logger: Logger,
    readonly defaultModel: string,
    private readonly lifecycle: { started: boolean; draining: boolean },
    private readonly closeStats: () => Promise<void>,
  ) {}

  static async create(config: ServeConfig, logger: Logger, doubles?: StartWorkersOptions['common']): Promise<EmbeddedServer> {
    // Before the models load: a bad key file or certificate should stop the start at once.
    const tls = await loadTls(config);
    const apiKeys = await loadApiKeys(config, logger);
    if (config.prepare) await prepareIfBundled(config.models, config.only, logger);
    const repository = await loadRepository(config.models, config.only);
    const defaultModel = pickDefaultModel(repository, config.defaultModel, logger);
    const queue = await MemoryQueue.create();
    const workerMetrics = new WorkerMetrics();
    const workers = await createBatchWorkers({
      repository,
      consumer: queue.consumer(),
      metrics: workerMetrics,
      logger,
      mallocTuning: config.mallocTuning,
      common: {
        ...batchingOverrides(config),
        ...(config.threads === undefined ? {} : { intraOpThreads: config.threads }),
        ...doubles,
      },
    });
    const catalog = catalogOf(repository);
    const held = new HeldBytes(config.maxQueuedBytes);
    const metrics = new GatewayMetrics({
      queueDepths: () => Promise.all(catalogKeys(catalog).map(async ({ model, version, key }) => ({ model, version, depth: await queue.depth(key) }))),
      heldBytes: () => held.bytes,
    });
    const lifecycle = { started: false, draining: false };
    const statsStore = await MemoryStatsStore.create({ historyS: config.statsHistoryS });
    const stats = GatewayStats.create({
      store: statsStore,
      producer: queue,
      metrics,
      id: 'embedded',
      queueKeys: catalogKeys(catalog).map((k) => k.key),
      mode: 'embedded',
      redis: () => 'none',
      notReadyReason: () => (!lifecycle.started ? 'starting' : lifecycle.draining ? 'shutting down' : undefined),
      historyS: config.statsHistoryS,
      logger,
    });
    const app = await buildGateway(
      {
        producer: stats.producer,
        dashboard: stats.hub,
        catalog,
        defaultModel,
        metrics,
        metricsRegistry: Registry.merge([metrics.registry, workerMetrics.registry]),
        bodyLimitBytes: config.bodyLimit,
        maxHeldBytes: config.maxQueuedBytes,
        maxInferItems: config.maxInferItems,
        bodyTimeoutMs: config.bodyTimeoutMs,
        maxUploadsPerClient: config.maxUploadsPerClient,
        notReadyReason: () => (!lifecycle.started ? 'starting' : lifecycle.draining ? 'shutting down' : undefined),
        isDraining: () => lifecycle.draining,
        logger,
        openPaths: config.openPaths,
        ...(apiKeys === undefined ? {} : { apiKeys }),
        ...(tls === undefined ? {} : { tls }),
      },
      held,
    );
    for (const worker of workers) worker.start();
    lifecycle.started = true;
    // The one process's workers, as one row of the dashboard's workers table.
    const workerStats =
      config.statsHistoryS > 0 ? StatsPublisher.create({ store: statsStore, collect: () => embeddedWorkerSample(workers), logger }) : undefined;
    const server = new EmbeddedServer(config, repository, app, workers, queue, logger, defaultModel, lifecycle, async () => {
      await stats.close();
      await workerStats?.close();
      await statsStore.close();
    });
    server.apiKeys = apiKeys;
    return server;
  }

  /** Starts listening; resolves with the base URL. */
  async listen(): Promise<string> {
    await listenOrExplain(this.app, this.config.port, this.config.host, '--port / --host');
    return this.url;
  }

  get url(): string {
    return listeningUrl(this.app, this.config.host);
  }

  /** Stops accepting, lets requests in flight finish (up to drainTimeoutMs), then stops workers. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    await drainAndClose({
      markDraining: () => (this.lifecycle.draining = true),
      closeServer: () => this.app.close(),
      drainTimeoutMs: this.config.drainTimeoutMs,
      closeQueue: async () => {
        await this.closeStats();
        await this.queue.close();
      },
      closeWorkers: async () => void (await Promise.all(this.workers.map((w) => w.close()))),
      logger: this.logger,
    });
  }
}
