// The docs name every error code and every option of every command: adding one without documenting it fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, exitCodeOf, isErrorCode } from '../../src/common/errors.js';
import { GATEWAY_OPTIONS } from '../../src/config/gateway-config.js';
import type { OptionTable } from '../../src/config/options.js';
import { REDIS_OPTIONS } from '../../src/config/redis-options.js';
import { SERVE_OPTIONS } from '../../src/config/serve-config.js';
import { WORKER_OPTIONS } from '../../src/config/worker-config.js';

const doc = (name: string): string => readFileSync(join(import.meta.dirname, '..', '..', 'docs', name), 'utf8');

/** The text under a heading, up to the next heading of level 2 or 3. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  expect(start, `docs/configuration.md has a "${heading}" section`).toBeGreaterThanOrEqual(0);
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return end === -1 ? rest : rest.slice(0, end);
}

/** Each option has a table row `| flags | env |` in its section (Redis options in theirs). */
function expectDocumented(table: OptionTable, heading: string): void {
  const text = doc('configuration.md');
  const own = section(text, heading);
  const redis = section(text, '### Redis options (gateway and worker)');
  for (const [key, spec] of Object.entries(table)) {
    const flags = spec.flag.split(' <')[0]!;
    const where = Object.hasOwn(REDIS_OPTIONS, key) ? redis : own;
    expect(where, `${heading}: ${flags}`).toContain(`| \`${flags}\` | \`${spec.env}\` |`);
  }
}

describe('docs', () => {
  it('errors.md lists every code with its status, and no code the table lacks', () => {
    const text = doc('errors.md');
    for (const [code, { status }] of Object.entries(ERRORS)) expect(text).toContain(`| \`${code}\` | ${status} |`);
    // The other direction: every row `| \`CODE\` | status |` of the doc is a code of the table, with that status.
    const documented = [...text.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (\d{3}) \|/gm)].map(([, code, status]) => [code!, Number(status)] as const);
    for (const [code, status] of documented) expect(isErrorCode(code) ? ERRORS[code].status : `${code}: not in src/common/errors.ts`, code).toBe(status);
    expect(documented.length, 'one row per code').toBe(Object.keys(ERRORS).length);
  });

  it('errors.md gives the exit code of every code that has its own', () => {
    const text = doc('errors.md');
    for (const code of Object.keys(ERRORS).filter(isErrorCode)) {
      const exit = exitCodeOf(code);
      if (exit !== 1) expect(text, code).toMatch(new RegExp(`^\\| ${exit} \\| .* \\| \`${code}\` \\|$`, 'm'));
    }
  });

  it('configuration.md lists every serve option with its env var', () => {
    expectDocumented(SERVE_OPTIONS, '## `swarmserve serve`');
  });

  it('configuration.md lists every gateway option with its env var', () => {
    expectDocumented(GATEWAY_OPTIONS, '### `swarmserve gateway`');
  });

  it('configuration.md lists every worker option with its env var', () => {
    expectDocumented(WORKER_OPTIONS, '### `swarmserve worker`');
  });
});
