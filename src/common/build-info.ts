// swarmserve_build_info: the constant-1 gauge whose labels say what a process runs, so a
// dashboard can tell versions apart during a rolling update. Every process registers it
// once, on the registry that also holds its default process metrics.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import { packageRoot } from '../config/paths.js';

export interface BuildInfo {
  version: string;
  node: string;
  onnxruntime: string;
}

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // an unusual install (no package.json beside the code): the metric still exists
    return 'unknown';
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached === undefined) {
    const root = packageRoot();
    cached = {
      version: packageVersion(join(root, 'package.json')),
      node: process.version,
      onnxruntime: packageVersion(join(root, 'node_modules', 'onnxruntime-node', 'package.json')),
    };
  }
  return cached;
}

export function registerBuildInfo(registry: Registry): void {
  const gauge = new Gauge({
    name: 'swarmserve_build_info',
    help: 'Always 1; the labels say which swarmserve, Node.js and onnxruntime versions this process runs.',
    labelNames: ['version', 'node', 'onnxruntime'],
    registers: [registry],
  });
  gauge.set({ ...buildInfo() }, 1);
}
