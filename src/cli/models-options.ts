// The options of `swarmserve models …`: one table per subcommand, resolved by the one
// resolver (src/config/options.ts) and documented in docs/cli.md.
import { z } from 'zod';
import { DEFAULT_EVALUATE_OPTIONS } from '../model/evaluate/evaluate.js';
import { bundledModelsDir } from '../config/paths.js';
import { booleanFlag, numberIn, oneOf, parsedBy, pathList } from '../config/option-schemas.js';
import type { OptionTable } from '../config/options.js';
import { DEFAULT_QUANTIZE_OPTIONS } from '../model/quantize/quantize.js';
import { RANGE_METHODS } from '../model/quantize/ranges.js';
import { WEIGHT_BITS, WEIGHT_MODES } from '../model/quantize/qdq.js';

const modelsDir = {
  flag: '-m, --models <dir>',
  env: 'SWARMSERVE_MODELS',
  description: 'model repository (default: the bundled one)',
  schema: z.string().min(1).default(bundledModelsDir()),
};

const positiveInt = (fallback: number) => parsedBy(numberIn(1, 1_000_000, true), 'a positive integer').default(fallback);
const ratio = parsedBy(numberIn(0, 1, false), 'a number from 0 to 1');
const version = z.string().regex(/^\d+$/, 'expected a version number');

export const PREPARE_OPTIONS = {
  models: modelsDir,
  int8: { flag: '--no-int8', env: 'SWARMSERVE_PREPARE_INT8', description: 'build no INT8 version 2', schema: booleanFlag(true) },
  force: { flag: '--force', env: 'SWARMSERVE_PREPARE_FORCE', description: 'regenerate even if present', schema: booleanFlag(false) },
} satisfies OptionTable;

export const BUILD_OPTIONS = {
  out: {
    flag: '-o, --out <file>',
    env: 'SWARMSERVE_BUILD_OUT',
    description: 'output .onnx file (default: the bundled resnet50 version 1)',
    schema: z.string().min(1).default(`${bundledModelsDir()}/resnet50/1/model.onnx`),
  },
  seed: {
    flag: '--seed <n>',
    env: 'SWARMSERVE_BUILD_SEED',
    description: 'weight seed (default 1)',
    schema: parsedBy(numberIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true), 'an integer').default(1),
  },
} satisfies OptionTable;

export const QUANTIZE_OPTIONS = {
  models: modelsDir,
  version: {
    flag: '--version <v>',
    env: 'SWARMSERVE_QUANTIZE_VERSION',
    description: 'the FP32 version to quantize (default: the default version)',
    schema: version.optional(),
  },
  calibration: {
    flag: '--calibration <dir...>',
    env: 'SWARMSERVE_QUANTIZE_CALIBRATION',
    description: 'one or more directories of calibration photos (preprocessed as the model config says); required',
    schema: pathList('one or more directories of calibration photos'),
  },
  outVersion: {
    flag: '--out-version <v>',
    env: 'SWARMSERVE_QUANTIZE_OUT_VERSION',
    description: 'version to write (default: the highest version + 1)',
    schema: version.optional(),
  },
  method: {
    flag: '--method <method>',
    env: 'SWARMSERVE_QUANTIZE_METHOD',
    description: `activation range method: ${RANGE_METHODS.join(' | ')} (default ${DEFAULT_QUANTIZE_OPTIONS.method})`,
    schema: oneOf(RANGE_METHODS, DEFAULT_QUANTIZE_OPTIONS.method),
  },
  percentile: {
    flag: '--percentile <p>',
    env: 'SWARMSERVE_QUANTIZE_PERCENTILE',
    description: `for --method percentile: share of values kept in range, in (50, 100] (default ${DEFAULT_QUANTIZE_OPTIONS.percentile})`,
    schema: parsedBy(numberIn(50 + 1e-9, 100, false), 'a number in (50, 100]').default(DEFAULT_QUANTIZE_OPTIONS.percentile),
  },
  keep: {
    flag: '--keep <nodes>',
    env: 'SWARMSERVE_QUANTIZE_KEEP',
    description: 'comma-separated node names to leave in FP32 (e.g. the first conv or the classifier)',
    schema: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((k) => k.trim())
          .filter((k) => k !== ''),
      ),
  },
  weightZeroPoint: {
    flag: '--weight-zero-point <mode>',
    env: 'SWARMSERVE_QUANTIZE_WEIGHT_ZERO_POINT',
    description: 'int8 weights: symmetric (zero point 0) | asymmetric (per-channel zero point) | auto (asymmetric for convs larger than 1×1)',
    schema: oneOf(WEIGHT_MODES, DEFAULT_QUANTIZE_OPTIONS.weightZeroPoint),
  },
  weightBits: {
    flag: '--weight-bits <n>',
    env: 'SWARMSERVE_QUANTIZE_WEIGHT_BITS',
    description: 'int8 weight range: 7 ([-64, 63], exact on every x86 CPU) | 8 ([-128, 127], exact only with VNNI or AMX: AVX2-only CPUs saturate)',
    schema: oneOf(WEIGHT_BITS, DEFAULT_QUANTIZE_OPTIONS.weightBits),
  },
  batchSize: {
    flag: '--batch-size <n>',
    env: 'SWARMSERVE_QUANTIZE_BATCH_SIZE',
    description: 'calibration batch size',
    schema: positiveInt(DEFAULT_QUANTIZE_OPTIONS.batchSize),
  },
  biasCorrection: {
    flag: '--no-bias-correction',
    env: 'SWARMSERVE_QUANTIZE_BIAS_CORRECTION',
    description: "skip moving each layer's mean quantization shift into its bias",
    schema: booleanFlag(true),
  },
  writeCalibration: {
    flag: '--write-calibration <file>',
    env: 'SWARMSERVE_QUANTIZE_WRITE_CALIBRATION',
    description:
      'write what calibration measured (ranges, bias corrections, settings, digests) to FILE instead of a new version; models prepare builds version 2 of a bundled model from models/<name>/int8-calibration.json',
    schema: z.string().min(1).optional(),
  },
} satisfies OptionTable;

