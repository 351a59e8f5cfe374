// docs/autoscale.md names every option of `swarmserve autoscale` with its env var, and every
// metric the controller exports, and the controller exports nothing the page does not name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUTOSCALE_OPTIONS } from '../config/autoscale-config.js';
import { packageRoot } from '../config/paths.js';
import { DECISION_REASONS } from './contract.js';
import { AutoscaleMetrics } from './metrics.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'autoscale.md'), 'utf8');
const rows = doc.split('\n').filter((line) => line.startsWith('| `'));

describe('docs/autoscale.md', () => {
  it('has a row `| flag | ENV |` for every option', () => {
    for (const spec of Object.values(AUTOSCALE_OPTIONS))
      expect(
        rows.some((row) => row.startsWith(`| \`${spec.flag}\` | \`${spec.env}\` |`)),
        spec.flag,
      ).toBe(true);
  });

  it('names every metric the controller exports, and no other', async () => {
    const exported = new Set([...(await new AutoscaleMetrics().registry.getMetricsAsJSON()).map((m) => m.name)]);
    const documented = new Set(rows.flatMap((row) => /^\| `(swarmserve_autoscale_[a-z_]+)` \|/.exec(row)?.[1] ?? []));
    expect([...documented].sort()).toEqual([...exported].sort());
  });

  it('explains every reason a decision can give', () => {
    for (const reason of DECISION_REASONS) expect(doc).toContain(`\`${reason}\``);
  });
});
