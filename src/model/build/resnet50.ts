// Builds torchvision's ResNet50 v1.5 as an ONNX graph with deterministic pseudo-random
// weights, so load tests and benchmarks get a realistically sized model (25.6 M
// parameters, ~4 GFLOPs per image) without downloading anything.
//
// Layout follows torchvision.models.resnet50 exactly: 7×7/2 stem conv + BN + ReLU +
// 3×3/2 max-pool, bottleneck stages [3, 4, 6, 3] with widths [64, 128, 256, 512] ×
// expansion 4, stride 2 on the 3×3 conv of each stage's first block (v1.5; v1 puts it on
// the first 1×1), 1×1 conv + BN downsample shortcuts, global average pool, fc. Convs
// have no bias; BatchNormalization nodes are kept (not folded) so the graph does the
// same work as an exported torchvision model.
//
// Weights: convs are Kaiming-normal (std = sqrt(2 / fan_in)), BN gamma ≈ 1 except the
// last BN of each residual branch (gamma in [0.2, 0.4], a non-zero "zero-init-residual")
// so activations stay bounded through 16 blocks, BN beta / running_mean small (std 0.02),
// running_var in [0.8, 1.25], fc weight N(0, 0.1) (logits std ≈ 1 on real photos), fc
// bias N(0, 0.01). The model is untrained: its predictions are meaningless.
//
// Every conv filter and fc row is re-centred to zero mean (over its fan-in). Without
// that, post-ReLU activations (all positive) hit random filters as a large image-
// independent offset per channel: pooled features of different photos had cosine ≈ 0.99
// and every image got the same top-1 class. Zero-mean filters cancel that common mode
// (cosine ≈ 0.93) and zero-mean fc rows ignore the uniform part of what is left, so
// different images get different top-1 classes.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { GraphBuilder } from '../../onnx/graph-builder.js';

/** torchvision's `sum(p.numel() for p in resnet50().parameters())`. */
export const RESNET50_PARAMETER_COUNT = 25_557_032;

export interface Resnet50Options {
  /** PRNG seed (uint32); the same seed gives a byte-identical model. Default 50. */
  seed?: number | undefined;
  /** Output classes (fc rows). Default 1000. */
  numClasses?: number | undefined;
  /** Input height and width. Default 224; the graph works for any size ≥ 32. */
  imageSize?: number | undefined;
}

export interface Resnet50Model {
  /** The serialized ONNX ModelProto (opset 13). */
  bytes: Uint8Array;
  /** Trainable parameters as torchvision counts them (BN running stats excluded). */
  parameterCount: number;
  inputName: string;
  outputName: string;
}

const INPUT_NAME = 'input';
const OUTPUT_NAME = 'logits';
const DEFAULT_SEED = 50;
const BN_EPSILON = 1e-5;
const STAGE_BLOCKS = [3, 4, 6, 3] as const;
const STAGE_WIDTHS = [64, 128, 256, 512] as const;
const EXPANSION = 4;

export const RESNET50_DOC_STRING =
  'ResNet50 v1.5 (torchvision layout) with DETERMINISTIC RANDOM, UNTRAINED weights ' +
  '(seeded PRNG, Kaiming-normal convs). Built by swarmserve for load tests and benchmarks ' +
  'only: its predictions are meaningless.';