export const LIST_OPTIONS = { models: modelsDir } satisfies OptionTable;

/** "1,2": the reference version, then the version judged against it. */
function versionPair(text: string): [string, string] | undefined {
  const versions = text.split(',').map((v) => v.trim());
  if (versions.length !== 2 || versions.some((v) => !/^\d+$/.test(v)) || versions[0] === versions[1]) return undefined;
  return [versions[0]!, versions[1]!];
}

export const EVALUATE_OPTIONS = {
  models: modelsDir,
  versions: {
    flag: '--versions <a,b>',
    env: 'SWARMSERVE_EVALUATE_VERSIONS',
    description: 'reference version, then the version judged against it (e.g. 1,2); required',
    schema: parsedBy(versionPair, 'two different version numbers, reference first (e.g. 1,2)'),
  },
  images: {
    flag: '--images <dir...>',
    env: 'SWARMSERVE_EVALUATE_IMAGES',
    description: 'one or more directories of photos (never the calibration photos); required',
    schema: pathList('one or more directories of photos'),
  },
  json: { flag: '--json', env: 'SWARMSERVE_EVALUATE_JSON', description: 'print the report as JSON (schema swarmserve.evaluate/1)', schema: booleanFlag(false) },
  batchSize: {
    flag: '--batch-size <n>',
    env: 'SWARMSERVE_EVALUATE_BATCH_SIZE',
    description: 'images per run',
    schema: positiveInt(DEFAULT_EVALUATE_OPTIONS.batchSize),
  },
  threads: {
    flag: '--threads <n>',
    env: 'SWARMSERVE_EVALUATE_THREADS',
    description: 'onnxruntime intra-op threads',
    schema: positiveInt(DEFAULT_EVALUATE_OPTIONS.threads),
  },
  lowMargin: {
    flag: '--low-margin <p>',
    env: 'SWARMSERVE_EVALUATE_LOW_MARGIN',
    description: "an image is low-margin when the reference's top two probabilities are within this",
    schema: ratio.default(DEFAULT_EVALUATE_OPTIONS.lowMargin),
  },
  minTop1: {
    flag: '--min-top1 <ratio>',
    env: 'SWARMSERVE_EVALUATE_MIN_TOP1',
    description: 'fail (exit 1) when top-1 agreement is below this, e.g. 0.95',
    schema: ratio.optional(),
  },
  minLowMarginTop1: {
    flag: '--min-low-margin-top1 <ratio>',
    env: 'SWARMSERVE_EVALUATE_MIN_LOW_MARGIN_TOP1',
    description: 'fail when top-1 agreement on low-margin images is below this',
    schema: ratio.optional(),
  },
  maxMeanAbsDiff: {
    flag: '--max-mean-abs-diff <p>',
    env: 'SWARMSERVE_EVALUATE_MAX_MEAN_ABS_DIFF',
    description: 'fail when the mean absolute probability difference is above this',
    schema: ratio.optional(),
  },
  minCosine: {
    flag: '--min-cosine <c>',
    env: 'SWARMSERVE_EVALUATE_MIN_COSINE',
    description: 'fail when the mean logits cosine is below this',
    schema: ratio.optional(),
  },
} satisfies OptionTable;
