// Open Inference Protocol v2 REST (KServe's predict protocol v2, as Triton speaks it) for
// every model in the catalog: server and model metadata, health, and infer. Registered as
// an encapsulated plugin so its body parser (any Content-Type, or none: the Triton client
// sends binary bodies without one) and its error format ({"error": "…"}) stay out of the
// other routes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServeError } from '../../common/errors.js';
import { packageVersion } from '../../config/paths.js';
import type { CatalogModel, GatewayOptions } from '../contract.js';
import { answerError } from '../../common/http-errors.js';
import { enterInFlight } from '../predict-route.js';
import { readInferRequest } from './infer-request.js';
import { buildInferResponse } from './infer-response.js';
import { runItems } from './infer-run.js';

/** The OpenAPI document's section for these routes. */
const OIP_TAGS = ['oip'];

const DEFAULT_MAX_ITEMS = 64;
const EXTENSIONS = ['binary_tensor_data', 'classification'];

interface ModelParams {
  model_name: string;
  model_version?: string;
}

const modelParams = {
  type: 'object',
  properties: { model_name: { type: 'string', minLength: 1 }, model_version: { type: 'string', pattern: '^[0-9]+$' } },
  required: ['model_name'],
} as const;

function findModel(options: GatewayOptions, params: ModelParams): { model: CatalogModel; version: string } {
  const model = options.catalog.get(params.model_name);
  if (model === undefined) throw new ServeError('MODEL_NOT_FOUND', `No model named "${params.model_name}". Models: ${[...options.catalog.keys()].join(', ')}.`);
  const version = params.model_version ?? model.defaultVersion;
  if (!model.versions.includes(version))
    throw new ServeError('VERSION_NOT_FOUND', `Model "${model.name}" has no version "${version}". Versions: ${model.versions.join(', ')}.`);
  return { model, version };
}

function modelMetadata(model: CatalogModel, maxItems: number): Record<string, unknown> {
  return {
    name: model.name,
    versions: model.versions,
    platform: 'onnx_onnxv1',
    inputs: [{ name: model.inputName, datatype: 'FP32', shape: [-1, ...model.itemDims] }],
    outputs: [{ name: model.outputName, datatype: 'FP32', shape: [-1, model.labelCount] }],
    parameters: {
      accepted_input_datatypes: 'FP32,BYTES',
      bytes_input: 'BYTES of shape [N]: encoded images (JPEG, PNG, WebP, GIF, TIFF), preprocessed by the model config (base64 strings in JSON)',
      fp32_input: `FP32 of shape [N, ${model.itemDims.join(', ')}]: already preprocessed, skips decoding`,
      max_items: maxItems,
    },
  };
}

export async function registerOip(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  const maxItems = options.maxInferItems ?? DEFAULT_MAX_ITEMS;
  await app.register((oip, _opts, done) => {
    // The protocol's error body is {"error": "<message>"}; the code is in the status and the metrics.
    oip.setErrorHandler((err, request, reply) => {
      const error = answerError(request, err);
      return reply.code(error.status).headers(error.headers).send({ error: error.message });
    });
    oip.removeAllContentTypeParsers();
    oip.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_req, body, parsed) => parsed(null, body));

    oip.get('/v2', { schema: { tags: OIP_TAGS } }, () => ({ name: 'swarmserve', version: packageVersion(), extensions: EXTENSIONS }));
    oip.get('/v2/health/live', { schema: { tags: OIP_TAGS } }, () => ({ live: true }));
    oip.get('/v2/health/ready', { schema: { tags: OIP_TAGS } }, () => {
      const reason = options.notReadyReason();
      if (reason !== undefined) throw new ServeError('NOT_READY', `Not ready: ${reason}.`);
      return { ready: true };
    });
    for (const prefix of ['/v2/models/:model_name', '/v2/models/:model_name/versions/:model_version']) {
      oip.get<{ Params: ModelParams }>(prefix, { schema: { params: modelParams, tags: OIP_TAGS } }, (request) =>
        modelMetadata(findModel(options, request.params).model, maxItems),
      );
      oip.get<{ Params: ModelParams }>(`${prefix}/ready`, { schema: { params: modelParams, tags: OIP_TAGS } }, (request) => {
        const { model } = findModel(options, request.params);
        const reason = options.notReadyReason();
        if (reason !== undefined) throw new ServeError('NOT_READY', `Not ready: ${reason}.`);
        return { name: model.name, ready: true };
      });
      oip.post<{ Params: ModelParams }>(
        `${prefix}/infer`,
        { onRequest: enterInFlight(options), schema: { params: modelParams, tags: OIP_TAGS } },
        (request, reply) => infer(options, maxItems, request, reply),
      );
    }
    done();
  });
}

async function infer(options: GatewayOptions, maxItems: number, request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<FastifyReply> {
  const { model, version } = findModel(options, request.params);
  request.modelName = model.name;
  request.modelVersion = version;
  const headerLength = request.headers['inference-header-content-length'];
  const parsed = readInferRequest(request.body, typeof headerLength === 'string' ? headerLength : undefined, model, maxItems);
  const results = await runItems(options, request, reply, model, version, parsed);
  const { header, binary } = buildInferResponse(model, version, parsed.id, parsed.outputs, results);
  if (binary.length === 0) return reply.type('application/json').send(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return reply
    .type('application/octet-stream')
    .header('inference-header-content-length', String(json.length))
    .send(Buffer.concat([json, ...binary]));
}
