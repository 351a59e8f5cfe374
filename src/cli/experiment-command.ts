// `swarmserve experiment`: the scale-while-loading experiment (docs/experiment.md). Bad
// arguments are a USAGE error (exit 2); a scaler or gateway failure is a coded error (exit 1);
// SIGINT/SIGTERM stop the load and everything the experiment started (a second one kills at
// once), then exit 130/143.
import type { Command } from 'commander';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { parseDuration, parseWaitRange } from '../config/durations.js';
import { booleanFlag, parsedBy } from '../config/option-schemas.js';
import { addOptions, cliFlags, resolveOptions, type OptionTable, type OptionValues } from '../config/options.js';
import type { ExperimentOptions, ExperimentSummary } from '../experiment/contract.js';
import { textTable } from '../experiment/format.js';
import { killAll } from '../scaling/processes.js';
import { DEFAULT_WINDOW_MS, runExperiment } from '../experiment/run-experiment.js';
import { targetLine } from '../experiment/targets.js';
import { MAX_REPLICAS, parseReplicas, parseUsers } from '../experiment/schedule.js';

function defaultOut(): string {
  return `experiment-${new Date().toISOString().replace(/[:.]/g, '').replace('T', '-').slice(0, 17)}.html`;
}

/** The tutorial's schedule: 1, 2, then 3 workers. */
const DEFAULT_REPLICAS = [1, 2, 3];

