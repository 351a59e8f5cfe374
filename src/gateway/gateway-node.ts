// Distributed mode, gateway side (`swarmserve gateway`): the same fastify gateway as
// embedded mode, on the Redis producer instead of the in-memory queue. It reads the model
// repository's configs to validate and route requests but loads no model; it is ready
// when Redis is reachable and every model version it routes to has a live worker.
import { listenOrExplain, listeningUrl } from '../common/listen.js';
import { drainAndClose } from '../common/drain.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { redisConnection } from '../config/redis-options.js';
import { prepareIfBundled } from '../model/prepare.js';
import type { ModelRepository } from '../model/repository/contract.js';
import { loadRepository } from '../model/repository/repository.js';
import { RedisProducer } from '../queue/redis/producer.js';
import { RedisWorkerRegistry } from '../queue/redis/registry.js';
import { RedisStatsStore } from '../queue/redis/stats-store.js';
import { GatewayStats } from './gateway-stats.js';
import { loadTls } from '../config/tls.js';
import { loadApiKeys, type ApiKeys } from './auth.js';
import { catalogKeys, catalogOf, pickDefaultModel } from './catalog.js';
import { LiveWorkers } from './live-workers.js';
import { GatewayMetrics } from './metrics.js';
import { HeldBytes, buildGateway } from './server.js';

/** How often the gateway re-reads the worker registry. */
const REFRESH_MS = 1000;

export class GatewayNode {
  private draining = false;
  private closing: Promise<void> | undefined;
  /** The last readiness logged, so only changes are logged. */
  private loggedReason: string | undefined | null = null;
  /** The API keys in force (undefined: the API is open); SIGHUP reloads them. */
  apiKeys: ApiKeys | undefined;

  private constructor(
    readonly config: GatewayConfig,
    readonly repository: ModelRepository,
    readonly defaultModel: string,
    readonly app: FastifyInstance,
    private readonly producer: RedisProducer,
    private readonly registry: RedisWorkerRegistry,
    private readonly liveWorkers: LiveWorkers,
    private readonly keys: readonly string[],
    private readonly stats: GatewayStats,
    private readonly statsStore: RedisStatsStore,
    private readonly logger: Logger,
  ) {}

