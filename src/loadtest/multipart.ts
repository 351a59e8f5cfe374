// multipart/form-data bodies for a load run, encoded once.
import { randomBytes } from 'node:crypto';
import type { LoadRequestBody } from './contract.js';
import { BAD_HEADER_VALUE, LoadOptionsError } from './validate.js';

type MultipartField = { name: string; value: string } | { name: string; filename: string; contentType: string; data: Uint8Array };

export type { MultipartField };

// WHATWG "multipart/form-data encoding algorithm": escape these in names and filenames.
function escapeDispositionParam(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}

/**
 * Encodes form fields as one multipart/form-data body, once, with a random boundary, so a load
 * run sends the same bytes every time at no per-request cost.
 */
export function encodeMultipart(fields: readonly MultipartField[]): LoadRequestBody {
  if (fields.length === 0) throw new LoadOptionsError('encodeMultipart: at least one field is required.');
  const contents: Buffer[] = [];
  const heads: string[] = [];
  for (const [i, field] of fields.entries()) {
    if (typeof field.name !== 'string' || field.name === '') throw new LoadOptionsError(`encodeMultipart: fields[${i}].name must be a non-empty string.`);
    let head = `Content-Disposition: form-data; name="${escapeDispositionParam(field.name)}"`;
    if ('data' in field) {
      if (!(field.data instanceof Uint8Array)) throw new LoadOptionsError(`encodeMultipart: fields[${i}].data must be a Uint8Array.`);
      if (BAD_HEADER_VALUE.test(field.contentType) || field.contentType.trim() === '') {
        throw new LoadOptionsError(`encodeMultipart: fields[${i}].contentType must be a non-empty header value.`);
      }
      head += `; filename="${escapeDispositionParam(field.filename)}"\r\nContent-Type: ${field.contentType}`;
      contents.push(Buffer.from(field.data.buffer, field.data.byteOffset, field.data.byteLength));
    } else {
      if (typeof field.value !== 'string') throw new LoadOptionsError(`encodeMultipart: fields[${i}].value must be a string.`);
      contents.push(Buffer.from(field.value, 'utf8'));
    }
    heads.push(head);
  }

  // 128 random bits make a collision with the content practically impossible; check anyway.
  let boundary = '';
  do {
    boundary = `----swarmserve-${randomBytes(16).toString('hex')}`;
  } while (contents.some((content) => content.includes(boundary)));

  const parts: Buffer[] = [];
  heads.forEach((head, i) => {
    parts.push(Buffer.from(`--${boundary}\r\n${head}\r\n\r\n`, 'utf8'), contents[i] ?? Buffer.alloc(0), Buffer.from('\r\n', 'latin1'));
  });
  parts.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
