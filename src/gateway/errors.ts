// Request accounting for the gateway's metrics (errors become HTTP answers in
// src/common/http-errors.ts).
import type { FastifyRequest } from 'fastify';
import type { GatewayMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    modelName: string;
    /** The model version chosen ("" until one is). */
    modelVersion: string;
    /** Counted in swarmserve_requests_in_flight, until countRequest. */
    inFlight: boolean;
    startedAt: number;
    counted: boolean;
    heldBytes: number;
  }
}

/** Counts a /predict request once, whichever way it ends (answered, or its client gone). */
/** The routes whose requests the request metrics count: /predict and the OIP infer calls. */
const INFERENCE_ROUTES: ReadonlySet<string> = new Set(['/predict', '/v2/models/:model_name/infer', '/v2/models/:model_name/versions/:model_version/infer']);

export function countRequest(metrics: GatewayMetrics, request: FastifyRequest, status: number, code: string): void {
  if (request.counted || !INFERENCE_ROUTES.has(request.routeOptions.url ?? '')) return;
  request.counted = true;
  // Only requests that reached the route's hook were counted in; one refused earlier (held bytes) was not.
  if (request.inFlight) {
    request.inFlight = false;
    metrics.inFlight.dec();
  }
  metrics.observeRequest(request.modelName || 'unknown', request.modelVersion, status, code, (performance.now() - request.startedAt) / 1000);
}
