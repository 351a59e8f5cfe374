import { describe, expect, it } from 'vitest';
import { sniffImageFormat } from './image-format.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('sniffImageFormat', () => {
  it('recognises the served formats by magic bytes', () => {
    expect(sniffImageFormat(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('jpeg');
    expect(sniffImageFormat(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d))).toBe('png');
    expect(sniffImageFormat(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toBe('webp');
    expect(sniffImageFormat(new TextEncoder().encode('GIF89a'))).toBe('gif');
  });

  it('rejects SVG, even with a BOM or XML prolog, before any parser sees it', () => {
    for (const text of [
      '<svg xmlns="http://www.w3.org/2000/svg"/>',
      '\uFEFF<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>',
    ]) {
      expect(() => sniffImageFormat(new TextEncoder().encode(text))).toThrow(expect.objectContaining({ code: 'SVG_REJECTED' }));
    }
  });

  it('rejects empty and unknown bytes', () => {
    expect(() => sniffImageFormat(bytes())).toThrow(expect.objectContaining({ code: 'EMPTY_BODY' }));
    expect(() => sniffImageFormat(new TextEncoder().encode('hello world'))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
  });
});