export const EXPERIMENT_OPTIONS = {
  local: {
    flag: '--local',
    env: 'SWARMSERVE_EXPERIMENT_LOCAL',
    description: 'start Redis, a gateway and the workers here, as child processes, and stop them at the end',
    schema: booleanFlag(false),
  },
  swarm: {
    flag: '--swarm <service>',
    env: 'SWARMSERVE_EXPERIMENT_SWARM',
    description: 'scale this Docker Swarm service (e.g. swarmserve_worker) through the Docker Engine API; needs the gateway URL',
    schema: z.string().min(1).optional(),
  },
  url: { flag: '--url <url>', env: 'SWARMSERVE_URL', description: 'gateway base URL, with --swarm (or as the argument)', schema: z.string().min(1).optional() },
  users: {
    flag: '-u, --users <n>',
    env: 'SWARMSERVE_EXPERIMENT_USERS',
    description: 'concurrent users (default 50, as in the tutorial), or a list with one count per step, e.g. 5,40,5 (the load schedule)',
    schema: parsedBy(parseUsers).default(50),
  },
  spawnRate: {
    flag: '-r, --spawn-rate <n>',
    env: 'SWARMSERVE_EXPERIMENT_SPAWN_RATE',
    description: 'users started per second (default: all in the first second)',
    schema: z.coerce.number().positive().optional(),
  },
  wait: {
    flag: '--wait <seconds>',
    env: 'SWARMSERVE_EXPERIMENT_WAIT',
    description: "a user's think time between requests: 0 (closed loop), a-b seconds (uniform, e.g. 1-5 or 500ms-2s), or one duration",
    schema: parsedBy(parseWaitRange).optional(),
  },
  model: {
    flag: '-m, --model <name>',
    env: 'SWARMSERVE_EXPERIMENT_MODEL',
    description: "model to load (default resnet50, the tutorial's)",
    schema: z.string().min(1).default('resnet50'),
  },
  version: {
    flag: '--version <n>',
    env: 'SWARMSERVE_EXPERIMENT_VERSION',
    description: "model version (default: the gateway's default for the model)",
    schema: z.string().regex(/^\d+$/, 'must be a version number').optional(),
  },
  image: {
    flag: '--image <file>',
    env: 'SWARMSERVE_EXPERIMENT_IMAGE',
    description: 'image each request sends (default: the bundled sample photo)',
    schema: z.string().min(1).optional(),
  },
  replicas: {
    flag: '--replicas <list>',
    env: 'SWARMSERVE_EXPERIMENT_REPLICAS',
    description: 'worker count of each step, e.g. 1,2,3 (default 1,2,3; not with --autoscale)',
    schema: parsedBy(parseReplicas).optional(),
  },
  autoscale: {
    flag: '--autoscale',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE',
    description: 'with --local: let `swarmserve autoscale --local` size the workers while the load follows --users (one step per entry)',
    schema: booleanFlag(false),
  },
  min: {
    flag: '--min <n>',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE_MIN',
    description: "with --autoscale: the autoscaler's --min (fewest workers; default its own, 1)",
    schema: z.coerce.number().int().min(0).max(1000).optional(),
  },
  max: {
    flag: '--max <n>',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE_MAX',
    description: "with --autoscale: the autoscaler's --max (most workers; default its own, 10)",
    schema: z.coerce.number().int().min(1).max(1000).optional(),
  },
  stabilization: {
    flag: '--stabilization <duration>',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE_STABILIZATION',
    description: "with --autoscale: the autoscaler's --stabilization (a scale-down needs a whole window of lower desired values; default its own, 3m)",
    schema: parsedBy(parseDuration).optional(),
  },
  targetWait: {
    flag: '--target-wait <duration>',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE_TARGET_WAIT',
    description: "with --autoscale: the autoscaler's --target-wait (how long a job may wait in the queue; default its own, 500ms)",
    schema: parsedBy(parseDuration).optional(),
  },
  interval: {
    flag: '--interval <duration>',
    env: 'SWARMSERVE_EXPERIMENT_AUTOSCALE_INTERVAL',
    description: "with --autoscale: the autoscaler's --interval (its tick; default its own, 2s)",
    schema: parsedBy(parseDuration).optional(),
  },
  step: {
    flag: '--step <duration>',
    env: 'SWARMSERVE_EXPERIMENT_STEP',
    description: 'length of each step, e.g. 60s, 2m',
    schema: parsedBy(parseDuration).default(60_000),
  },
  settle: {
    flag: '--settle <duration>',
    env: 'SWARMSERVE_EXPERIMENT_SETTLE',
    description: "start of each step left out of its table row (warm-up, the previous step's backlog)",
    schema: parsedBy(parseDuration).default(15_000),
  },
  window: {
    flag: '--window <duration>',
    env: 'SWARMSERVE_EXPERIMENT_WINDOW',
    description: "sliding window of the chart's response times and requests/s",
    schema: parsedBy(parseDuration).default(DEFAULT_WINDOW_MS),
  },
  targetRatio: {
    flag: '--target-ratio <x>',
    env: 'SWARMSERVE_EXPERIMENT_TARGET_RATIO',
    description:
      "req/s the last step is expected to reach as a multiple of step 1's, e.g. 1.3: judged in the report beside the lower-p95 target (a miss does not fail the run)",
    schema: z.coerce.number().positive().max(MAX_REPLICAS).optional(),
  },
  port: {
    flag: '--port <port>',
    env: 'SWARMSERVE_EXPERIMENT_PORT',
    description: "with --local: the gateway's port on 127.0.0.1 (default: a free one)",
    schema: z.coerce.number().int().min(0).max(65535).optional(),
  },
  threads: {
    flag: '--threads <n>',
    env: 'SWARMSERVE_EXPERIMENT_THREADS',
    description: 'with --local: intra-op threads per worker (default 1: a worker saturates one core)',
    schema: z.coerce.number().int().min(1).max(256).optional(),
  },
  models: {
    flag: '--models <dir>',
    env: 'SWARMSERVE_MODELS',
    description: 'with --local: model repository (default: the bundled one)',
    schema: z.string().min(1).optional(),
  },
  restore: {
    flag: '--no-restore',
    env: 'SWARMSERVE_EXPERIMENT_RESTORE',
    description: "with --swarm: leave the service at the last step's count (default: put it back as it was)",
    schema: booleanFlag(true),
  },
  out: {
    flag: '-o, --out <file>',
    env: 'SWARMSERVE_EXPERIMENT_OUT',
    description: 'HTML report; the timeline (.json) and the chart (.svg) go next to it (default experiment-<time>.html)',
    schema: z.string().min(1).optional(),
  },
  json: {
    flag: '--json',
    env: 'SWARMSERVE_EXPERIMENT_JSON',
    description: 'print the summary as JSON on stdout (progress stays on stderr)',
    schema: booleanFlag(false),
  },
} satisfies OptionTable;

type ExperimentFlags = OptionValues<typeof EXPERIMENT_OPTIONS>;

