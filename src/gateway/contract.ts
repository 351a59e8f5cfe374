import type { FastifyBaseLogger } from 'fastify';
import type { JobProducer } from '../queue/contract.js';
import type { ServeMetrics } from './metrics.js';

/** What the gateway knows of a model: enough to validate a request and route it. */
export interface CatalogModel {
  name: string;
  versions: readonly string[];
  defaultVersion: string;
  labelCount: number;
  defaultTopK: number;
  queueBound: number;
  timeoutMs: number;
  notice?: string;
}

export interface GatewayOptions {
  producer: JobProducer;
  catalog: ReadonlyMap<string, CatalogModel>;
  defaultModel: string;
  metrics: ServeMetrics;
  /** Largest accepted request body (raw image or whole multipart body). */
  bodyLimitBytes: number;
  /** Ready to take traffic: models loaded and not draining. */
  isReady: () => boolean;
  /** A pino logger (fastify's logger type, which pino satisfies). */
  logger: FastifyBaseLogger;
}