  static async create(config: GatewayConfig, logger: Logger): Promise<GatewayNode> {
    // Before connecting: a bad key file or certificate should stop the start at once.
    const tls = await loadTls(config);
    const apiKeys = await loadApiKeys(config, logger);
    // The gateway needs the configs and labels only, but the repository lists a version by its model.onnx.
    if (config.prepare) await prepareIfBundled(config.models, config.only, logger);
    const repository = await loadRepository(config.models, config.only);
    const defaultModel = pickDefaultModel(repository, config.defaultModel, logger);
    const catalog = catalogOf(repository);
    const keys = catalogKeys(catalog);
    const connection = redisConnection(config, logger);
    const producer = await RedisProducer.create(connection);
    let registry: RedisWorkerRegistry | undefined;
    let statsStore: RedisStatsStore | undefined;
    try {
      registry = await RedisWorkerRegistry.create({ ...connection, expiryMs: config.heartbeatExpiryMs });
      statsStore = await RedisStatsStore.create({ ...connection, historyS: config.statsHistoryS });
      // The callbacks below run once the node exists (requests, refreshes); until then they answer "starting".
      const self: { node?: GatewayNode } = {};
      const liveWorkers = new LiveWorkers(registry, {
        intervalMs: REFRESH_MS,
        // A few missed refreshes are a hiccup; longer, and the list no longer says who is alive.
        staleMs: Math.max(3 * REFRESH_MS, config.heartbeatExpiryMs),
        logger,
        onRefresh: () => self.node?.logReadiness(),
      });
      const held = new HeldBytes(config.maxQueuedBytes);
      const metrics = new GatewayMetrics({
        queueDepths: () => Promise.all(keys.map(async ({ model, version, key }) => ({ model, version, depth: await producer.depth(key) }))),
        liveWorkers: () => liveWorkers.workers,
        producerStats: () => producer.stats(),
        heldBytes: () => held.bytes,
      });
      const stats = GatewayStats.create({
        store: statsStore,
        producer,
        metrics,
        id: producer.gatewayId,
        queueKeys: keys.map((k) => k.key),
        mode: 'distributed',
        redis: () => (producer.isAvailable() ? 'up' : 'down'),
        notReadyReason: () => (self.node === undefined ? 'starting' : self.node.notReadyReason()),
        liveWorkerIds: () => new Set(liveWorkers.workers.map((w) => w.id)),
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
          bodyLimitBytes: config.bodyLimit,
          maxHeldBytes: config.maxQueuedBytes,
          maxInferItems: config.maxInferItems,
          bodyTimeoutMs: config.bodyTimeoutMs,
          maxUploadsPerClient: config.maxUploadsPerClient,
          notReadyReason: () => (self.node === undefined ? 'starting' : self.node.notReadyReason()),
          isDraining: () => self.node?.draining ?? false,
          logger,
          openPaths: config.openPaths,
          ...(apiKeys === undefined ? {} : { apiKeys }),
          ...(tls === undefined ? {} : { tls }),
        },
        held,
      );
      const node = new GatewayNode(
        config,
        repository,
        defaultModel,
        app,
        producer,
        registry,
        liveWorkers,
        keys.map((k) => k.key),
        stats,
        statsStore,
        logger,
      );
      node.apiKeys = apiKeys;
      // Read the registry once before taking traffic, so readiness is right from the first probe.
      self.node = node;
      await liveWorkers.start();
      return node;
    } catch (err) {
      await statsStore?.close().catch(() => undefined);
      await registry?.close().catch(() => undefined);
      await producer.close().catch(() => undefined);
      throw err;
    }
  }

  /** Starts listening; resolves with the base URL. */
  async listen(): Promise<string> {
    await listenOrExplain(this.app, this.config.port, this.config.host, '--port / --host');
    return this.url;
  }

  get url(): string {
    return listeningUrl(this.app, this.config.host);
  }

  /** Why this gateway should not take traffic now (GET /health/ready answers 503 with it), or undefined. */
  notReadyReason(): string | undefined {
    if (this.draining) return 'shutting down';
    if (!this.producer.isAvailable()) return 'Redis unreachable';
    const unknown = this.liveWorkers.unknownReason();
    if (unknown !== undefined) return `live workers unknown (${unknown})`;
    const missing = this.liveWorkers.missing(this.keys);
    return missing.length === 0 ? undefined : `no live worker for ${missing.join(', ')}`;
  }

  /** Stops accepting, lets requests in flight finish (up to drainTimeoutMs), then disconnects. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    await drainAndClose({
      markDraining: () => (this.draining = true),
      closeServer: () => this.app.close(),
      drainTimeoutMs: this.config.drainTimeoutMs,
      // Best effort after the drain: the process is leaving; a failure is worth a line, not a non-zero exit.
      closeQueue: async () => {
        await this.stats.close();
        await this.statsStore.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the stats store failed'));
        await this.liveWorkers.stop();
        await this.producer.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the Redis producer failed'));
      },
      // The workers are other processes: the gateway closes its view of them (the registry).
      closeWorkers: () => this.registry.close().catch((err: unknown) => this.logger.warn({ err }, 'closing the worker registry failed')),
      logger: this.logger,
    });
  }

  /** Logs readiness when it changes (e.g. "waiting: no live worker for resnet50:1", then "ready"). */
  private logReadiness(): void {
    if (this.draining) return;
    const reason = this.notReadyReason();
    if (reason === this.loggedReason) return;
    this.loggedReason = reason;
    if (reason === undefined)
      this.logger.info({ workers: this.liveWorkers.workers.length }, 'ready: Redis reachable and every model version has a live worker');
    else this.logger.warn({ reason }, `not ready: ${reason}`);
  }
}