/** The options of runExperiment from the command line; a USAGE error on any inconsistency. */
export function experimentOptions(url: string | undefined, o: ExperimentFlags): ExperimentOptions {
  if (o.local === (o.swarm !== undefined))
    throw new ServeError('USAGE', 'choose where the workers run: --local (processes on this machine) or --swarm SERVICE URL (a Docker Swarm service)');
  const gatewayUrl = url ?? o.url;
  if (o.local) {
    if (gatewayUrl !== undefined) throw new ServeError('USAGE', '--local starts its own gateway: give no URL (--port picks its port)');
    if (o.restore === false) throw new ServeError('USAGE', '--no-restore is for --swarm');
  } else {
    if (gatewayUrl === undefined)
      throw new ServeError('USAGE', `--swarm ${o.swarm ?? ''} needs the gateway URL the load goes to (argument or --url), e.g. http://127.0.0.1:8080`);
    for (const [name, value] of [
      ['--port', o.port],
      ['--threads', o.threads],
      ['--models', o.models],
    ] as const) {
      if (value !== undefined) throw new ServeError('USAGE', `${name} is for --local (with --swarm, the service's own settings apply)`);
    }
  }
  const autoscaleFlags = [
    ['--min', o.min],
    ['--max', o.max],
    ['--stabilization', o.stabilization],
    ['--target-wait', o.targetWait],
    ['--interval', o.interval],
  ] as const;
  if (o.autoscale) {
    if (!o.local)
      throw new ServeError(
        'USAGE',
        "--autoscale is for --local (it starts its own autoscaler); with --swarm, run the stack's autoscaler service and give --replicas for a fixed schedule",
      );
    if (o.replicas !== undefined)
      throw new ServeError(
        'USAGE',
        '--autoscale lets the autoscaler choose the worker count: give no --replicas (the steps are the --users list, e.g. --users 5,40,5)',
      );
  } else {
    for (const [name, value] of autoscaleFlags) if (value !== undefined) throw new ServeError('USAGE', `${name} is for --autoscale (the autoscaler's setting)`);
  }
  const target: ExperimentOptions['target'] = o.local
    ? {
        kind: 'local',
        ...(o.port === undefined ? {} : { port: o.port }),
        ...(o.threads === undefined ? {} : { threads: o.threads }),
        ...(o.models === undefined ? {} : { models: o.models }),
      }
    : { kind: 'swarm', service: o.swarm ?? '', url: gatewayUrl ?? '', restore: o.restore };
  return {
    target,
    users: o.users,
    ...(o.spawnRate === undefined ? {} : { spawnRate: o.spawnRate }),
    ...(o.wait === undefined || o.wait.maxMs === 0 ? {} : { wait: { minS: o.wait.minMs / 1000, maxS: o.wait.maxMs / 1000 } }),
    model: o.model,
    ...(o.version === undefined ? {} : { version: o.version }),
    ...(o.image === undefined ? {} : { image: o.image }),
    ...(o.autoscale
      ? {
          autoscale: {
            ...(o.min === undefined ? {} : { min: o.min }),
            ...(o.max === undefined ? {} : { max: o.max }),
            ...(o.stabilization === undefined ? {} : { stabilizationMs: o.stabilization }),
            ...(o.targetWait === undefined ? {} : { targetWaitMs: o.targetWait }),
            ...(o.interval === undefined ? {} : { intervalMs: o.interval }),
          },
        }
      : { replicas: o.replicas ?? DEFAULT_REPLICAS }),
    stepMs: o.step,
    settleMs: o.settle,
    windowMs: o.window,
    ...(o.targetRatio === undefined ? {} : { targetRatio: o.targetRatio }),
    out: o.out ?? defaultOut(),
  };
}

function printSummary(summary: ExperimentSummary, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const t = summary.totals;
  const kinds = Object.entries(t.failuresByKind).map(([k, n]) => `${k}: ${n}`);
  process.stdout.write(
    `\n${textTable(summary.steps)}\n\n` +
      `${t.requests} requests, ${t.failures} failed${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}, in ${summary.durationS.toFixed(0)} s\n` +
      summary.targets.map((target) => `${targetLine(target)}\n`).join('') +
      `report   ${summary.files.report}\ntimeline ${summary.files.timeline}\nchart    ${summary.files.chart}\n`,
  );
}

export function registerExperimentCommand(program: Command): void {
  const command = program
    .command('experiment [url]')
    .description(
      'the scaling experiment: load at N users while the worker count follows --replicas (or the autoscaler decides it, --autoscale), one --step each; then an HTML report with a chart and a table per step (--local or --swarm SERVICE URL)',
    );
  addOptions(command, EXPERIMENT_OPTIONS).action(async (url: string | undefined, _opts: unknown, cmd: Command) => {
    const o = resolveOptions(EXPERIMENT_OPTIONS, cliFlags(cmd));
    const json = o.json;
    const options = experimentOptions(url, o);

    const controller = new AbortController();
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (interrupted !== undefined) {
        process.stderr.write(`${signal} again: killing everything the experiment started\n`);
        killAll();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      interrupted = signal;
      process.stderr.write(
        `${signal}: stopping the load and everything the experiment started (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again kills at once)\n`,
      );
      controller.abort(new Error(`interrupted by ${signal}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const summary = await runExperiment({ ...options, signal: controller.signal, onProgress: (line) => process.stderr.write(`${line}\n`) });
      printSummary(summary, json);
    } catch (err) {
      if (interrupted !== undefined) {
        process.stderr.write('swarmserve experiment: interrupted; what it started is stopped, no report written\n');
        process.exitCode = interrupted === 'SIGINT' ? 130 : 143;
        return;
      }
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
