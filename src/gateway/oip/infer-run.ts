// Submits an infer request's items as jobs through the same queue and batching as /predict:
// N items are N jobs, which may share batches with other requests.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServeError, fromWireError } from '../../common/errors.js';
import { queueKey, type JobOutcome, type JobRequest } from '../../queue/contract.js';
import type { CatalogModel, GatewayOptions } from '../contract.js';
import type { InferRequest } from './infer-request.js';

export type ItemResult = Extract<JobOutcome, { ok: true }>;

export async function runItems(options: GatewayOptions, request: FastifyRequest, reply: FastifyReply, model: CatalogModel, version: string, infer: InferRequest): Promise<ItemResult[]> {
  const { producer } = options;
  const n = infer.items.length;
  // All or nothing against the bound: the queue has no batch submit, so the room is checked
  // first. Concurrent requests may pass the check together; a submit refused after that
  // cancels the jobs already queued (workers skip cancelled jobs), so the caller still gets
  // one 503 and no partial answer.
  const depth = await producer.depth(queueKey(model.name, version));
  if (depth + n > model.queueBound) {
    throw new ServeError('QUEUE_FULL', `Model "${model.name}" has ${depth} jobs waiting (bound ${model.queueBound}); ${n} more do not fit, retry later.`, { headers: { 'retry-after': '1' } });
  }
  const classification = Math.max(0, ...infer.outputs.map((o) => o.classification ?? 0));
  const wantOutput = infer.outputs.some((o) => o.classification === undefined);
  const timeoutMs = infer.timeoutMs ?? model.timeoutMs;
  const stop = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) stop.abort(new ServeError('CLIENT_CLOSED'));
  };
  reply.raw.once('close', onClose);
  const timer = setTimeout(() => stop.abort(new ServeError('DEADLINE_EXCEEDED', `No answer within ${timeoutMs} ms.`)), timeoutMs);
  try {
    return await Promise.all(
      infer.items.map(async (payload, i) => {
        const job: JobRequest = { requestId: request.id, model: model.name, version, payload, topK: classification > 0 ? classification : model.defaultTopK, wantOutput, timeoutMs };
        try {
          const outcome = await producer.submit(job, { bound: model.queueBound, signal: stop.signal });
          if (!outcome.ok) throw fromWireError(outcome.error);
          return outcome;
        } catch (err) {
          // A deadline, a departed client or another item's failure: already the answer.
          if (stop.signal.aborted && err === stop.signal.reason) throw err;
          const error = err instanceof ServeError ? err : new ServeError('INTERNAL', undefined, { cause: err });
          const named = error.code === 'QUEUE_FULL' ? error : new ServeError(error.code, `Item ${i}: ${error.message}`, { headers: error.headers });
          // The first failure answers the request: the other items are cancelled.
          stop.abort(named);
          throw named;
        }
      }),
    );
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
  }
}
