import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServeError, fromWireError } from '../common/errors.js';
import { sniffImageFormat } from '../common/image-format.js';
import type { JobRequest } from '../queue/contract.js';
import type { CatalogModel, GatewayOptions } from './contract.js';
import { countRequest } from './errors.js';
import { readPredictInput } from './request-input.js';
import { predictSchema } from './schemas.js';

export interface PredictResponse {
  success: true;
  predictions: Array<{ label: string; probability: number }>;
  model: string;
  version: string;
  notice?: string;
}

/**
 * A route hook for the inference routes (/predict, OIP infer): only their requests count as
 * in flight; countRequest takes them out.
 */
export function enterInFlight(options: GatewayOptions): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return (request, _reply, done) => {
    request.inFlight = true;
    options.metrics.inFlight.inc();
    done();
  };
}

export function registerPredictRoute(app: FastifyInstance, options: GatewayOptions): void {
  const { catalog, producer } = options;
  app.decorateRequest('modelVersion', '');
  app.decorateRequest('inFlight', false);

  const enter = enterInFlight(options);
  app.post('/predict', { onRequest: enter, schema: predictSchema }, async (request, reply) => {
    request.modelName = '';
    request.modelVersion = '';
    const input = await readPredictInput(request);
    const modelName = input.params.model ?? options.defaultModel;
    const model = catalog.get(modelName);
    if (model === undefined) {
      throw new ServeError('MODEL_NOT_FOUND', `No model named "${modelName}". Models: ${[...catalog.keys()].join(', ')}.`);
    }
    request.modelName = model.name;
    const version = pickVersion(model, input.params.version);
    request.modelVersion = version;
    const topK = parseIntParam('top_k', input.params.top_k, model.defaultTopK, 1, model.labelCount);
    const timeoutMs = parseIntParam('timeout_ms', input.params.timeout_ms, model.timeoutMs, 1, 600_000);
    sniffImageFormat(input.image);

    const job: JobRequest = {
      requestId: request.id,
      model: model.name,
      version,
      payload: { kind: 'image', contentType: input.contentType, bytes: input.image },
      topK,
      timeoutMs,
    };
    // One signal for "stop waiting": the client went away, or the deadline passed.
    const stop = new AbortController();
    const onClose = (): void => {
      if (reply.raw.writableFinished) return;
      // No response will be sent: count the request here.
      countRequest(options.metrics, request, 499, 'CLIENT_CLOSED');
      stop.abort(new ServeError('CLIENT_CLOSED'));
    };
    reply.raw.once('close', onClose);
    const timer = setTimeout(() => stop.abort(new ServeError('DEADLINE_EXCEEDED', `No answer within ${timeoutMs} ms.`)), timeoutMs);
    try {
      const outcome = await producer.submit(job, { bound: model.queueBound, signal: stop.signal });
      if (!outcome.ok) throw fromWireError(outcome.error);
      const { timings } = outcome;
      reply.header(
        'server-timing',
        `queue;dur=${timings.queueMs.toFixed(1)}, inference;dur=${timings.inferenceMs.toFixed(1)};desc="batch ${timings.batchSize}"`,
      );
      const body: PredictResponse = { success: true, predictions: outcome.predictions, model: model.name, version };
      if (model.notice !== undefined) body.notice = model.notice;
      return body;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    }
  });
}

function pickVersion(model: CatalogModel, requested: string | undefined): string {
  if (requested === undefined || requested === '') return model.defaultVersion;
  if (!model.versions.includes(requested)) {
    throw new ServeError('VERSION_NOT_FOUND', `Model "${model.name}" has no version "${requested}". Versions: ${model.versions.join(', ')}.`);
  }
  return requested;
}

function parseIntParam(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ServeError('BAD_PARAMETER', `${name} must be an integer from ${min} to ${max}; got "${raw}".`);
  }
  return value;
}
