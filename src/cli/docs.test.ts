// docs/cli.md names every option of predict, health and the models commands with its env var,
// on one table row, as the other commands' docs tests do for theirs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../config/paths.js';
import type { OptionTable } from '../config/options.js';
import { HEALTH_OPTIONS } from './health-command.js';
import { BUILD_OPTIONS, EVALUATE_OPTIONS, LIST_OPTIONS, PREPARE_OPTIONS, QUANTIZE_OPTIONS } from './models-options.js';
import { PREDICT_OPTIONS } from './predict-command.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'cli.md'), 'utf8');

/** The text under a `## ` heading, up to the next one. */
function section(heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  expect(start, `docs/cli.md has a "## ${heading}" section`).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(start + heading.length + 5);
  const end = rest.indexOf('\n## ');
  return end === -1 ? rest : rest.slice(0, end);
}

const TABLES: Array<[string, OptionTable]> = [
  ['`swarmserve predict [image]`', PREDICT_OPTIONS],
  ['`swarmserve health <url>`', HEALTH_OPTIONS],
  ['`swarmserve models prepare`', PREPARE_OPTIONS],
  ['`swarmserve models build <architecture>`', BUILD_OPTIONS],
  ['`swarmserve models quantize <model>`', QUANTIZE_OPTIONS],
  ['`swarmserve models evaluate <model>`', EVALUATE_OPTIONS],
  ['`swarmserve models list`', LIST_OPTIONS],
];

describe('docs/cli.md', () => {
  it.each(TABLES)('%s: a row `| flag | ENV |` for every option', (heading, table) => {
    const rows = section(heading)
      .split('\n')
      .filter((line) => line.startsWith('|'));
    for (const spec of Object.values(table))
      expect(
        rows.some((row) => row.startsWith(`| \`${spec.flag}\` | \`${spec.env}\` |`)),
        spec.flag,
      ).toBe(true);
  });
});
