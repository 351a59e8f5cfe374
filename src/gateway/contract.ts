import type { FastifyBaseLogger } from 'fastify';
import type { TlsFiles } from '../config/tls.js';
import type { ApiKeys } from './auth.js';
import type { JobProducer } from '../queue/contract.js';
import type { Registry } from 'prom-client';
import type { GatewayMetrics } from './metrics.js';
import type { DashboardHub } from '../dashboard/hub.js';

/** What the gateway knows of a model: enough to validate a request and route it. */
export interface CatalogModel {
  name: string;
  versions: readonly string[];
  defaultVersion: string;
  labelCount: number;
  /** The labels, in output order (the classification extension names the index). */
  labels: readonly string[];
  /** The model's input and output tensor names and one item's input dims (no batch dim), for tensor protocols. */
  inputName: string;
  outputName: string;
  itemDims: readonly number[];
  defaultTopK: number;
  queueBound: number;
  timeoutMs: number;
  notice?: string;
}

export interface GatewayOptions {
  producer: JobProducer;
  catalog: ReadonlyMap<string, CatalogModel>;
  defaultModel: string;
  metrics: GatewayMetrics;
  /** What GET /metrics serves (default: metrics.registry; embedded mode merges the workers' in). */
  metricsRegistry?: Registry;
  /** Largest accepted request body (raw image or whole multipart body). */
  bodyLimitBytes: number;
  /** Bytes of request bodies held at once (reading, queued, answering); beyond it new requests get 503. */
  maxHeldBytes: number;
  /** Why the gateway should not take traffic now (undefined: ready). */
  notReadyReason: () => string | undefined;
  /** Most items (images or tensors) in one Open Inference Protocol infer request (default 64). */
  maxInferItems?: number;
  /** A request body must arrive within this many ms per MiB (default DEFAULT_BODY_TIMEOUT_MS); slower: 408 BODY_TIMEOUT. */
  bodyTimeoutMs?: number;
  /** Request bodies one client address may send at once (default 0: no limit); beyond it 429 TOO_MANY_UPLOADS. */
  maxUploadsPerClient?: number;
  /** Shutting down: answers close their connections. */
  isDraining: () => boolean;
  /** A pino logger (fastify's logger type, which pino satisfies). */
  logger: FastifyBaseLogger;
  /** When set, every route not in openPaths needs one of these keys. */
  apiKeys?: ApiKeys;
  /** Routes left open when apiKeys is set. */
  openPaths?: readonly string[];
  /** Serve HTTPS with these. */
  tls?: TlsFiles;
  /** Serve GET /dashboard from this hub (closed with the server). */
  dashboard?: DashboardHub;
}
