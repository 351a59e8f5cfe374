// docs/planner.md names every `plan` option with its env var and every top-level field of the JSON report.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLAN_OPTIONS } from '../cli/plan-command.js';
import { packageRoot } from '../config/paths.js';
import { planReportSchema } from './contract.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'planner.md'), 'utf8');

describe('docs/planner.md', () => {
  it('lists every plan option with its env var', () => {
    for (const spec of Object.values(PLAN_OPTIONS)) {
      expect(doc).toContain(`\`${spec.env}\``);
      expect(doc).toContain((spec.flag.split(' <')[0] ?? spec.flag).split(', ').at(-1) ?? spec.flag);
    }
  });

  it('documents every top-level field of the JSON report', () => {
    for (const key of Object.keys(planReportSchema.shape)) expect(doc).toMatch(new RegExp(`\\| \`${key}\`|, \`${key}\` \\|`));
  });
});
