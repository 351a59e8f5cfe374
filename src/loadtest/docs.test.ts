// docs/loadtest.md names every `load` option with its env var (in one table row), every exit
// code the command uses, and Locust's CSV columns as we write them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE } from '../cli/load-command.js';
import { LOAD_OPTIONS } from '../cli/load-options.js';
import { packageRoot } from '../config/paths.js';
import { HISTORY_COLUMNS, STATS_COLUMNS } from './locust-csv.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'loadtest.md'), 'utf8');
const rows = doc.split('\n').filter((line) => line.startsWith('|'));

describe('docs/loadtest.md', () => {
  it('lists every load option with its env var on one table row', () => {
    for (const spec of Object.values(LOAD_OPTIONS)) {
      expect(
        rows.some((row) => row.startsWith(`| \`${spec.flag}\` | \`${spec.env}\` |`)),
        spec.flag,
      ).toBe(true);
    }
  });

  it('lists the exit codes', () => {
    for (const code of [0, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, 130])
      expect(
        rows.some((row) => row.startsWith(`| ${code} |`)),
        String(code),
      ).toBe(true);
  });

  it("names Locust's CSV columns in order", () => {
    const flat = doc.replace(/\s+/g, ' ');
    expect(flat).toContain(STATS_COLUMNS.join(', '));
    expect(flat).toContain(HISTORY_COLUMNS.slice(0, 6).join(', '));
  });
});
