// Small generated models the planner calibrates its constants on (never on the models it
// plans for): generic convolution blocks of vision networks at sizes unlike the bundled
// models. Weights are deterministic pseudo-random, scaled so activations stay near 1
// (no denormals, no overflow: timings are those of real weights).
import { GraphBuilder, type Dim } from '../onnx/graph-builder.js';

export interface CalibrationModel {
  name: string;
  describe: string;
  /** Batch sizes the memory calibration runs it at. */
  batches: number[];
  build: () => GraphBuilder;
}

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  /** Uniform in [-1, 1). */
  next(): number {
    // xorshift32
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x80000000 - 1;
  }
  fill(count: number, scale: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.next() * scale;
    return out;
  }
}

/** A writer of the usual blocks, NCHW inside. */
export class BlockWriter {
  constructor(
    readonly g: GraphBuilder,
    private readonly rng: Rng,
  ) {}

  static create(name: string, seed = 7): BlockWriter {
    return new BlockWriter(new GraphBuilder(name), new Rng(seed));
  }

  conv(
    x: string,
    cin: number,
    cout: number,
    k: number,
    options: { stride?: number; group?: number; pad?: number; bias?: boolean; stem?: string } = {},
  ): string {
    const group = options.group ?? 1;
    const fanIn = (cin / group) * k * k;
    // uniform[-a, a] with variance 2/fanIn (Kaiming) → a = sqrt(6/fanIn)
    const w = this.g.floatTensor(`${options.stem ?? 'conv'}.w`, [cout, cin / group, k, k], this.rng.fill((cout * cin * k * k) / group, Math.sqrt(6 / fanIn)));
    const inputs = [x, w];
    if (options.bias === true) inputs.push(this.g.floatTensor(`${options.stem ?? 'conv'}.b`, [cout], this.rng.fill(cout, 0.01)));
    const pad = options.pad ?? (k - 1) / 2;
    const stride = options.stride ?? 1;
    return this.g.node('Conv', inputs, { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group }, options.stem ?? 'conv');
  }

