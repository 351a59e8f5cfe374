// JSON schemas of the gateway's routes: fastify validates requests and serializes responses
// with them, and @fastify/swagger turns them into /openapi.json. A response schema is also a
// filter (fast-json-stringify drops what it does not name), so each one names every field
// its route sends.
import { ERRORS } from '../common/errors.js';

/** Shared schemas, added with app.addSchema; routes point at them with { $ref: 'Name#' }. */
export const ErrorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'Every error answer. `code` is stable (switch on it); `message` is for humans. See docs/errors.md.',
  required: ['success', 'error'],
  properties: {
    success: { type: 'boolean', enum: [false] },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
      },
    },
  },
} as const;

export const PredictResponseSchema = {
  $id: 'PredictResponse',
  type: 'object',
  required: ['success', 'predictions', 'model', 'version'],
  properties: {
    success: { type: 'boolean', enum: [true] },
    predictions: {
      type: 'array',
      description: 'The top_k classes, most probable first.',
      items: {
        type: 'object',
        required: ['label', 'probability'],
        properties: { label: { type: 'string' }, probability: { type: 'number' } },
      },
    },
    model: { type: 'string' },
    version: { type: 'string' },
    notice: { type: 'string', description: "The model config's notice (e.g. the random-weight resnet50 is untrained), when it has one." },
  },
} as const;

export const SHARED_SCHEMAS = [ErrorBodySchema, PredictResponseSchema];

const errorRef = { $ref: 'ErrorBody#' } as const;

/** Error answers of every route: 4xx and 5xx both carry an ErrorBody. */
export const errorResponses = {
  '4xx': { description: 'Client error (e.g. BAD_PARAMETER, UNAUTHORIZED, MODEL_NOT_FOUND).', ...errorRef },
  '5xx': { description: 'Server error or backpressure (e.g. QUEUE_FULL, NOT_READY, DEADLINE_EXCEEDED).', ...errorRef },
} as const;

const intParam = (description: string) => ({ type: 'string', description }) as const;

// Strings, not integers: the route reads the same names from multipart fields (always strings)
// and checks them itself, ranges depending on the model, with its own BAD_PARAMETER messages.
const predictParams = {
  model: { type: 'string', description: 'A model of the repository (default: --default-model).' },
  version: { type: 'string', description: 'A version of the model (default: its defaultVersion, else the highest).' },
  top_k: intParam("Classes to return: 1 … the number of labels (default: the model's postprocess.topK)."),
  timeout_ms: intParam("Deadline in ms: 1 … 600000 (default: the model's batching.timeoutMs)."),
} as const;

const binary = { type: 'string', format: 'binary' } as const;

export const predictSchema = {
  summary: 'Classify an image',
  description:
    'The image as multipart field `img_file` (parameters in text fields or the query string), or as the raw body with Content-Type image/* or application/octet-stream (parameters in the query string). JPEG, PNG, WebP, GIF, TIFF; `Content-Encoding: gzip` is accepted for raw and multipart bodies (--body-limit applies after decompression).',
  tags: ['inference'],
  querystring: { type: 'object', properties: predictParams },
  response: { 200: { description: 'The top classes.', $ref: 'PredictResponse#' }, ...errorResponses },
} as const;

/**
 * /predict's request body, for the document only: fastify never validates it (the multipart
 * parts are read and checked by the route; a raw body is bytes), so it must not be a route
 * schema, or fastify would reject the multipart requests whose body it has not parsed.
 */
export const predictRequestBody = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['img_file'],
        properties: { img_file: { ...binary, description: 'The image (exactly one file).' }, ...predictParams },
      },
    },
    'image/*': { schema: { ...binary, description: 'The image bytes.' } },
    'application/octet-stream': { schema: { ...binary, description: 'The image bytes.' } },
  },
} as const;

export const homeSchema = {
  summary: 'What is serving, and where to go next',
  tags: ['service'],
  response: {
    200: {
      description: 'The service, its version and its links.',
      type: 'object',
      required: ['service', 'version', 'predict', 'auth', 'links'],
      properties: {
        service: { type: 'string' },
        version: { type: 'string' },
        predict: { type: 'string' },
        auth: { type: 'string' },
        links: {
          type: 'object',
          required: ['ready', 'live', 'metrics', 'docs', 'openapi', 'dashboard'],
          properties: {
            ready: { type: 'string' },
            live: { type: 'string' },
            metrics: { type: 'string' },
            docs: { type: 'string' },
            openapi: { type: 'string' },
            dashboard: { type: 'string' },
          },
        },
      },
    },
    ...errorResponses,
  },
} as const;

export const liveSchema = {
  summary: 'Liveness: 200 while the process runs',
  tags: ['service'],
  response: {
    200: { description: 'The process runs.', type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['live'] } } },
    ...errorResponses,
  },
} as const;

export const readySchema = {
  summary: 'Readiness: 200 when every model it serves can answer, else 503 NOT_READY',
  tags: ['service'],
  response: {
    200: {
      description: 'Ready; the models it serves.',
      type: 'object',
      required: ['status', 'models'],
      properties: { status: { type: 'string', enum: ['ready'] }, models: { type: 'array', items: { type: 'string' } } },
    },
    ...errorResponses,
  },
} as const;

export const metricsSchema = {
  summary: 'Prometheus metrics (text exposition format)',
  tags: ['service'],
  response: {
    200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } },
    ...errorResponses,
  },
} as const;