/** Builds the model in memory (~100 MB of weights; about a second of CPU). */
export function buildResnet50(options: Resnet50Options = {}): Resnet50Model {
  const seed = options.seed ?? DEFAULT_SEED;
  const numClasses = options.numClasses ?? 1000;
  const imageSize = options.imageSize ?? 224;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`resnet50: seed must be a uint32, got ${seed}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`resnet50: numClasses must be a positive integer, got ${numClasses}`);
  }
  if (!Number.isInteger(imageSize) || imageSize < 32) {
    throw new RangeError(`resnet50: imageSize must be an integer ≥ 32, got ${imageSize}`);
  }

  const net = new ResnetWriter(new GraphBuilder('resnet50'), new Rng(seed));
  const g = net.g;
  const input = g.input(INPUT_NAME, ['N', 3, imageSize, imageSize]);

  let x = net.conv('conv1', input, 3, 64, 7, 2, 3);
  x = net.bn('bn1', x, 64, 'normal');
  x = g.node('Relu', [x], {}, 'relu');
  x = g.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'maxpool');

  let inChannels = 64;
  for (let stage = 0; stage < STAGE_BLOCKS.length; stage++) {
    const width = STAGE_WIDTHS[stage] as number;
    const blocks = STAGE_BLOCKS[stage] as number;
    for (let b = 0; b < blocks; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      x = net.bottleneck(`layer${stage + 1}.${b}`, x, inChannels, width, stride);
      inChannels = width * EXPANSION;
    }
  }

  x = g.node('GlobalAveragePool', [x], {}, 'avgpool');
  x = g.node('Flatten', [x], { axis: 1 }, 'flatten');
  const fcW = net.param('fc.weight', [numClasses, inChannels], (a) => {
    net.rng.fillNormal(a, 0, 0.1);
    centerRows(a, inChannels);
  });
  const fcB = net.param('fc.bias', [numClasses], (a) => net.rng.fillNormal(a, 0, 0.01));
  const logits = g.node('Gemm', [x, fcW, fcB], { transB: 1 }, OUTPUT_NAME);
  if (logits !== OUTPUT_NAME) throw new Error(`resnet50: output named ${logits}, expected ${OUTPUT_NAME}`);
  g.output(OUTPUT_NAME, ['N', numClasses]);

  return {
    bytes: g.toBytes(RESNET50_DOC_STRING),
    parameterCount: net.parameterCount,
    inputName: INPUT_NAME,
    outputName: OUTPUT_NAME,
  };
}

/** Builds the model and writes it to `outPath` (creating parent directories). */
export async function buildResnet50ToFile(outPath: string, options: Resnet50Options = {}): Promise<Resnet50Model & { path: string }> {
  const model = buildResnet50(options);
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, model.bytes);
  return { ...model, path: outPath };
}

/** Emits conv/BN/bottleneck blocks and keeps the torchvision-style parameter count. */
class ResnetWriter {
  parameterCount = 0;

  constructor(
    readonly g: GraphBuilder,
    readonly rng: Rng,
  ) {}

  /** A trainable float initializer (counted). */
  param(name: string, dims: number[], fill: (a: Float32Array) => void): string {
    return this.tensor(name, dims, fill, true);
  }

  tensor(name: string, dims: number[], fill: (a: Float32Array) => void, trainable: boolean): string {
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    fill(values);
    if (trainable) this.parameterCount += values.length;
    return this.g.floatTensor(name, dims, values);
  }

  conv(name: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number): string {
    const std = Math.sqrt(2 / (cin * k * k));
    const w = this.param(`${name}.weight`, [cout, cin, k, k], (a) => {
      this.rng.fillNormal(a, 0, std);
      centerRows(a, cin * k * k);
    });
    return this.g.node('Conv', [x, w], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] }, name);
  }

  /** `residualEnd` gives the last BN of a residual branch a small gamma. */
  bn(name: string, x: string, channels: number, kind: 'normal' | 'residualEnd'): string {
    const rng = this.rng;
    const [gLo, gHi] = kind === 'normal' ? [0.9, 1.1] : [0.2, 0.4];
    const scale = this.param(`${name}.weight`, [channels], (a) => rng.fillUniform(a, gLo, gHi));
    const bias = this.param(`${name}.bias`, [channels], (a) => rng.fillNormal(a, 0, 0.02));
    const mean = this.tensor(`${name}.running_mean`, [channels], (a) => rng.fillNormal(a, 0, 0.02), false);
    const variance = this.tensor(`${name}.running_var`, [channels], (a) => rng.fillUniform(a, 0.8, 1.25), false);
    return this.g.node('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: BN_EPSILON }, name);
  }

  bottleneck(name: string, x: string, cin: number, width: number, stride: number): string {
    const g = this.g;
    const cout = width * EXPANSION;
    let y = this.conv(`${name}.conv1`, x, cin, width, 1, 1, 0);
    y = g.node('Relu', [this.bn(`${name}.bn1`, y, width, 'normal')], {}, `${name}.relu1`);
    y = this.conv(`${name}.conv2`, y, width, width, 3, stride, 1); // v1.5: stride here
    y = g.node('Relu', [this.bn(`${name}.bn2`, y, width, 'normal')], {}, `${name}.relu2`);
    y = this.conv(`${name}.conv3`, y, width, cout, 1, 1, 0);
    y = this.bn(`${name}.bn3`, y, cout, 'residualEnd');

    let shortcut = x;
    if (stride !== 1 || cin !== cout) {
      shortcut = this.conv(`${name}.downsample.0`, x, cin, cout, 1, stride, 0);
      shortcut = this.bn(`${name}.downsample.1`, shortcut, cout, 'normal');
    }
    const sum = g.node('Add', [y, shortcut], {}, `${name}.add`);
    return g.node('Relu', [sum], {}, `${name}.relu3`);
  }
}

/** mulberry32 uniform generator + Box-Muller normals: fast and reproducible. */
class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform uint32. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in the open interval (0, 1). */
  nextOpen(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  fillUniform(out: Float32Array, lo: number, hi: number): void {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * this.nextOpen();
  }

  fillNormal(out: Float32Array, mean: number, std: number): void {
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const r = std * Math.sqrt(-2 * Math.log(this.nextOpen()));
      const theta = 2 * Math.PI * this.nextOpen();
      out[i] = mean + r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(theta);
    }
  }
}

/** Subtracts each row's mean (rows of `rowLength` consecutive values), in place. */
function centerRows(a: Float32Array, rowLength: number): void {
  for (let start = 0; start < a.length; start += rowLength) {
    let sum = 0;
    for (let i = start; i < start + rowLength; i++) sum += a[i] as number;
    const mean = sum / rowLength;
    for (let i = start; i < start + rowLength; i++) a[i] = (a[i] as number) - mean;
  }
}
