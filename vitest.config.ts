import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig } from 'vitest/config';

// Three projects; `vitest run` (what `npm test` runs) runs all three, every file exactly once:
// - unit: everything that needs nothing but Node.js, node_modules and loopback — tiny generated
//   models and the fixtures in test/fixtures, in-process servers on 127.0.0.1. No bundled models
//   (models/*/<version>), no photo set, no dist/, no redis-server, docker, chromium or locust, no
//   network, no root. `npm run test:unit`, `npx vitest --project unit` (add --watch while editing);
//   scripts/test-unit-isolated.sh proves it without any of those.
// - integration: in-process tests that need one of those, listed below by file name with what
//   they need (by name, not path, so that moving a file keeps it where it is).
// - e2e: test/e2e, the built CLI as users run it (processes, a browser, Redis).
// A file that needs something heavy for a few of its cases is split (e.g. analyze.test.ts and
// analyze-bundled.test.ts), so the rest stays in the fast loop.
const NEEDS: Record<string, string[]> = {
  'redis-server': [
    'redis-transport',
    'redis-liveness',
    'queue-signals',
    'redis-lease',
    'distributed-nodes',
    'long-batch',
    'predict-errors-distributed',
    'metrics-docs',
    'delay-workers',
    'autoscale-local',
    'worker-pool',
    'stats-store',
  ],
  'the bundled models (models prepare)': ['analyze-bundled', 'cli-compose', 'moderation', 'prepare-int8', 'oip', 'oip-queue'],
  'the photo set (.cache/photos) and models/*/2': ['int8-measure', 'int8-evaluate', 'int8-calibration'],
  'the network and apt (Debian packages)': ['photos-fetch'],
  'dist/ (the compiled CLI or a compiled child process)': ['child', 'measure', 'load-cli', 'load-locust', 'delay-workers', 'autoscale-local', 'worker-pool'],
  'locust (python3-locust)': ['load-locust'],
  'the docker CLI (docker stack config)': ['swarm-stack', 'cli-compose'],
  // Needs nothing, but TF.js's pure-JS CPU backend on the real MobileNetV2 takes ≈ 25 s of CPU.
  'half a minute of CPU': ['tfjs-layers-nsfwjs'],
};
const INTEGRATION = [...new Set(Object.values(NEEDS).flat())].map((name) => `**/${name}.test.ts`);
const E2E = ['test/e2e/**/*.test.ts'];
const ALL = ['{src,test,tools,bench}/**/*.test.ts'];

// A name listed above that matches no test file (renamed?) would move its tests into `unit`
// unnoticed: refuse to start instead.
const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => e.name);
const root = import.meta.dirname;
const present = new Set(
  ['src', 'test', 'tools', 'bench'].flatMap((dir) => {
    try {
      return testFiles(join(root, dir));
    } catch {
      return [];
    }
  }),
);
const stale = Object.values(NEEDS)
  .flat()
  .filter((name) => !present.has(`${name}.test.ts`));
if (stale.length > 0) throw new Error(`${relative(process.cwd(), join(root, 'vitest.config.ts'))}: no test file named ${stale.join(', ')} (.test.ts)`);

export default defineConfig({
  test: {
    // test/helpers/project-times.ts: each project's wall time at the end of a run of several.
    reporters: ['default', './test/helpers/project-times.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        // Mostly timers and loopback I/O: three files at a time on 2 cores (62 s with two, 44–51 s with three, quiet host).
        test: { name: 'unit', include: ALL, exclude: [...INTEGRATION, ...E2E], maxWorkers: 3, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Inference tests are CPU-bound on a 2-core machine: run files one by one.
        test: { name: 'integration', include: INTEGRATION, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: 'e2e', include: E2E, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
