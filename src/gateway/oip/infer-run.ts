// Submits an infer request's items as jobs through the same queue and batching as /predict:
// N items are N jobs, queued all or nothing (one atomic submitAll against the bound), which
// may share batches with other requests.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServeError, fromWireError } from '../../common/errors.js';
import type { JobOutcome, JobRequest } from '../../queue/contract.js';
import type { CatalogModel, GatewayOptions } from '../contract.js';
import type { InferRequest } from './infer-request.js';

export type ItemResult = Extract<JobOutcome, { ok: true }>;

export async function runItems(
  options: GatewayOptions,
  request: FastifyRequest,
  reply: FastifyReply,
  model: CatalogModel,
  version: string,
  infer: InferRequest,
): Promise<ItemResult[]> {
  const { producer } = options;
  const classification = infer.outputs.reduce((k, o) => Math.max(k, o.classification ?? 0), 0);
  const wantOutput = infer.outputs.some((o) => o.classification === undefined);
  const timeoutMs = infer.timeoutMs ?? model.timeoutMs;
  const stop = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) stop.abort(new ServeError('CLIENT_CLOSED'));
  };
  reply.raw.once('close', onClose);
  const timer = setTimeout(() => stop.abort(new ServeError('DEADLINE_EXCEEDED', `No answer within ${timeoutMs} ms.`)), timeoutMs);
  const jobs = infer.items.map((payload): JobRequest => ({
    requestId: request.id,
    model: model.name,
    version,
    payload,
    topK: classification > 0 ? classification : model.defaultTopK,
    wantOutput,
    timeoutMs,
  }));
  /** The first failure answers the request: the other items are cancelled. */
  const fail = (err: unknown): ServeError => {
    // A deadline, a departed client or another item's failure: already the answer.
    if (stop.signal.aborted && err === stop.signal.reason && err instanceof ServeError) return err;
    const error = err instanceof ServeError ? err : new ServeError('INTERNAL', undefined, { cause: err });
    stop.abort(error);
    return error;
  };
  try {
    return await Promise.all(
      producer.submitAll(jobs, { bound: model.queueBound, signal: stop.signal }).map(async (submitted, i) => {
        // A rejection is the request's (a refusal, e.g. QUEUE_FULL, rejects every item alike
        // with nothing queued); a failed outcome is the item's, so its message names it.
        let outcome: JobOutcome;
        try {
          outcome = await submitted;
        } catch (err) {
          throw fail(err);
        }
        if (outcome.ok) return outcome;
        const error = fromWireError(outcome.error);
        throw fail(new ServeError(error.code, `Item ${i}: ${error.message}`, { headers: error.headers }));
      }),
    );
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
  }
}
