// Embedded mode: gateway + in-memory queue + one batching worker per model version, in
// one process, no Redis. The main job that `swarmserve serve` starts.
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger.js';
import { ServeError } from '../common/errors.js';
import type { ServeConfig } from '../config/serve-config.js';
import { bundledModelsDir } from '../config/paths.js';
import type { CatalogModel } from '../gateway/contract.js';
import { ServeMetrics } from '../gateway/metrics.js';
import { buildGateway } from '../gateway/server.js';
import { prepareBundledModels } from '../model/prepare.js';
import type { ModelEntry, ModelRepository } from '../model/repository/contract.js';
import { loadRepository } from '../model/repository/repository.js';
import { queueKey } from '../queue/contract.js';
import { MemoryQueue } from '../queue/memory-queue.js';
import { afterModelLoad, beforeModelLoad } from '../worker/allocator.js';
import { BatchWorker } from '../worker/batch-worker.js';
import { resolve } from 'node:path';

interface Lifecycle {
  /** Models loaded, workers started, not draining. */
  ready: boolean;
}

export class EmbeddedServer {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly config: ServeConfig,
    readonly repository: ModelRepository,
    readonly app: FastifyInstance,
    readonly workers: readonly BatchWorker[],
    private readonly queue: MemoryQueue,
    private readonly logger: Logger,
    readonly defaultModel: string,
    private readonly lifecycle: Lifecycle,
  ) {}

  static async create(config: ServeConfig, logger: Logger): Promise<EmbeddedServer> {
    if (config.prepare && resolve(config.models) === resolve(bundledModelsDir())) {
      await prepareBundledModels(config.models, logger, config.only === undefined ? {} : { only: config.only });
    }
    const repository = await loadRepository(config.models, config.only);
    const defaultModel = pickDefaultModel(repository, config.defaultModel, logger);
    const queue = await MemoryQueue.create();
    const metrics = new ServeMetrics(() => depths(repository, queue));
    const workers: BatchWorker[] = [];
    const tuned = config.mallocTuning && beforeModelLoad();
    try {
      for (const entry of repository.models.values()) {
        for (const version of entry.versions) {
          const started = performance.now();
          const worker = await BatchWorker.create({
            consumer: queue,
            entry,
            version,
            maxPixels: config.maxPixels,
            metrics,
            ...(config.maxBatchSize === undefined ? {} : { maxBatchSize: config.maxBatchSize }),
            ...(config.maxQueueDelayMs === undefined ? {} : { maxQueueDelayMs: config.maxQueueDelayMs }),
            ...(config.threads === undefined ? {} : { intraOpThreads: config.threads }),
            releaseMemoryAfterLoad: tuned,
            onError: (err) => logger.error({ err, model: entry.name }, 'worker loop failed'),
          });
          workers.push(worker);
          logger.info({ model: entry.name, version: version.version, maxBatchSize: worker.maxBatchSize, loadMs: Math.round(performance.now() - started) }, `loaded ${entry.name} v${version.version}`);
        }
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.close()));
      throw err;
    }
    if (tuned) afterModelLoad();
    logger.info({ mallocTuning: tuned ? 'applied' : config.mallocTuning ? 'unavailable (not glibc)' : 'off' }, 'memory allocator');
    const lifecycle: Lifecycle = { ready: false };
    const app = await buildGateway({
      producer: queue,
      catalog: catalogOf(repository),
      defaultModel,
      metrics,
      bodyLimitBytes: config.bodyLimit,
      isReady: () => lifecycle.ready,
      logger,
    });
    for (const worker of workers) worker.start();
    lifecycle.ready = true;
    return new EmbeddedServer(config, repository, app, workers, queue, logger, defaultModel, lifecycle);
  }

  /** Starts listening; resolves with the base URL. */
  async listen(): Promise<string> {
    await this.app.listen({ port: this.config.port, host: this.config.host });
    return this.url;
  }

  get url(): string {
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('server is not listening');
    const host = this.config.host === '0.0.0.0' || this.config.host === '::' ? '127.0.0.1' : this.config.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  /** Stops accepting, lets requests in flight finish (up to drainTimeoutMs), then stops workers. */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.lifecycle.ready = false;
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.config.drainTimeoutMs).unref());
    const outcome = await Promise.race([this.app.close().then(() => 'drained' as const), timeout]);
    if (outcome === 'timeout') this.logger.warn(`drain timeout (${this.config.drainTimeoutMs} ms): answering what is left with SHUTTING_DOWN`);
    await this.queue.close();
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

function pickDefaultModel(repository: ModelRepository, wanted: string, logger: Logger): string {
  if (repository.models.has(wanted)) return wanted;
  const first = [...repository.models.keys()].sort()[0];
  if (first === undefined) throw new ServeError('CONFIG_INVALID', 'no model loaded');
  logger.warn(`default model "${wanted}" is not loaded; requests without "model" go to "${first}"`);
  return first;
}

function catalogOf(repository: ModelRepository): Map<string, CatalogModel> {
  return new Map([...repository.models.values()].map((entry: ModelEntry) => [entry.name, catalogModel(entry)]));
}

export function catalogModel(entry: ModelEntry): CatalogModel {
  const model: CatalogModel = {
    name: entry.name,
    versions: entry.versions.map((v) => v.version),
    defaultVersion: entry.defaultVersion,
    labelCount: entry.labels.length,
    defaultTopK: entry.config.postprocess.topK,
    queueBound: entry.config.batching.queueBound,
    timeoutMs: entry.config.batching.timeoutMs,
  };
  if (entry.config.notice !== undefined) model.notice = entry.config.notice;
  return model;
}

function depths(repository: ModelRepository, queue: MemoryQueue): Array<{ model: string; version: string; depth: number }> {
  return [...repository.models.values()].flatMap((entry) => entry.versions.map((v) => ({ model: entry.name, version: v.version, depth: queue.depth(queueKey(entry.name, v.version)) })));
}
