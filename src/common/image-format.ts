// Format sniffing from magic bytes, before any decoder sees the data: SVG (and every
// other format we do not serve) is refused without being parsed.
import { ServeError } from './errors.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff';

export function sniffImageFormat(bytes: Uint8Array): ImageFormat {
  if (bytes.length === 0) throw new ServeError('EMPTY_BODY');
  const b = (i: number): number => bytes[i] ?? -1;
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'png';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 4) === 'GIF8') return 'gif';
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a && b(3) === 0) || (b(0) === 0x4d && b(1) === 0x4d && b(2) === 0 && b(3) === 0x2a)) return 'tiff';
  if (looksLikeSvg(bytes)) throw new ServeError('SVG_REJECTED');
  throw new ServeError('UNSUPPORTED_MEDIA_TYPE');
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, end)).toString('latin1');
}

function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 1024))
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  return head.startsWith('<svg') || (head.startsWith('<') && head.includes('<svg'));
}
