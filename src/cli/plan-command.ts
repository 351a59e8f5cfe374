// `swarmserve plan MODEL`: capacity planning from the ONNX graph (docs/planner.md).
import { writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import type { Command } from 'commander';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { booleanFlag } from '../config/option-schemas.js';
import { addOptions, cliFlags, resolveOptions, type OptionTable } from '../config/options.js';
import { bundledModelsDir } from '../config/paths.js';
import { calibrate } from '../planner/calibrate.js';
import { BUILT_IN_CALIBRATION, readCalibration } from '../planner/calibration.js';
import { planReportJsonSchema, type Calibration } from '../planner/contract.js';
import { fmtBytes, formatReport } from '../planner/format.js';
import { buildPlan, resolveModel } from '../planner/plan.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A memory size: bytes, or with Docker's binary units (512M, 16G, 16GiB, 1.5g). */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (m === null) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

const sizeSchema = (fallback: number) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      const bytes = typeof v === 'number' ? v : parseSize(v);
      if (bytes === undefined || bytes <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a memory size (e.g. 16G, 512M, 17179869184)` });
        return z.NEVER;
      }
      return bytes;
    });

const positive = z.coerce.number().positive();

export const PLAN_OPTIONS = {
  models: {
    flag: '-m, --models <dir>',
    env: 'SWARMSERVE_MODELS',
    description: 'model repository (for a model given by name)',
    schema: z.string().min(1).default(bundledModelsDir()),
  },
  modelVersion: {
    flag: '--model-version <version>',
    env: 'SWARMSERVE_PLAN_MODEL_VERSION',
    description: "repository model version (default: the model's default)",
    schema: z.string().regex(/^\d+$/).optional(),
  },
  format: {
    flag: '-f, --format <format>',
    env: 'SWARMSERVE_PLAN_FORMAT',
    description: 'table | json | compose',
    schema: z.enum(['table', 'json', 'compose']).default('table'),
  },
  batch: {
    flag: '-b, --batch <sizes>',
    env: 'SWARMSERVE_PLAN_BATCH',
    description: 'comma-separated batch sizes to estimate (and measure)',
    schema: z
      .string()
      .default('1,8,32')
      .transform((s, ctx) => {
        const sizes = s.split(',').map((x) => Number(x.trim()));
        if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 4096)) {
          ctx.addIssue({ code: 'custom', message: `"${s}" is not a list of batch sizes 1…4096` });
          return z.NEVER;
        }
        return sizes;
      }),
  },
  dim: {
    flag: '--dim <name=size,...>',
    env: 'SWARMSERVE_PLAN_DIMS',
    description: 'sizes of symbolic input dims other than the batch (e.g. H=224,W=224)',
    schema: z
      .string()
      .optional()
      .transform((s, ctx) => {
        const dims: Record<string, number> = {};
        for (const part of (s ?? '').split(',').filter((p) => p.trim() !== '')) {
          const [name, value] = part.split('=').map((x) => x.trim());
          const n = Number(value);
          if (name === undefined || name === '' || !Number.isInteger(n) || n < 1) {
            ctx.addIssue({ code: 'custom', message: `"${part}" is not name=size` });
            return z.NEVER;
          }
          dims[name] = n;
        }
        return dims;
      }),
  },
  nodeCpus: {
    flag: '--node-cpus <n>',
    env: 'SWARMSERVE_PLAN_NODE_CPUS',
    description: "CPUs of a node (default: this machine's)",
    schema: z.coerce.number().int().min(1).max(1024).default(availableParallelism()),
  },
  nodeMemory: {
    flag: '--node-memory <size>',
    env: 'SWARMSERVE_PLAN_NODE_MEMORY',
    description: "memory of a node, e.g. 16G (default: this machine's)",
    schema: sizeSchema(totalmem()),
  },
  nodes: {
    flag: '--nodes <n>',
    env: 'SWARMSERVE_PLAN_NODES',
    description: 'nodes available (default: as many as needed)',
    schema: z.coerce.number().int().min(1).max(100_000).optional(),
  },
  targetRps: {
    flag: '--target-rps <n>',
    env: 'SWARMSERVE_PLAN_TARGET_RPS',
    description: 'images per second the service must serve',
    schema: positive.optional(),
  },
  p95Ms: { flag: '--p95-ms <ms>', env: 'SWARMSERVE_PLAN_P95_MS', description: 'p95 latency target in milliseconds', schema: positive.optional() },
  threads: {
    flag: '--threads <n>',
    env: 'SWARMSERVE_PLAN_THREADS',
    description: 'threads per replica (default: the best for throughput); also used by --measure',
    schema: z.coerce.number().int().min(1).max(256).optional(),
  },
  maxQueueDelayMs: {
    flag: '--max-queue-delay-ms <ms>',
    env: 'SWARMSERVE_PLAN_MAX_QUEUE_DELAY_MS',
    description: "batching delay in the p95 estimate (default: the model's config, else 5)",
    schema: z.coerce.number().min(0).max(10_000).optional(),
  },
  headroom: {
    flag: '--headroom <fraction>',
    env: 'SWARMSERVE_PLAN_HEADROOM',
    description: 'memory limit above the estimate',
    schema: z.coerce.number().min(0).max(4).default(0.15),
  },
  service: {
    flag: '--service <name>',
    env: 'SWARMSERVE_PLAN_SERVICE',
    description: "service name in the compose snippet (the stack file's model-server service)",
    schema: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/)
      .default('worker'),
  },
  layers: { flag: '--no-layers', env: 'SWARMSERVE_PLAN_LAYERS', description: 'leave the per-layer table out of the table format', schema: booleanFlag(true) },
  measure: {
    flag: '--measure',
    env: 'SWARMSERVE_PLAN_MEASURE',
    description: 'also load and run the model at each batch size and compare',
    schema: booleanFlag(false),
  },
  measureSeconds: {
    flag: '--measure-seconds <s>',
    env: 'SWARMSERVE_PLAN_MEASURE_SECONDS',
    description: 'timed runs per batch size (at least 3 runs)',
    schema: z.coerce.number().min(0).max(600).default(5),
  },
  calibrate: {
    flag: '--calibrate',
    env: 'SWARMSERVE_PLAN_CALIBRATE',
    description: 'measure the estimate constants on generated models (≈ 30 s); with --calibration FILE, save them',
    schema: booleanFlag(false),
  },
  calibration: {
    flag: '--calibration <file>',
    env: 'SWARMSERVE_PLAN_CALIBRATION',
    description: 'calibration constants to use (a file written by --calibrate)',
    schema: z.string().min(1).optional(),
  },
  jsonSchema: {
    flag: '--json-schema',
    env: 'SWARMSERVE_PLAN_JSON_SCHEMA',
    description: 'print the JSON Schema of --format json and exit',
    schema: booleanFlag(false),
  },
} satisfies OptionTable;

export function registerPlanCommand(program: Command): void {
  const command = program
    .command('plan [model]')
    .description("size containers and replicas from a model's ONNX graph (a path to an .onnx file or a repository model name); --measure checks the estimate");
  addOptions(command, PLAN_OPTIONS).action(async (model: string | undefined, _opts: unknown, cmd: Command) => {
    await runPlan(model, resolveOptions(PLAN_OPTIONS, cliFlags(cmd)));
  });
}

type PlanConfig = ReturnType<typeof resolveOptions<typeof PLAN_OPTIONS>>;

async function runPlan(model: string | undefined, o: PlanConfig): Promise<void> {
  if (o.jsonSchema) {
    process.stdout.write(`${JSON.stringify(planReportJsonSchema(), null, 2)}\n`);
    return;
  }
  let calibration: Calibration = o.calibration !== undefined && !o.calibrate ? await readCalibration(o.calibration) : BUILT_IN_CALIBRATION;
  if (o.calibrate) {
    calibration = await calibrate({ log: (line) => process.stderr.write(`${line}\n`) });
    if (o.calibration !== undefined) {
      await writeFile(o.calibration, `${JSON.stringify(calibration, null, 2)}\n`);
      process.stderr.write(`calibration written to ${o.calibration}\n`);
      calibration = { ...calibration, source: o.calibration };
    }
    if (model === undefined) {
      process.stdout.write(o.format === 'json' ? `${JSON.stringify(calibration, null, 2)}\n` : describeCalibration(calibration));
      return;
    }
  }
  if (model === undefined)
    throw new ServeError('BAD_PARAMETER', 'name a model: a path to an .onnx file or a model of the repository (e.g. "swarmserve plan resnet50")');
  const resolved = await resolveModel(model, o.models, o.modelVersion);
  const { report } = await buildPlan({
    model: resolved,
    batches: o.batch,
    dims: o.dim,
    calibration,
    threads: o.threads,
    recommend: {
      nodeCpus: o.nodeCpus,
      nodeMemoryBytes: o.nodeMemory,
      nodes: o.nodes,
      targetRps: o.targetRps,
      p95Ms: o.p95Ms,
      threads: o.threads,
      maxQueueDelayMs: o.maxQueueDelayMs,
      headroom: o.headroom,
      service: o.service,
    },
    measure: o.measure ? { seconds: o.measureSeconds, minRuns: 3 } : undefined,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(formatReport(report, o.format, { layers: o.layers }));
  if (!report.complete) {
    process.stderr.write(
      `swarmserve plan: warning: incomplete analysis (${report.unsupportedOperators.map((u) => `unknown operator ${u.op}`).join(', ') || `${report.problems.length} node(s) without shapes`})\n`,
    );
  }
}

function describeCalibration(c: Calibration): string {
  const lines = [
    `calibration (${c.source}, ${c.measuredAt}, ${c.machine.cpu}, ${c.machine.cores} cores, NCHWc block ${c.machine.nchwcBlock}, Node ${c.machine.node}, onnxruntime ${c.machine.onnxruntime})`,
    `  baseline worker process   ${fmtBytes(c.baselineBytes)}`,
    `  per session               ${fmtBytes(c.sessionBytes)}`,
    `  mmap threshold at load    ${fmtBytes(c.mmapThresholdBytes)}`,
    `  small tensors             ${c.smallTensorFactor.toFixed(2)} × their stored bytes after load, ${c.smallLoadFactor.toFixed(2)} × during it`,
    `  load copies               ${c.loadCopies.toFixed(2)} × rewritten weights + ${c.rewriteCopies.toFixed(2)} × the largest; FC prepacking + ${c.prepackCopies.toFixed(2)} × the largest`,
    `  arena factor              ${c.arenaFactor.toFixed(3)} × simulated BFC pages`,
    `  dense MACs/s per thread   ${(c.denseMacsPerSecond / 1e9).toFixed(2)} G`,
    `  grouped MACs/s per thread ${(c.groupedMacsPerSecond / 1e9).toFixed(2)} G`,
    `  int8 dense MACs/s         ${c.int8DenseMacsPerSecond === undefined ? 'not calibrated (int8 MACs count at the float rate)' : `${(c.int8DenseMacsPerSecond / 1e9).toFixed(2)} G`}`,
    `  int8 grouped MACs/s       ${c.int8GroupedMacsPerSecond === undefined ? 'not calibrated (int8 MACs count at the float rate)' : `${(c.int8GroupedMacsPerSecond / 1e9).toFixed(2)} G`}`,
    `  parallel efficiency       ${c.parallelEfficiency.toFixed(2)}`,
    '  fit on the calibration models (memory error, latency error):',
    ...c.fits.map(
      (f) =>
        `    ${f.model.padEnd(18)} batch ${String(f.batch).padStart(2)}, ${f.threads} thread(s)  ${f.memoryErrorPct.toFixed(1).padStart(6)}%  ${f.latencyErrorPct.toFixed(1).padStart(6)}%`,
    ),
    ...c.warnings.map((w) => `  WARNING: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}
