// Pulls the image and the parameters out of a /predict request: multipart field
// "img_file" (the seed's form; gzip-encoded ones too) or a raw image body.
import type { FastifyRequest } from 'fastify';
import { ServeError } from '../common/errors.js';
import { formParts, multipartLimits, type FormPart } from './form-parts.js';

export const IMAGE_FIELD = 'img_file';

export interface PredictInput {
  image: Buffer;
  contentType: string;
  params: Record<string, string>;
}

export async function readPredictInput(request: FastifyRequest): Promise<PredictInput> {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
    if (typeof value === 'string') params[key] = value;
  }
  if (request.isMultipart()) return readMultipart(request, params);
  const body = request.body;
  const contentType = request.headers['content-type'] ?? 'application/octet-stream';
  if (body === undefined || body === null || body === '' || (Buffer.isBuffer(body) && body.length === 0)) throw new ServeError('EMPTY_BODY');
  // JSON and text bodies are parsed by fastify's default parsers: not an image either way.
  if (!Buffer.isBuffer(body))
    throw new ServeError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${contentType} is not an image: send image/* bytes or multipart field "${IMAGE_FIELD}".`);
  return { image: body, contentType, params };
}

async function readMultipart(request: FastifyRequest, params: Record<string, string>): Promise<PredictInput> {
  const parts: AsyncIterable<FormPart> =
    request.inflatedBody === null ? request.parts() : formParts(request.inflatedBody, request.headers, multipartLimits(request.routeOptions.bodyLimit));
  let image: { data: Buffer; contentType: string } | undefined;
  const otherFiles: string[] = [];
  for await (const part of parts) {
    if (part.type === 'field') {
      if (typeof part.value === 'string') params[part.fieldname] = part.value;
      continue;
    }
    // Every file must be consumed, or the parser stalls.
    const data = await part.toBuffer();
    if (part.fieldname === IMAGE_FIELD && image === undefined) image = { data, contentType: part.mimetype };
    else if (part.fieldname === IMAGE_FIELD) throw new ServeError('TOO_MANY_FILES', `Send one image in "${IMAGE_FIELD}"; this request has several.`);
    else otherFiles.push(part.fieldname);
  }
  if (image !== undefined && otherFiles.length > 0) {
    throw new ServeError('TOO_MANY_FILES', `Send only one file, in "${IMAGE_FIELD}"; this request also has ${otherFiles.map((f) => `"${f}"`).join(', ')}.`);
  }
  if (image === undefined && otherFiles.length > 0) {
    throw new ServeError('WRONG_FIELD', `The image must be in multipart field "${IMAGE_FIELD}", not ${otherFiles.map((f) => `"${f}"`).join(', ')}.`);
  }
  if (image === undefined || image.data.length === 0) throw new ServeError('EMPTY_BODY', `The multipart body has no file in field "${IMAGE_FIELD}".`);
  return { image: image.data, contentType: image.contentType, params };
}
