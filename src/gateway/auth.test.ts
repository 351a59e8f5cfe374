import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { isOpenPath, parseKeyFile } from './auth.js';

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('parseKeyFile', () => {
  it('keeps the SHA-256 of plain keys and the digest of sha256: lines, skipping blanks and comments', () => {
    const digests = parseKeyFile(`# comment\n  alpha  \r\n\nsha256:${hex('beta').toUpperCase()}\n`, 'f');
    expect(digests.map((d) => d.toString('hex'))).toEqual([hex('alpha'), hex('beta')]);
  });

  it('refuses a short sha256: line by its number, without echoing it, and a file with no key', () => {
    const bad = (): Buffer[] => parseKeyFile('ok\nsha256:secretish\n', 'f');
    expect(bad).toThrow(ServeError);
    expect(bad).toThrow(/line 2/);
    expect(bad).not.toThrow(/secretish/);
    expect(() => parseKeyFile('# only\n\n', 'f')).toThrow(/holds no key/);
  });
});

describe('isOpenPath', () => {
  const open = ['/', '/health/ready', '/docs'];
  it('opens listed routes and what is under them; "/" opens only itself', () => {
    expect(isOpenPath('/', open)).toBe(true);
    expect(isOpenPath('/docs', open)).toBe(true);
    expect(isOpenPath('/docs/static/*', open)).toBe(true);
    expect(isOpenPath('/docsx', open)).toBe(false);
    expect(isOpenPath('/predict', open)).toBe(false);
    expect(isOpenPath('/health/live', open)).toBe(false);
    expect(isOpenPath('/predict', [])).toBe(false);
  });
});
