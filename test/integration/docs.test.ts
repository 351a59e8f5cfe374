// The docs name every error code and every serve option: adding one without documenting it fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/common/errors.js';
import { SERVE_OPTIONS } from '../../src/config/serve-config.js';

const doc = (name: string): string => readFileSync(join(import.meta.dirname, '..', '..', 'docs', name), 'utf8');

describe('docs', () => {
  it('errors.md lists every code with its status', () => {
    const text = doc('errors.md');
    for (const [code, { status }] of Object.entries(ERRORS)) expect(text).toContain(`| \`${code}\` | ${status} |`);
  });

  it('configuration.md lists every serve option with its env var', () => {
    const text = doc('configuration.md');
    for (const spec of Object.values(SERVE_OPTIONS)) {
      expect(text).toContain(`\`${spec.env}\``);
      expect(text).toContain(spec.flag.split(' <')[0]!.split(', ').at(-1)!);
    }
  });
});