  bn(x: string, c: number, stem = 'bn'): string {
    const scale = this.g.floatTensor(
      `${stem}.scale`,
      [c],
      Float32Array.from(this.rng.fill(c, 0.1), (v) => 0.5 + Math.abs(v)),
    );
    const bias = this.g.floatTensor(`${stem}.bias`, [c], this.rng.fill(c, 0.02));
    const mean = this.g.floatTensor(`${stem}.mean`, [c], this.rng.fill(c, 0.02));
    const variance = this.g.floatTensor(
      `${stem}.var`,
      [c],
      Float32Array.from(this.rng.fill(c, 0.2), (v) => 1 + v),
    );
    return this.g.node('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: 1e-5 }, stem);
  }

  relu(x: string): string {
    return this.g.node('Relu', [x]);
  }

  relu6(x: string): string {
    const lo = this.g.floatTensor('clip.min', [], Float32Array.of(0));
    const hi = this.g.floatTensor('clip.max', [], Float32Array.of(6));
    return this.g.node('Clip', [x, lo, hi]);
  }

  convBnRelu(x: string, cin: number, cout: number, k: number, stride = 1): string {
    return this.relu(this.bn(this.conv(x, cin, cout, k, { stride }), cout));
  }

  /** A fully-connected layer (Gemm, transB) on a [N, inputs] tensor. */
  fc(x: string, inputs: number, outputs: number): string {
    const w = this.g.floatTensor('fc.w', [outputs, inputs], this.rng.fill(outputs * inputs, Math.sqrt(6 / inputs)));
    const b = this.g.floatTensor('fc.b', [outputs], this.rng.fill(outputs, 0.01));
    return this.g.node('Gemm', [x, w, b], { transB: 1 }, 'fc');
  }

  head(x: string, c: number, classes: number): string {
    const pooled = this.g.node('GlobalAveragePool', [x]);
    const flat = this.g.node('Flatten', [pooled], { axis: 1 });
    const w = this.g.floatTensor('fc.w', [classes, c], this.rng.fill(classes * c, Math.sqrt(3 / c)));
    const b = this.g.floatTensor('fc.b', [classes], this.rng.fill(classes, 0.01));
    return this.g.node('Gemm', [flat, w, b], { transB: 1 }, 'logits');
  }

  finish(out: string, dims: Dim[]): GraphBuilder {
    this.g.output(out, dims);
    return this.g;
  }
}

/** Plain VGG-like stack: 3×3 convs, doubling channels at each stride 2. */
function plainStack(size: number, widths: number[]): GraphBuilder {
  const w = BlockWriter.create(`cal-plain-${size}`);
  let x = w.g.input('input', ['N', 3, size, size]);
  let c = 3;
  widths.forEach((width, i) => {
    x = w.convBnRelu(x, c, width, 3, i === 0 ? 1 : 2);
    x = w.convBnRelu(x, width, width, 3);
    c = width;
  });
  return w.finish(w.head(x, c, 100), ['N', 100]);
}

/** Bottleneck residual blocks (1×1 reduce, 3×3, 1×1 expand, identity or projected shortcut). */
function residualStack(size: number, stem: number, stages: Array<{ width: number; blocks: number }>): GraphBuilder {
  const w = BlockWriter.create(`cal-residual-${size}`);
  let x = w.g.input('input', ['N', 3, size, size]);
  x = w.convBnRelu(x, 3, stem, 5, 2);
  let c = stem;
  stages.forEach((stage, s) => {
    const out = stage.width * 4;
    for (let b = 0; b < stage.blocks; b++) {
      const stride = b === 0 && s > 0 ? 2 : 1;
      let y = w.convBnRelu(x, c, stage.width, 1);
      y = w.convBnRelu(y, stage.width, stage.width, 3, stride);
      y = w.bn(w.conv(y, stage.width, out, 1), out);
      const shortcut = b === 0 ? w.bn(w.conv(x, c, out, 1, { stride, pad: 0 }), out) : x;
      x = w.relu(w.g.node('Add', [y, shortcut]));
      c = out;
    }
  });
  return w.finish(w.head(x, c, 200), ['N', 200]);
}

/** Depthwise-separable inverted residuals on an NHWC input (explicit Pad before strided depthwise convs, ReLU6 as Clip). */
function depthwiseStack(size: number, stages: Array<{ width: number; expand: number; blocks: number }>): GraphBuilder {
  const w = BlockWriter.create(`cal-depthwise-${size}`);
  const nhwc = w.g.input('input', ['N', size, size, 3]);
  let x = w.g.node('Transpose', [nhwc], { perm: [0, 3, 1, 2] });
  x = w.relu6(w.bn(w.conv(x, 3, 24, 3, { stride: 2 }), 24));
  let c = 24;
  for (const stage of stages) {
    for (let b = 0; b < stage.blocks; b++) {
      const stride = b === 0 ? 2 : 1;
      const hidden = c * stage.expand;
      let y = w.relu6(w.bn(w.conv(x, c, hidden, 1), hidden));
      if (stride === 2) {
        y = w.g.node('Pad', [y, w.g.int64Tensor('pads', [0, 0, 0, 0, 0, 0, 1, 1])], { mode: 'constant' });
        y = w.conv(y, hidden, hidden, 3, { stride: 2, group: hidden, pad: 0 });
      } else {
        y = w.conv(y, hidden, hidden, 3, { group: hidden });
      }
      y = w.relu6(w.bn(y, hidden));
      y = w.bn(w.conv(y, hidden, stage.width, 1), stage.width);
      x = b > 0 && c === stage.width ? w.g.node('Add', [x, y]) : y;
      c = stage.width;
    }
  }
  x = w.relu6(w.bn(w.conv(x, c, c * 4, 1), c * 4));
  return w.finish(w.head(x, c * 4, 50), ['N', 50]);
}

/** A convolutional stem and a large fully-connected classifier (VGG-style head): Gemm weights dominate. */
function classifierHeavy(): GraphBuilder {
  const w = BlockWriter.create('cal-classifier');
  let x = w.g.input('input', ['N', 3, 64, 64]);
  x = w.convBnRelu(x, 3, 32, 3, 2);
  x = w.convBnRelu(x, 32, 64, 3, 2);
  x = w.convBnRelu(x, 64, 128, 3, 2);
  const pooled = w.g.node('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  const flat = w.g.node('Flatten', [pooled], { axis: 1 });
  const fc1 = w.relu(w.fc(flat, 128 * 4 * 4, 3072));
  const fc2 = w.relu(w.fc(fc1, 3072, 2048));
  return w.finish(w.fc(fc2, 2048, 500), ['N', 500]);
}

/** A few very large 3×3 convolutions with BN on a tiny input: the load copies of big rewritten tensors. */
function bigConvs(count: number, channels: number): GraphBuilder {
  const w = BlockWriter.create(`cal-big-conv-${count}`, 17 + count);
  let x = w.g.input('input', ['N', channels, 8, 8]);
  for (let i = 0; i < count; i++) x = w.convBnRelu(x, channels, channels, 3);
  return w.finish(x, ['N', channels, 8, 8]);
}

/** A multi-layer perceptron: fully-connected weights only (prepacked, not rewritten). */
function perceptron(sizes: number[]): GraphBuilder {
  const w = BlockWriter.create('cal-mlp', 19);
  let x = w.g.input('input', ['N', sizes[0] ?? 1]);
  for (let i = 1; i < sizes.length; i++) {
    x = w.fc(x, sizes[i - 1] ?? 1, sizes[i] ?? 1);
    if (i < sizes.length - 1) x = w.relu(x);
  }
  return w.finish(x, ['N', sizes.at(-1) ?? 1]);
}

export const CALIBRATION_MODELS: readonly CalibrationModel[] = [
  { name: 'cal-plain', describe: 'VGG-like 3×3 conv stack, 160×160 NCHW', batches: [1, 4, 16], build: () => plainStack(160, [32, 64, 128, 256]) },
  {
    name: 'cal-residual',
    describe: 'bottleneck residual blocks, 192×192 NCHW',
    batches: [1, 4, 16],
    build: () =>
      residualStack(192, 32, [
        { width: 32, blocks: 2 },
        { width: 64, blocks: 2 },
        { width: 128, blocks: 2 },
      ]),
  },
  {
    name: 'cal-residual-wide',
    describe: 'wider and deeper bottleneck residual blocks, 160×160 NCHW',
    batches: [1, 8],
    build: () =>
      residualStack(160, 48, [
        { width: 48, blocks: 2 },
        { width: 96, blocks: 2 },
        { width: 192, blocks: 3 },
        { width: 384, blocks: 2 },
      ]),
  },
  {
    name: 'cal-depthwise',
    describe: 'depthwise-separable inverted residuals, 192×192 NHWC',
    batches: [1, 4, 16],
    build: () =>
      depthwiseStack(192, [
        { width: 24, expand: 4, blocks: 2 },
        { width: 40, expand: 6, blocks: 2 },
        { width: 80, expand: 6, blocks: 2 },
      ]),
  },
  { name: 'cal-classifier', describe: 'small conv stem, 3-layer fully-connected classifier (8.7 M Gemm weights)', batches: [1, 8], build: classifierHeavy },
  { name: 'cal-big-conv-1', describe: 'one 512×512×3×3 conv + BN on 8×8 (a single 9 MiB rewritten tensor)', batches: [1, 4], build: () => bigConvs(1, 512) },
  { name: 'cal-big-conv-3', describe: 'three 512×512×3×3 convs + BN on 8×8', batches: [1, 4], build: () => bigConvs(3, 512) },
  { name: 'cal-mlp', describe: 'perceptron 1024→4096→4096→10 (80 MiB of Gemm weights)', batches: [1, 8], build: () => perceptron([1024, 4096, 4096, 10]) },
];

/** VGG-style: a few very large 3×3 convolutions (up to 512×512×3×3) on a small input. */
function hugeConvStack(size: number, widths: number[]): GraphBuilder {
  const w = BlockWriter.create(`val-vgg-${size}`, 11);
  let x = w.g.input('input', ['N', 3, size, size]);
  let c = 3;
  widths.forEach((width, i) => {
    if (i > 0) x = w.g.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
    x = w.convBnRelu(x, c, width, 3);
    x = w.convBnRelu(x, width, width, 3);
    c = width;
  });
  return w.finish(w.head(x, c, 100), ['N', 100]);
}

/** A small U-Net: 3×3 encoder with MaxPool, nearest Resize ×2 up, Concat with the skip, 1×1 segmentation head. */
function unet(size: number, widths: number[], classes: number): GraphBuilder {
  const w = BlockWriter.create(`val-unet-${size}`, 13);
  let x = w.g.input('input', ['N', 3, size, size]);
  let c = 3;
  const skips: Array<{ x: string; c: number }> = [];
  widths.forEach((width, i) => {
    if (i > 0) {
      skips.push({ x, c });
      x = w.g.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
    }
    x = w.convBnRelu(x, c, width, 3);
    if (i < widths.length - 1) x = w.convBnRelu(x, width, width, 3);
    c = width;
  });
  for (const skip of skips.reverse()) {
    const up = w.g.node('Resize', [x, '', w.g.floatTensor('scales', [4], Float32Array.of(1, 1, 2, 2))], { mode: 'nearest' }, 'up');
    x = w.g.node('Concat', [up, skip.x], { axis: 1 });
    x = w.convBnRelu(x, c + skip.c, skip.c, 3);
    c = skip.c;
  }
  const logits = w.conv(x, c, classes, 1, { bias: true, stem: 'seg' });
  return w.finish(logits, ['N', classes, size, size]);
}

/**
 * Held-out generated models: NEVER used to fit any constant (calibrate.ts reads only
 * CALIBRATION_MODELS). `npm run bench:planner` measures them after calibrating to show how
 * far the estimate generalises beyond the calibration set. `val-vgg` is the kind of model
 * left out of the calibration set (a few very large 3×3 convolutions, whose weights cost
 * more after load than ResNet-like ones); `val-unet` is an architecture the calibration set
 * does not have (skip Concat, Resize, full-resolution output).
 */
export const VALIDATION_MODELS: readonly CalibrationModel[] = [
  {
    name: 'val-vgg',
    describe: 'VGG-style 3×3 stack with MaxPool, channels 64…512 (three 512×512×3×3 convs), 64×64 NCHW',
    batches: [1, 8],
    build: () => hugeConvStack(64, [64, 128, 256, 512, 512]),
  },
  {
    name: 'val-unet',
    describe: 'small U-Net: 3×3 encoder 32…256, Resize ×2 + Concat skips, 1×1 head, 128×128 NCHW',
    batches: [1, 8],
    build: () => unet(128, [32, 64, 128, 256], 2),
  },
];
