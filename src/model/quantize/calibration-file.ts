// A calibration file: what `models quantize` measured on photos (activation ranges and
// bias corrections), the settings it used, and what it was measured on (the FP32 version's
// digest, the photo set's). With the FP32 version it rebuilds the INT8 version, offline and
// byte for byte (quantizeWithCalibration). The bundled models ship one each
// (models/<name>/int8-calibration.json), from which `models prepare` builds version 2.
// Light on purpose (zod, node:crypto): prepare-int8.ts loads it at every start.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ServeError } from '../../common/errors.js';
import { listImageFiles } from '../image-files.js';
import type { WeightBits, WeightMode } from './qdq.js';
import type { RangeMethod } from './ranges.js';

/** Bump when the quantizer's output for the same inputs changes (a calibration file of another generator is refused). */
export const QUANTIZER_GENERATOR = 'quantize/3';
export const CALIBRATION_SCHEMA_ID = 'swarmserve.int8-calibration/1';
/** Beside a bundled model's config.json. */
export const CALIBRATION_FILE = 'int8-calibration.json';

const finite = z.number().finite();
const calibrationFileSchema = z.object({
  schema: z.literal(CALIBRATION_SCHEMA_ID),
  about: z.string().optional(),
  model: z.string(),
  generator: z.string(),
  source: z.object({
    version: z.string(),
    /** The FP32 version's .generator stamp (bundled models), or null. */
    generator: z.string().nullable(),
    /** sha256 of its model.onnx. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  photos: z.object({
    /** Calibration directories (base names), their item count, a digest of the file names. */
    dirs: z.array(z.string()),
    items: z.number().int().positive(),
    filesDigest: z.string(),
    /** sha256 of the photo set's manifest.json (scripts/fetch-photos.sh), or null for another directory. */
    manifestSha256: z.string().nullable(),
  }),
  settings: z.object({
    method: z.enum(['minmax', 'percentile', 'mse']),
    percentile: finite,
    keep: z.array(z.string()),
    weightZeroPoint: z.enum(['symmetric', 'asymmetric', 'auto']),
    weightBits: z.union([z.literal(7), z.literal(8)]),
    batchSize: z.number().int().positive(),
    biasCorrection: z.boolean(),
  }),
  /** [lo, hi] per calibrated activation tensor. */
  ranges: z.record(
    z.string(),
    z.tuple([finite, finite]).refine(([lo, hi]) => lo <= hi, 'lo > hi'),
  ),
  /** Per node: the int32 amount added to each output channel's bias. */
  biasCorrections: z.record(z.string(), z.array(z.number().int())),
});

export type CalibrationFile = z.infer<typeof calibrationFileSchema>;

/** What calibration measured: with the model and the settings, all the QDQ rewrite needs. */
export interface CalibrationResult {
  /** [lo, hi] of each calibrated activation (the plan's tensors that are not tied to another). */
  ranges: Map<string, [number, number]>;
  /** Per node name: the int32 amount bias correction adds to each output channel's bias. */
  biasCorrections: Map<string, number[]>;
  /** How many calibration items they were measured on. */
  items: number;
}

/** The quantizer's options that shape its result (QuantizeOptions less progress reporting). */
export interface QuantizeSettings {
  method: RangeMethod;
  /** For `percentile`: the share of values kept inside the range, e.g. 99.999. */
  percentile: number;
  /** Node names left in FP32. */
  keep: readonly string[];
  weightZeroPoint: WeightMode;
  /** 7 (reduced range: exact on every x86 CPU) or 8 (only where VNNI/AMX); see WeightBits. */
  weightBits: WeightBits;
  /** Calibration batch size (the histograms re-bin per batch, so it shapes the ranges). */
  batchSize: number;
  /** Move each layer's mean output shift (FP32 vs quantized, per channel) into its bias. */
  biasCorrection: boolean;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A digest of the calibration file names (directory/file): a changed set is a changed calibration. */
export async function photosDigest(dirs: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of dirs)
    for (const file of await listImageFiles(dir, 'CALIBRATION_FAILED', 'calibration')) hash.update(`${basename(dir)}/${basename(file)}\n`);
  return hash.digest('hex').slice(0, 16);
}

/** The photo set's manifest.json beside the first calibration directory (scripts/fetch-photos.sh's layout), hashed. */
async function manifestDigest(dirs: readonly string[]): Promise<string | null> {
  const manifest = dirs.length === 0 ? undefined : join(dirname(dirs[0] as string), 'manifest.json');
  return manifest !== undefined && existsSync(manifest) ? sha256File(manifest) : null;
}

export interface CalibrationSourceInfo {
  model: string;
  version: string;
  generator: string | null;
  /** The FP32 model.onnx the calibration was measured on. */
  onnxPath: string;
  dirs: readonly string[];
}

export async function toCalibrationFile(info: CalibrationSourceInfo, settings: QuantizeSettings, calibration: CalibrationResult): Promise<CalibrationFile> {
  return {
    schema: CALIBRATION_SCHEMA_ID,
    about: `INT8 calibration of ${info.model} version ${info.version}, measured by \`swarmserve models quantize ${info.model} --calibration … --write-calibration FILE\` (docs/quantization.md); \`models prepare\` builds version 2 from it without photos.`,
    model: info.model,
    generator: QUANTIZER_GENERATOR,
    source: { version: info.version, generator: info.generator, sha256: await sha256File(info.onnxPath) },
    photos: {
      dirs: info.dirs.map((d) => basename(d)),
      items: calibration.items,
      filesDigest: await photosDigest(info.dirs),
      manifestSha256: await manifestDigest(info.dirs),
    },
    settings: {
      method: settings.method,
      percentile: settings.percentile,
      keep: [...settings.keep],
      weightZeroPoint: settings.weightZeroPoint,
      weightBits: settings.weightBits,
      batchSize: settings.batchSize,
      biasCorrection: settings.biasCorrection,
    },
    ranges: Object.fromEntries(calibration.ranges),
    biasCorrections: Object.fromEntries(calibration.biasCorrections),
  };
}

export function calibrationOf(file: CalibrationFile): CalibrationResult {
  return {
    ranges: new Map(Object.entries(file.ranges)),
    biasCorrections: new Map(Object.entries(file.biasCorrections)),
    items: file.photos.items,
  };
}

/**
 * JSON for review: the header indented, one line per range and per node's corrections.
 * Numbers print as JavaScript does (shortest exact form), so a read file gives the same doubles.
 */
export function formatCalibrationFile(file: CalibrationFile): string {
  const { ranges, biasCorrections, ...header } = file;
  const head = JSON.stringify(header, null, 2).replace(/\n}$/, '');
  const block = (entries: [string, unknown][]): string => entries.map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n');
  return `${head},\n  "ranges": {\n${block(Object.entries(ranges))}\n  },\n  "biasCorrections": {\n${block(Object.entries(biasCorrections))}\n  }\n}\n`;
}

export async function writeCalibrationFile(path: string, file: CalibrationFile): Promise<void> {
  await writeFile(path, formatCalibrationFile(file));
}

export function parseCalibrationFile(text: string, path: string): CalibrationFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ServeError('CALIBRATION_FAILED', `${path}: not JSON (${(err as Error).message})`);
  }
  const parsed = calibrationFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ServeError(
      'CALIBRATION_FAILED',
      `${path}: not a calibration file (${CALIBRATION_SCHEMA_ID}): ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  return parsed.data;
}

export async function readCalibrationFile(path: string): Promise<CalibrationFile> {
  return parseCalibrationFile(await readFile(path, 'utf8'), path);
}
