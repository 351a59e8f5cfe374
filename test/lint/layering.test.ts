// The layering rules of .dependency-cruiser.cjs (docs/architecture.md, "Layers and imports")
// hold for src/ as it is, and do fail `npm run lint` on a wrong-way import and on a cycle:
// probe files are written into src/, cruised, and removed.
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');
const probes: string[] = [];

async function cruise(...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(DEPCRUISE, [...paths, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: ROOT });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

async function probe(path: string, text: string): Promise<string> {
  probes.push(path);
  await writeFile(join(ROOT, path), text);
  return path;
}

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => rm(join(ROOT, p), { force: true })));
});

describe('import layering (npm run lint)', () => {
  it('src/ as it is has no violation', async () => {
    const { code, output } = await cruise('src');
    expect(output).toContain('no dependency violations');
    expect(code).toBe(0);
  }, 60_000);

  it('the queue importing from the gateway fails, naming the rule', async () => {
    const path = await probe(
      'src/queue/layering-probe.ts',
      "import type { GatewayMetrics } from '../gateway/metrics.js';\nexport type Probe = GatewayMetrics;\n",
    );
    const { code, output } = await cruise(path);
    expect(output).toContain('queue-is-below-its-users');
    expect(code).not.toBe(0);
  }, 60_000);

  it('the gateway importing from the worker, and anything importing from the CLI, fail', async () => {
    const gateway = await probe('src/gateway/layering-probe.ts', "export { createBatchWorkers } from '../worker/start-workers.js';\n");
    const cli = await probe('src/model/layering-probe.ts', "export { samplePhotoPath } from '../cli/predict-command.js';\n");
    const { code, output } = await cruise(gateway, cli);
    expect(output).toContain('gateway-meets-worker-only-through-the-queue');
    expect(output).toContain('nothing-imports-cli');
    expect(code).not.toBe(0);
  }, 60_000);

  it('the replica sets importing from a feature fail', async () => {
    const path = await probe('src/scaling/layering-probe.ts', "import type { Scaler } from '../experiment/contract.js';\nexport type Probe = Scaler;\n");
    const { code, output } = await cruise(path);
    expect(output).toContain('scaling-is-shared');
    expect(code).not.toBe(0);
  }, 60_000);

  it('a cycle fails, type-only imports included', async () => {
    const a = await probe('src/common/cycle-probe-a.ts', "import type { B } from './cycle-probe-b.js';\nexport interface A { b?: B }\n");
    await probe('src/common/cycle-probe-b.ts', "import type { A } from './cycle-probe-a.js';\nexport interface B { a?: A }\n");
    const { code, output } = await cruise(a);
    expect(output).toContain('no-cycles');
    expect(code).not.toBe(0);
  }, 60_000);
});
