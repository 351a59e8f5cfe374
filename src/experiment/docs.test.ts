// docs/experiment.md names every `experiment` option with its env var.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXPERIMENT_OPTIONS } from '../cli/experiment-command.js';
import { packageRoot } from '../config/paths.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'experiment.md'), 'utf8');

describe('docs/experiment.md', () => {
  it('has a row for every experiment option: | `flags` | `ENV` |', () => {
    for (const spec of Object.values(EXPERIMENT_OPTIONS)) {
      const flags = spec.flag.split(' <')[0] ?? spec.flag;
      const row = new RegExp(`\\| [^|]*\`${flags.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}(?: <[^>]+>)?\` \\| \`${spec.env}\` \\|`);
      expect(doc, spec.flag).toMatch(row);
    }
  });
});
