// `swarmserve plan --format compose` on the bundled resnet50: the snippet validates with
// `docker stack config` (no daemon needed). Needs the docker CLI and the bundled models, so it
// is in the integration project; the rest of the command's tests are in cli.test.ts (unit).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stackConfigClientOrSkip } from '../../test/helpers/docker-cli.js';
import { plan } from '../../test/helpers/plan-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'swarmserve-plan-compose-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const docker = stackConfigClientOrSkip('planner compose validation');

describe('swarmserve plan --format compose', () => {
  it.skipIf(docker === null)('--format compose: the snippet placed in a minimal stack file validates with docker stack config', async () => {
    if (docker === null) return;
    const { stdout } = await plan(['resnet50', '--format', 'compose', '--node-cpus', '8', '--node-memory', '16G', '--target-rps', '100', '--p95-ms', '2000']);
    expect(stdout).toMatch(/^ {6}replicas: \d+$/m);
    expect(stdout).toMatch(/^ {10}memory: \d+[MG]$/m);
    const stack = join(dir, 'stack.yml');
    writeFileSync(stack, stdout.replace(/^ {2}worker:$/m, '  worker:\n    image: swarmserve:latest'));
    const placed = spawnSync(docker, ['stack', 'config', '-c', stack], { encoding: 'utf8' });
    expect(placed.stderr).toBe('');
    expect(placed.status).toBe(0);
    expect(placed.stdout).toMatch(/max_replicas_per_node: \d+/);
    expect(placed.stdout).toMatch(/SWARMSERVE_ONLY: resnet50/);
    // and as an override file beside an existing stack file
    const base = join(dir, 'base.yml');
    const overlay = join(dir, 'plan.yml');
    writeFileSync(base, 'version: "3.8"\nservices:\n  worker:\n    image: swarmserve:latest\n');
    writeFileSync(overlay, stdout);
    const merged = spawnSync(docker, ['stack', 'config', '-c', base, '-c', overlay], { encoding: 'utf8' });
    expect(merged.status).toBe(0);
    // the validator is strict: a wrong key is refused
    writeFileSync(stack, stdout.replace('max_replicas_per_node:', 'max_replica_per_node:'));
    expect(spawnSync(docker, ['stack', 'config', '-c', stack], { encoding: 'utf8' }).status).not.toBe(0);
  });
});
