// Imports a TF.js *layers* model (a Keras model converted by tensorflowjs_converter, or saved
// by tfjs-layers itself) into an ONNX graph (opset 13) that onnxruntime can run.
//
// Layout: the ONNX model keeps Keras's channels_last input [N, H, W, C] (dynamic batch 'N').
// Internally, rank-4 tensors are carried as NCHW (what ONNX's Conv/Pool/BatchNormalization
// expect); a tensor is transposed back to NHWC only where Keras semantics need it (Flatten,
// Reshape, Dense on rank-4 inputs, the graph output). Each value remembers both layouts once
// computed, so no transpose is ever emitted twice.
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { GraphBuilder, onnx, type AttrValue, type Dim } from '../../onnx/graph-builder.js';
import { ServeError } from '../../common/errors.js';

// ---------------------------------------------------------------------------------------------
// Artifacts

/** One entry of a TF.js weights manifest (`weightsManifest[i].weights[j]`). */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64';
  /** Present when the converter quantized the weight (value = q * scale + min, or float16). */
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number };
}

export interface TfjsArtifacts {
  /** The parsed `modelTopology` (Keras model JSON); validated by importTfjsLayers. */
  modelTopology: unknown;
  /** All weight specs of all manifest groups, in manifest order. */
  weightSpecs: WeightSpec[];
  /** The shards of all groups concatenated in manifest order (matches weightSpecs). */
  weightData: Uint8Array;
}

export interface DecodedWeight {
  shape: number[];
  values: Float32Array;
}

export interface ImportedModel {
  /** Serialized ONNX ModelProto. */
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** Keras (channels_last) input shape, batch as 'N'. */
  inputShape: (number | string)[];
  /** Keras output shape, batch as 'N'. */
  outputShape: (number | string)[];
  /** Number of Keras layers in the topology (InputLayer included). */
  layerCount: number;
}

export interface ImportOptions {
  inputName?: string;
  outputName?: string;
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

/**
 * Reads a TF.js layers model from `dir`: either the standard layout (`model.json` plus the
 * shard files named by its weightsManifest), or the nsfwjs bundle layout (`model.min.js`
 * exporting `{modelTopology, weightsManifest}` and `<path>.min.js` shards exporting base64).
 */
export async function readTfjsArtifacts(dir: string): Promise<TfjsArtifacts> {
  const jsonPath = join(dir, 'model.json');
  const bundlePath = join(dir, 'model.min.js');
  if (await exists(jsonPath)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(jsonPath, 'utf8'));
    } catch (err) {
      throw new ServeError('IMPORT_FAILED', `${jsonPath}: invalid JSON (${errorMessage(err)})`, { cause: err });
    }
    const model = asObject(parsed, jsonPath);
    const groups = parseManifest(model.weightsManifest ?? [], jsonPath);
    const shards: Uint8Array[] = [];
    for (const group of groups) {
      for (const path of group.paths) {
        const shardPath = join(dir, path);
        try {
          shards.push(new Uint8Array(await readFile(shardPath)));
        } catch (err) {
          throw new ServeError('IMPORT_FAILED', `${jsonPath}: cannot read weight shard ${shardPath} (${errorMessage(err)})`, { cause: err });
        }
      }
    }
    return { modelTopology: model.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData: concat(shards) };
  }
  if (await exists(bundlePath)) {
    const require = createRequire(import.meta.url);
    const loadModule = (path: string): unknown => {
      const abs = resolve(path);
      let resolved: string | undefined;
      try {
        resolved = require.resolve(abs);
        return require(resolved) as unknown;
      } catch (err) {
        throw new ServeError('IMPORT_FAILED', `${abs}: cannot load bundled module (${errorMessage(err)})`, { cause: err });
      } finally {
        // The shard modules hold megabytes of base64: don't keep them in require's cache.
        if (resolved !== undefined) delete require.cache[resolved];
      }
    };
    const model = asObject(unwrapDefault(loadModule(bundlePath)), bundlePath);
    const groups = parseManifest(model.weightsManifest ?? [], bundlePath);
    const shards: Uint8Array[] = [];
    for (const group of groups) {
      for (const path of group.paths) {
        const shardPath = join(dir, `${path}.min.js`);
        const base64 = unwrapDefault(loadModule(shardPath));
        if (typeof base64 !== 'string') {
          throw new ServeError('IMPORT_FAILED', `${shardPath}: expected the module to export a base64 string, got ${typeof base64}`);
        }
        shards.push(new Uint8Array(Buffer.from(base64, 'base64')));
      }
    }
    return { modelTopology: model.modelTopology, weightSpecs: groups.flatMap((g) => g.weights), weightData: concat(shards) };
  }
  throw new ServeError('IMPORT_FAILED', `${dir}: not a TF.js layers model directory (expected model.json, or an nsfwjs-style model.min.js bundle)`);
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/**
 * Decodes every weight to float32, exactly as tfjs-core's io.decodeWeights does
 * (uint8/uint16: `q * scale + min` computed in double precision, rounded once to float32).
 */
export function dequantizeWeights(artifacts: Pick<TfjsArtifacts, 'weightSpecs' | 'weightData'>): Map<string, DecodedWeight> {
  const { weightSpecs, weightData } = artifacts;
  const view = new DataView(weightData.buffer, weightData.byteOffset, weightData.byteLength);
  const out = new Map<string, DecodedWeight>();
  let offset = 0;
  for (const spec of weightSpecs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    const storage = q ? q.dtype : spec.dtype;
    const bytesPer = BYTES_PER_ELEMENT[storage];
    if (bytesPer === undefined) throw new ServeError('IMPORT_FAILED', `weight ${spec.name}: unsupported storage dtype '${storage}'`);
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
      throw new ServeError('IMPORT_FAILED', `weight ${spec.name}: unsupported dtype '${spec.dtype}'`);
    }
    const byteLength = size * bytesPer;
    if (offset + byteLength > weightData.byteLength) {
      throw new ServeError(
        'IMPORT_FAILED',
        `weight ${spec.name}: needs bytes [${offset}, ${offset + byteLength}) but the weight data has only ${weightData.byteLength}`,
      );
    }
    const values = new Float32Array(size);
    if (q) {
      if (q.dtype === 'uint8' || q.dtype === 'uint16') {
        const { min, scale } = q;
        if (typeof min !== 'number' || typeof scale !== 'number') {
          throw new ServeError('IMPORT_FAILED', `weight ${spec.name}: ${q.dtype} quantization without min and scale`);
        }
        const isInt = spec.dtype === 'int32';
        for (let i = 0; i < size; i++) {
          const v = q.dtype === 'uint8' ? view.getUint8(offset + i) : view.getUint16(offset + 2 * i, true);
          const x = v * scale + min;
          values[i] = isInt ? Math.round(x) : x;
        }
      } else if (q.dtype === 'float16') {
        if (spec.dtype !== 'float32') throw new ServeError('IMPORT_FAILED', `weight ${spec.name}: float16 quantization of a ${spec.dtype} weight`);
        for (let i = 0; i < size; i++) values[i] = halfToFloat(view.getUint16(offset + 2 * i, true));
      } else {
        throw new ServeError('IMPORT_FAILED', `weight ${spec.name}: unsupported quantization dtype '${String((q as { dtype: unknown }).dtype)}'`);
      }
    } else if (spec.dtype === 'float32') {
      for (let i = 0; i < size; i++) values[i] = view.getFloat32(offset + 4 * i, true);
    } else {
      for (let i = 0; i < size; i++) values[i] = view.getInt32(offset + 4 * i, true);
    }
    offset += byteLength;
    out.set(spec.name, { shape: [...spec.shape], values });
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// Topology

type Json = Record<string, unknown>;

interface InboundRef {
  layer: string;
  node: number;
  tensor: number;
}

interface LayerDef {
  name: string;
  className: string;
  config: Json;
  /** inbound[nodeIndex] = the input tensors of that call of the layer. */
  inbound: InboundRef[][];
}

interface ParsedTopology {
  name: string;
  /** Layers as listed in the topology (for Sequential, before synthesizing an InputLayer). */
  layerCount: number;
  layers: LayerDef[];
  inputs: InboundRef[];
  outputs: InboundRef[];
  kerasVersion: string;
}

function parseTopology(topology: unknown): ParsedTopology {
  const top = asObject(topology, 'modelTopology');
  const kerasVersion = typeof top.keras_version === 'string' ? top.keras_version : 'unknown';
  const modelConfig = asObject(top.model_config ?? top, 'modelTopology.model_config');
  const className = modelConfig.class_name;
  if (className === 'Sequential') {
    const cfg = modelConfig.config;
    const seqName = typeof cfg === 'object' && cfg !== null && 'name' in cfg && typeof cfg.name === 'string' ? cfg.name : 'sequential';
    const rawLayers = Array.isArray(cfg) ? cfg : asArray(asObject(cfg, 'Sequential config').layers, 'Sequential config.layers');
    const layers = rawLayers.map((l, i) => parseLayer(l, i));
    if (layers.length === 0) throw new ServeError('IMPORT_FAILED', 'Sequential model has no layers');
    // Chain the layers; synthesize an InputLayer from the first layer's batch_input_shape.
    const chained: LayerDef[] = [];
    let prev: string;
    const first = layers[0] as LayerDef;
    if (first.className === 'InputLayer') {
      chained.push({ ...first, inbound: [] });
      prev = first.name;
    } else {
      const shape = first.config.batch_input_shape;
      if (shape === undefined) throw new ServeError('IMPORT_FAILED', `Sequential model: first layer "${first.name}" has no batch_input_shape`);
      prev = `${first.name}__input`;
      chained.push({ name: prev, className: 'InputLayer', config: { batch_input_shape: shape, dtype: first.config.dtype ?? 'float32' }, inbound: [] });
      chained.push({ ...first, inbound: [[{ layer: prev, node: 0, tensor: 0 }]] });
      prev = first.name;
    }
    for (const layer of layers.slice(1)) {
      chained.push({ ...layer, inbound: [[{ layer: prev, node: 0, tensor: 0 }]] });
      prev = layer.name;
    }
    return {
      name: seqName,
      layerCount: layers.length,
      layers: chained,
      inputs: [{ layer: (chained[0] as LayerDef).name, node: 0, tensor: 0 }],
      outputs: [{ layer: prev, node: 0, tensor: 0 }],
      kerasVersion,
    };
  }
  if (className === 'Model' || className === 'Functional') {
    const cfg = asObject(modelConfig.config, `${className} config`);
    const layers = asArray(cfg.layers, `${className} config.layers`).map((l, i) => parseLayer(l, i));
    const refs = (v: unknown, what: string): InboundRef[] => asArray(v, what).map((r) => parseRef(r, what));
    return {
      name: typeof cfg.name === 'string' ? cfg.name : 'model',
      layerCount: layers.length,
      layers,
      inputs: refs(cfg.input_layers, 'input_layers'),
      outputs: refs(cfg.output_layers, 'output_layers'),
      kerasVersion,
    };
  }
  throw new ServeError('IMPORT_FAILED', `modelTopology: unsupported model class '${String(className)}' (expected Sequential, Model or Functional)`);
}

function parseLayer(raw: unknown, index: number): LayerDef {
  const l = asObject(raw, `layer #${index}`);
  const config = asObject(l.config ?? {}, `layer #${index} config`);
  const name = typeof l.name === 'string' ? l.name : typeof config.name === 'string' ? config.name : `layer_${index}`;
  const className = l.class_name;
  if (typeof className !== 'string') throw new ServeError('IMPORT_FAILED', `layer "${name}": missing class_name`);
  const inbound = asArray(l.inbound_nodes ?? [], `layer "${name}" inbound_nodes`).map((node) => {
    if (!Array.isArray(node)) {
      throw new ServeError('IMPORT_FAILED', `layer "${name}" (${className}): unsupported inbound_nodes format (Keras 3 models are not supported)`);
    }
    return node.map((r) => parseRef(r, `layer "${name}" inbound_nodes`));
  });
  return { name, className, config, inbound };
}

function parseRef(raw: unknown, what: string): InboundRef {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') throw new ServeError('IMPORT_FAILED', `${what}: malformed tensor reference ${JSON.stringify(raw)}`);
  const node = typeof raw[1] === 'number' ? raw[1] : 0;
  const tensor = typeof raw[2] === 'number' ? raw[2] : 0;
  return { layer: raw[0], node, tensor };
}

function parseManifest(raw: unknown, what: string): ManifestGroup[] {
  return asArray(raw, `${what}: weightsManifest`).map((g, gi) => {
    const group = asObject(g, `${what}: weightsManifest[${gi}]`);
    const paths = asArray(group.paths, `${what}: weightsManifest[${gi}].paths`).map((p) => {
      if (typeof p !== 'string') throw new ServeError('IMPORT_FAILED', `${what}: weightsManifest[${gi}].paths must be strings`);
      return p;
    });
    const weights = asArray(group.weights, `${what}: weightsManifest[${gi}].weights`).map((w) => parseWeightSpec(w, what));
    return { paths, weights };
  });
}

function parseWeightSpec(raw: unknown, what: string): WeightSpec {
  const w = asObject(raw, `${what}: weight spec`);
  const { name, shape, dtype, quantization } = w;
  if (typeof name !== 'string') throw new ServeError('IMPORT_FAILED', `${what}: weight spec without a name`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new ServeError('IMPORT_FAILED', `${what}: weight ${name} has an invalid shape`);
  }
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool' && dtype !== 'string' && dtype !== 'complex64') {
    throw new ServeError('IMPORT_FAILED', `${what}: weight ${name} has unknown dtype ${String(dtype)}`);
  }
  const spec: WeightSpec = { name, shape: shape as number[], dtype };
  if (quantization !== undefined && quantization !== null) {
    const q = asObject(quantization, `${what}: weight ${name} quantization`);
    if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') {
      throw new ServeError('IMPORT_FAILED', `${what}: weight ${name} has unsupported quantization dtype ${String(q.dtype)}`);
    }
    spec.quantization = { dtype: q.dtype };
    if (typeof q.min === 'number') spec.quantization.min = q.min;
    if (typeof q.scale === 'number') spec.quantization.scale = q.scale;
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Conversion

/** Keras shape with the batch dimension first; null = unknown. */
type Shape = (number | null)[];

/** A tensor of the Keras graph, as an ONNX value (or two: one per layout). */
interface Value {
  /** Keras (channels_last) shape, batch first. */
  shape: Shape;
  /** Value name in Keras layout (NHWC for rank 4), when materialized. */
  keras?: string;
  /** Value name in NCHW layout (rank 4 only), when materialized. */
  nchw?: string;
}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
/** Keras axis (N, H, W, C) -> its position in NCHW. */
const KERAS_AXIS_TO_NCHW = [0, 2, 3, 1];

class Converter {
  readonly b: GraphBuilder;
  private readonly scalars = new Map<number, string>();

  constructor(
    graphName: string,
    private readonly weights: Map<string, DecodedWeight>,
  ) {
    this.b = new GraphBuilder(graphName);
  }

  /** The value in Keras layout (transposing NCHW -> NHWC at most once). */
  keras(v: Value): string {
    if (v.keras === undefined) {
      if (v.nchw === undefined) throw new ServeError('IMPORT_FAILED', 'internal: value without a name');
      v.keras = this.b.node('Transpose', [v.nchw], { perm: TO_NHWC }, `${v.nchw}_nhwc`);
    }
    return v.keras;
  }

  /** The rank-4 value in NCHW layout (transposing NHWC -> NCHW at most once). */
  nchw(v: Value): string {
    if (v.shape.length !== 4) throw new ServeError('IMPORT_FAILED', `expected a rank-4 input, got shape ${fmtShape(v.shape)}`);
    if (v.nchw === undefined) {
      if (v.keras === undefined) throw new ServeError('IMPORT_FAILED', 'internal: value without a name');
      v.nchw = this.b.node('Transpose', [v.keras], { perm: TO_NCHW }, `${v.keras}_nchw`);
    }
    return v.nchw;
  }

  /** Whether `v` is best consumed as NCHW (rank 4 and already materialized that way). */
  prefersNchw(v: Value): boolean {
    return v.shape.length === 4 && (v.nchw !== undefined || v.keras === undefined);
  }

  /** Looks up `<layer>/<weight>` (or a unique `.../<layer>/<weight>`) and checks its shape. */
  weight(layer: string, weight: string, shape: number[]): Float32Array {
    const w = this.findWeight(layer, weight);
    if (!w) throw new ServeError('IMPORT_FAILED', `missing weight ${layer}/${weight}`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new ServeError('IMPORT_FAILED', `weight ${layer}/${weight} has shape [${w.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return w.values;
  }

  optionalWeight(layer: string, weight: string, shape: number[]): Float32Array | undefined {
    return this.findWeight(layer, weight) ? this.weight(layer, weight, shape) : undefined;
  }

  /** Weight shape, for layers whose weight shapes depend on their config (e.g. Dense on a dynamic input). */
  weightShape(layer: string, weight: string): number[] {
    const w = this.findWeight(layer, weight);
    if (!w) throw new ServeError('IMPORT_FAILED', `missing weight ${layer}/${weight}`);
    return w.shape;
  }

  private findWeight(layer: string, weight: string): DecodedWeight | undefined {
    const exact = `${layer}/${weight}`;
    let w = this.weights.get(exact);
    if (!w) {
      const suffix = `/${exact}`;
      const matches = [...this.weights.keys()].filter((k) => k.endsWith(suffix));
      if (matches.length > 1) throw new ServeError('IMPORT_FAILED', `weight ${exact} is ambiguous: ${matches.join(', ')}`);
      if (matches.length === 1) w = this.weights.get(matches[0] as string);
    }
    return w;
  }

  /** A float scalar initializer, shared by every use of the same value. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (name === undefined) {
      name = this.b.floatTensor(`const_${value}`, [], new Float32Array([value]));
      this.scalars.set(value, name);
    }
    return name;
  }

  /** Applies a Keras activation by name; keeps the input's layout. */
  activation(x: Value, activation: unknown, stem: string): Value {
    const act = activation === undefined || activation === null ? 'linear' : activation;
    if (typeof act !== 'string') throw new ServeError('IMPORT_FAILED', `unsupported activation ${JSON.stringify(act)}`);
    if (act === 'linear') return x;
    const nchw = this.prefersNchw(x);
    const name = nchw ? this.nchw(x) : this.keras(x);
    const wrap = (out: string): Value => (nchw ? { shape: x.shape, nchw: out } : { shape: x.shape, keras: out });
    // Keras softmax-like activations act on the last (channel) axis.
    const channelAxis = nchw ? 1 : -1;
    switch (act) {
      case 'relu':
        return wrap(this.b.node('Relu', [name], {}, stem));
      case 'relu6':
        return wrap(this.b.node('Clip', [name, this.scalar(0), this.scalar(6)], {}, stem));
      case 'sigmoid':
        return wrap(this.b.node('Sigmoid', [name], {}, stem));
      case 'tanh':
        return wrap(this.b.node('Tanh', [name], {}, stem));
      case 'softmax':
        return wrap(this.b.node('Softmax', [name], { axis: channelAxis }, stem));
      case 'log_softmax':
      case 'logsoftmax':
        return wrap(this.b.node('LogSoftmax', [name], { axis: channelAxis }, stem));
      case 'elu':
        return wrap(this.b.node('Elu', [name], { alpha: { float: 1 } }, stem));
      case 'selu':
        return wrap(this.b.node('Selu', [name], {}, stem));
      case 'softplus':
        return wrap(this.b.node('Softplus', [name], {}, stem));
      case 'softsign':
        return wrap(this.b.node('Softsign', [name], {}, stem));
      case 'hard_sigmoid':
      case 'hardsigmoid':
        return wrap(this.b.node('HardSigmoid', [name], { alpha: { float: 0.2 }, beta: { float: 0.5 } }, stem));
      case 'swish':
      case 'silu': {
        const sig = this.b.node('Sigmoid', [name], {}, `${stem}/sigmoid`);
        return wrap(this.b.node('Mul', [name, sig], {}, stem));
      }
      default:
        throw new ServeError('IMPORT_FAILED', `unsupported activation '${act}'`);
    }
  }
}

type LayerFn = (c: Converter, layer: LayerDef, inputs: Value[]) => Value;

const LAYERS: Record<string, LayerFn> = {
  Conv2D: convConv2D,
  Convolution2D: convConv2D,
  DepthwiseConv2D: convDepthwise,
  SeparableConv2D: convSeparable,
  SeparableConvolution2D: convSeparable,
  Dense: convDense,
  BatchNormalization: convBatchNorm,
  Activation: (c, l, [x]) => c.activation(one(x), l.config.activation, l.name),
  ReLU: convReLU,
  LeakyReLU: (c, l, [x]) => {
    const v = one(x);
    const alpha = optNumber(l.config, 'alpha') ?? 0.3;
    return sameLayout(c, v, (n) => c.b.node('LeakyRelu', [n], { alpha: { float: alpha } }, l.name));
  },
  ELU: (c, l, [x]) => {
    const v = one(x);
    const alpha = optNumber(l.config, 'alpha') ?? 1;
    return sameLayout(c, v, (n) => c.b.node('Elu', [n], { alpha: { float: alpha } }, l.name));
  },
  Softmax: (c, l, [x]) => {
    const v = one(x);
    const axis = normalizeAxis(l.config.axis ?? -1, v.shape.length);
    if (c.prefersNchw(v)) {
      return { shape: v.shape, nchw: c.b.node('Softmax', [c.nchw(v)], { axis: kerasAxisToNchw(axis) }, l.name) };
    }
    return { shape: v.shape, keras: c.b.node('Softmax', [c.keras(v)], { axis }, l.name) };
  },
  ZeroPadding2D: convZeroPadding,
  Cropping2D: convCropping,
  MaxPooling2D: (c, l, [x]) => convPool(c, l, one(x), 'MaxPool'),
  MaxPool2D: (c, l, [x]) => convPool(c, l, one(x), 'MaxPool'),
  AveragePooling2D: (c, l, [x]) => convPool(c, l, one(x), 'AveragePool'),
  AvgPool2D: (c, l, [x]) => convPool(c, l, one(x), 'AveragePool'),
  GlobalAveragePooling2D: (c, l, [x]) => convGlobalPool(c, l, one(x), 'GlobalAveragePool'),
  GlobalAvgPool2D: (c, l, [x]) => convGlobalPool(c, l, one(x), 'GlobalAveragePool'),
  GlobalMaxPooling2D: (c, l, [x]) => convGlobalPool(c, l, one(x), 'GlobalMaxPool'),
  GlobalMaxPool2D: (c, l, [x]) => convGlobalPool(c, l, one(x), 'GlobalMaxPool'),
  Flatten: convFlatten,
  Reshape: convReshape,
  Add: (c, l, xs) => convMerge(c, l, xs, 'Sum'),
  Subtract: (c, l, xs) => {
    if (xs.length !== 2) throw new ServeError('IMPORT_FAILED', `expects exactly 2 inputs, got ${xs.length}`);
    return convMerge(c, l, xs, 'Sub');
  },
  Multiply: (c, l, xs) => convMerge(c, l, xs, 'Mul'),
  Average: (c, l, xs) => convMerge(c, l, xs, 'Mean'),
  Maximum: (c, l, xs) => convMerge(c, l, xs, 'Max'),
  Minimum: (c, l, xs) => convMerge(c, l, xs, 'Min'),
  Concatenate: convConcat,
  // Identity at inference time.
  Dropout: (_c, _l, [x]) => one(x),
  SpatialDropout2D: (_c, _l, [x]) => one(x),
  AlphaDropout: (_c, _l, [x]) => one(x),
  GaussianDropout: (_c, _l, [x]) => one(x),
  GaussianNoise: (_c, _l, [x]) => one(x),
  ActivityRegularization: (_c, _l, [x]) => one(x),
};

/** Converts the Keras topology + weights to ONNX. */
export function importTfjsLayers(artifacts: TfjsArtifacts, options: ImportOptions = {}): ImportedModel {
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  if (inputName === outputName) throw new ServeError('IMPORT_FAILED', `input and output names must differ (both '${inputName}')`);
  const topo = parseTopology(artifacts.modelTopology);
  const weights = dequantizeWeights(artifacts);

  if (topo.inputs.length !== 1) throw new ServeError('IMPORT_FAILED', `expected a single-input model, got ${topo.inputs.length} inputs`);
  if (topo.outputs.length !== 1) throw new ServeError('IMPORT_FAILED', `expected a single-output model, got ${topo.outputs.length} outputs`);
  const byName = new Map<string, LayerDef>();
  for (const l of topo.layers) {
    if (byName.has(l.name)) throw new ServeError('IMPORT_FAILED', `duplicate layer name "${l.name}"`);
    byName.set(l.name, l);
  }
  const inputRef = topo.inputs[0] as InboundRef;
  const inputLayer = byName.get(inputRef.layer);
  if (!inputLayer || inputLayer.className !== 'InputLayer') {
    throw new ServeError('IMPORT_FAILED', `model input "${inputRef.layer}" is not an InputLayer`);
  }
  const batchShape = inputLayer.config.batch_input_shape;
  if (!Array.isArray(batchShape) || batchShape.length < 2) {
    throw new ServeError('IMPORT_FAILED', `InputLayer "${inputLayer.name}": missing or invalid batch_input_shape`);
  }
  const dtype = inputLayer.config.dtype;
  if (dtype !== undefined && dtype !== null && dtype !== 'float32') {
    throw new ServeError('IMPORT_FAILED', `InputLayer "${inputLayer.name}": unsupported input dtype ${JSON.stringify(dtype)} (only float32)`);
  }
  const inShape: Shape = batchShape.map((d, i) => (i > 0 && typeof d === 'number' ? d : null));
  const inDims: Dim[] = inShape.map((d, i) => d ?? (i === 0 ? 'N' : (['N', 'H', 'W', 'C'][i] ?? `d${i}`)));

  const c = new Converter(topo.name, weights);
  c.b.input(inputName, inDims);
  if (c.b.uniqueName(outputName) !== outputName) throw new ServeError('IMPORT_FAILED', `cannot reserve output name '${outputName}'`);

  const memo = new Map<string, Value[]>();
  memo.set(`${inputLayer.name}#0`, [{ shape: inShape, keras: inputName }]);
  const visiting = new Set<string>();

  const resolveRef = (ref: InboundRef): Value => {
    const key = `${ref.layer}#${ref.node}`;
    let outs = memo.get(key);
    if (!outs) {
      const layer = byName.get(ref.layer);
      if (!layer) throw new ServeError('IMPORT_FAILED', `reference to unknown layer "${ref.layer}"`);
      if (layer.className === 'InputLayer')
        throw new ServeError('IMPORT_FAILED', `InputLayer "${layer.name}" is not the model input (multi-input models are not supported)`);
      if (visiting.has(key)) throw new ServeError('IMPORT_FAILED', `cycle through layer "${layer.name}"`);
      const inbound = layer.inbound[ref.node];
      if (!inbound) throw new ServeError('IMPORT_FAILED', `layer "${layer.name}" (${layer.className}) has no inbound node #${ref.node}`);
      visiting.add(key);
      const inputs = inbound.map(resolveRef);
      visiting.delete(key);
      const fn = LAYERS[layer.className];
      if (!fn) {
        throw new ServeError('IMPORT_FAILED', `unsupported layer "${layer.name}" of class "${layer.className}" (supported: ${Object.keys(LAYERS).join(', ')})`);
      }
      try {
        checkChannelsLast(layer.config);
        outs = [fn(c, layer, inputs)];
      } catch (err) {
        throw new ServeError('IMPORT_FAILED', `layer "${layer.name}" (${layer.className}): ${errorMessage(err)}`, { cause: err });
      }
      memo.set(key, outs);
    }
    const out = outs[ref.tensor];
    if (!out) throw new ServeError('IMPORT_FAILED', `layer "${ref.layer}" has no output tensor #${ref.tensor}`);
    return out;
  };

  const result = resolveRef(topo.outputs[0] as InboundRef);
  // The graph output is in Keras layout; an Identity gives it the requested name.
  const finalName = c.b.node('Identity', [c.keras(result)], {}, `${outputName}__final`);
  const outDims: Dim[] = result.shape.map((d, i) => d ?? (i === 0 ? 'N' : `${outputName}_d${i}`));
  c.b.output(outputName, outDims);

  const model = c.b.toModel(`imported from tfjs-layers (keras ${topo.kerasVersion}) by swarmserve`);
  for (const node of model.graph?.node ?? []) {
    if (node.output) node.output = node.output.map((o) => (o === finalName ? outputName : o));
  }
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return { bytes, inputName, outputName, inputShape: inDims, outputShape: outDims, layerCount: topo.layerCount };
}

/** Reads a TF.js layers model from `dir`, converts it and writes the ONNX file to `outPath`. */
export async function importTfjsToFile(dir: string, outPath: string): Promise<ImportedModel> {
  const imported = importTfjsLayers(await readTfjsArtifacts(dir));
  try {
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, imported.bytes);
  } catch (err) {
    throw new ServeError('WRITE_FAILED', `${outPath}: ${errorMessage(err)}`, { cause: err });
  }
  return imported;
}

// ---------------------------------------------------------------------------------------------
// Layer converters

interface SpatialParams {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
}

function spatialParams(cfg: Json, kernelKey: string): SpatialParams {
  const padding = cfg.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') throw new ServeError('IMPORT_FAILED', `unsupported padding ${JSON.stringify(padding)}`);
  const kernel = intPair(cfg[kernelKey], kernelKey);
  return {
    kernel,
    // Keras pooling layers: strides=None means strides=pool_size.
    strides: cfg.strides === null || cfg.strides === undefined ? (kernelKey === 'pool_size' ? kernel : [1, 1]) : intPair(cfg.strides, 'strides'),
    dilations: cfg.dilation_rate === undefined || cfg.dilation_rate === null ? [1, 1] : intPair(cfg.dilation_rate, 'dilation_rate'),
    padding,
  };
}

/**
 * Output sizes and the pads/auto_pad attributes reproducing TF's padding. TF 'same' pads
 * total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), with floor(total/2) before and the rest
 * after (i.e. the extra pixel goes bottom/right), which is ONNX SAME_UPPER. With static sizes
 * the pads are explicit; with dynamic ones auto_pad=SAME_UPPER is used.
 */
function spatialAttrs(p: SpatialParams, h: number | null, w: number | null): { attrs: Record<string, AttrValue>; outH: number | null; outW: number | null } {
  const dims = [h, w];
  const out: (number | null)[] = [];
  const before: number[] = [];
  const after: number[] = [];
  let dynamicSame = false;
  for (let i = 0; i < 2; i++) {
    const size = dims[i] ?? null;
    const k = p.kernel[i] as number;
    const s = p.strides[i] as number;
    const d = p.dilations[i] as number;
    const eff = (k - 1) * d + 1;
    if (p.padding === 'valid') {
      before.push(0);
      after.push(0);
      if (size === null) out.push(null);
      else {
        const o = Math.floor((size - eff) / s) + 1;
        if (o < 1) throw new ServeError('IMPORT_FAILED', `window ${eff} larger than input size ${size}`);
        out.push(o);
      }
    } else if (size === null) {
      dynamicSame = true;
      out.push(null);
    } else {
      const o = Math.ceil(size / s);
      const total = Math.max((o - 1) * s + eff - size, 0);
      before.push(Math.floor(total / 2));
      after.push(total - Math.floor(total / 2));
      out.push(o);
    }
  }
  const attrs: Record<string, AttrValue> = dynamicSame ? { auto_pad: 'SAME_UPPER' } : { pads: [...before, ...after] };
  return { attrs, outH: out[0] ?? null, outW: out[1] ?? null };
}

/** Keras [kh, kw, cinPerGroup, cout] -> ONNX [cout, cinPerGroup, kh, kw]. */
function kerasKernelToOnnx(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = k[src + o] as number;
      }
    }
  }
  return out;
}

function channels(v: Value): number {
  if (v.shape.length !== 4) throw new ServeError('IMPORT_FAILED', `expected a rank-4 (NHWC) input, got shape ${fmtShape(v.shape)}`);
  const ch = v.shape[3];
  if (typeof ch !== 'number') throw new ServeError('IMPORT_FAILED', 'the channel dimension must be static');
  return ch;
}

/** Emits an ONNX Conv on an NCHW value. */
function emitConv(
  c: Converter,
  x: Value,
  stem: string,
  p: SpatialParams,
  kernel: { values: Float32Array; kh: number; kw: number; cinPerGroup: number; cout: number },
  group: number,
  bias: Float32Array | undefined,
): Value {
  const [, h, w] = x.shape;
  const { attrs, outH, outW } = spatialAttrs(p, h ?? null, w ?? null);
  const W = c.b.floatTensor(
    `${stem}/W`,
    [kernel.cout, kernel.cinPerGroup, kernel.kh, kernel.kw],
    kerasKernelToOnnx(kernel.values, kernel.kh, kernel.kw, kernel.cinPerGroup, kernel.cout),
  );
  const inputs = [c.nchw(x), W];
  if (bias) inputs.push(c.b.floatTensor(`${stem}/B`, [kernel.cout], bias));
  const out = c.b.node('Conv', inputs, { kernel_shape: p.kernel, strides: p.strides, dilations: p.dilations, group, ...attrs }, stem);
  return { shape: [null, outH, outW, kernel.cout], nchw: out };
}

function convConv2D(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const p = spatialParams(cfg, 'kernel_size');
  const cin = channels(v);
  const filters = requireInt(cfg, 'filters');
  const groups = optNumber(cfg, 'groups') ?? 1;
  if (cin % groups !== 0 || filters % groups !== 0) throw new ServeError('IMPORT_FAILED', `groups=${groups} does not divide channels ${cin}/${filters}`);
  const [kh, kw] = p.kernel;
  const kernel = c.weight(l.name, 'kernel', [kh, kw, cin / groups, filters]);
  const bias = useBias(cfg) ? c.weight(l.name, 'bias', [filters]) : undefined;
  const conv = emitConv(
    c,
    v,
    `${l.name}${cfg.activation && cfg.activation !== 'linear' ? '/conv' : ''}`,
    p,
    { values: kernel, kh, kw, cinPerGroup: cin / groups, cout: filters },
    groups,
    bias,
  );
  return c.activation(conv, cfg.activation, l.name);
}

function convDepthwise(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const p = spatialParams(cfg, 'kernel_size');
  const cin = channels(v);
  const mult = optNumber(cfg, 'depth_multiplier') ?? 1;
  const [kh, kw] = p.kernel;
  // Keras [kh, kw, cin, mult] read as [kh, kw, 1, cin*mult]: output channel c*mult+m, which is
  // exactly ONNX's grouping with group=cin.
  const kernel = c.weight(l.name, 'depthwise_kernel', [kh, kw, cin, mult]);
  const bias = useBias(cfg) ? c.weight(l.name, 'bias', [cin * mult]) : undefined;
  const conv = emitConv(
    c,
    v,
    `${l.name}${cfg.activation && cfg.activation !== 'linear' ? '/conv' : ''}`,
    p,
    { values: kernel, kh, kw, cinPerGroup: 1, cout: cin * mult },
    cin,
    bias,
  );
  return c.activation(conv, cfg.activation, l.name);
}

function convSeparable(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const p = spatialParams(cfg, 'kernel_size');
  const cin = channels(v);
  const mult = optNumber(cfg, 'depth_multiplier') ?? 1;
  const filters = requireInt(cfg, 'filters');
  const [kh, kw] = p.kernel;
  const dk = c.weight(l.name, 'depthwise_kernel', [kh, kw, cin, mult]);
  const pk = c.weight(l.name, 'pointwise_kernel', [1, 1, cin * mult, filters]);
  const bias = useBias(cfg) ? c.weight(l.name, 'bias', [filters]) : undefined;
  const dw = emitConv(c, v, `${l.name}/depthwise`, p, { values: dk, kh, kw, cinPerGroup: 1, cout: cin * mult }, cin, undefined);
  const pointwise: SpatialParams = { kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padding: 'valid' };
  const pw = emitConv(
    c,
    dw,
    `${l.name}${cfg.activation && cfg.activation !== 'linear' ? '/pointwise' : ''}`,
    pointwise,
    { values: pk, kh: 1, kw: 1, cinPerGroup: cin * mult, cout: filters },
    1,
    bias,
  );
  return c.activation(pw, cfg.activation, l.name);
}

function convDense(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const units = requireInt(cfg, 'units');
  const rank = v.shape.length;
  const last = v.shape[rank - 1];
  const inUnits = typeof last === 'number' ? last : (c.weightShape(l.name, 'kernel')[0] ?? 0);
  const kernel = c.weight(l.name, 'kernel', [inUnits, units]);
  const bias = useBias(cfg) ? c.weight(l.name, 'bias', [units]) : undefined;
  const hasAct = cfg.activation !== undefined && cfg.activation !== null && cfg.activation !== 'linear';
  const stem = hasAct ? `${l.name}/linear` : l.name;
  const K = c.b.floatTensor(`${l.name}/kernel`, [inUnits, units], kernel);
  const B = bias ? c.b.floatTensor(`${l.name}/bias`, [units], bias) : undefined;
  let out: string;
  if (rank === 2 && B) {
    out = c.b.node('Gemm', [c.keras(v), K, B], {}, stem);
  } else {
    const mm = c.b.node('MatMul', [c.keras(v), K], {}, B ? `${l.name}/matmul` : stem);
    out = B ? c.b.node('Add', [mm, B], {}, stem) : mm;
  }
  return c.activation({ shape: [...v.shape.slice(0, -1), units], keras: out }, cfg.activation, l.name);
}

function convBatchNorm(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const rank = v.shape.length;
  const axisList: unknown = cfg.axis;
  const axisRaw: unknown = Array.isArray(axisList) && axisList.length === 1 ? (axisList as unknown[])[0] : (axisList ?? -1);
  const axis = normalizeAxis(axisRaw, rank);
  if (axis !== rank - 1) throw new ServeError('IMPORT_FAILED', `only normalization over the last (channel) axis is supported, got axis ${String(axisRaw)}`);
  if (rank !== 2 && rank !== 4) throw new ServeError('IMPORT_FAILED', `only rank-2 and rank-4 inputs are supported, got shape ${fmtShape(v.shape)}`);
  const ch = v.shape[rank - 1];
  if (typeof ch !== 'number') throw new ServeError('IMPORT_FAILED', 'the channel dimension must be static');
  const epsilon = optNumber(cfg, 'epsilon') ?? 1e-3;
  const scale = cfg.scale === false ? new Float32Array(ch).fill(1) : c.weight(l.name, 'gamma', [ch]);
  const center = cfg.center === false ? new Float32Array(ch) : c.weight(l.name, 'beta', [ch]);
  const mean = c.weight(l.name, 'moving_mean', [ch]);
  const variance = c.weight(l.name, 'moving_variance', [ch]);
  const inputs = [
    rank === 4 ? c.nchw(v) : c.keras(v),
    c.b.floatTensor(`${l.name}/gamma`, [ch], scale),
    c.b.floatTensor(`${l.name}/beta`, [ch], center),
    c.b.floatTensor(`${l.name}/moving_mean`, [ch], mean),
    c.b.floatTensor(`${l.name}/moving_variance`, [ch], variance),
  ];
  const out = c.b.node('BatchNormalization', inputs, { epsilon: { float: epsilon } }, l.name);
  return rank === 4 ? { shape: v.shape, nchw: out } : { shape: v.shape, keras: out };
}

function convReLU(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const cfg = l.config;
  const maxValue = optNumber(cfg, 'max_value');
  const slope = optNumber(cfg, 'negative_slope') ?? 0;
  const threshold = optNumber(cfg, 'threshold') ?? 0;
  if (slope !== 0 || threshold !== 0) {
    throw new ServeError('IMPORT_FAILED', `unsupported config negative_slope=${slope}, threshold=${threshold} (only 0 is supported)`);
  }
  if (maxValue === undefined) return sameLayout(c, v, (n) => c.b.node('Relu', [n], {}, l.name));
  return sameLayout(c, v, (n) => c.b.node('Clip', [n, c.scalar(0), c.scalar(maxValue)], {}, l.name));
}

function padPairs(raw: unknown, what: string): [[number, number], [number, number]] {
  if (typeof raw === 'number')
    return [
      [raw, raw],
      [raw, raw],
    ];
  if (Array.isArray(raw) && raw.length === 2) {
    const [a, b] = raw as unknown[];
    if (typeof a === 'number' && typeof b === 'number')
      return [
        [a, a],
        [b, b],
      ];
    return [intPair(a, what), intPair(b, what)];
  }
  throw new ServeError('IMPORT_FAILED', `invalid ${what} ${JSON.stringify(raw)}`);
}

function convZeroPadding(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  channels(v);
  const [[top, bottom], [left, right]] = padPairs(l.config.padding ?? 1, 'padding');
  const pads = c.b.int64Tensor(`${l.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  const out = c.b.node('Pad', [c.nchw(v), pads], { mode: 'constant' }, l.name);
  const [n, h, w, ch] = v.shape;
  return { shape: [n ?? null, h == null ? null : h + top + bottom, w == null ? null : w + left + right, ch ?? null], nchw: out };
}

function convCropping(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  channels(v);
  const [[top, bottom], [left, right]] = padPairs(l.config.cropping ?? 0, 'cropping');
  const END = Number.MAX_SAFE_INTEGER;
  const starts = c.b.int64Tensor(`${l.name}/starts`, [top, left]);
  const ends = c.b.int64Tensor(`${l.name}/ends`, [bottom > 0 ? -bottom : END, right > 0 ? -right : END]);
  const axes = c.b.int64Tensor(`${l.name}/axes`, [2, 3]);
  const out = c.b.node('Slice', [c.nchw(v), starts, ends, axes], {}, l.name);
  const [n, h, w, ch] = v.shape;
  return { shape: [n ?? null, h == null ? null : h - top - bottom, w == null ? null : w - left - right, ch ?? null], nchw: out };
}

function convPool(c: Converter, l: LayerDef, v: Value, op: 'MaxPool' | 'AveragePool'): Value {
  const ch = channels(v);
  const p = spatialParams(l.config, 'pool_size');
  const [, h, w] = v.shape;
  const { attrs, outH, outW } = spatialAttrs(p, h ?? null, w ?? null);
  // TF's average pooling excludes padded cells from the divisor, as ONNX count_include_pad=0 does.
  const extra: Record<string, AttrValue> = op === 'AveragePool' ? { count_include_pad: 0 } : {};
  const out = c.b.node(op, [c.nchw(v)], { kernel_shape: p.kernel, strides: p.strides, ...attrs, ...extra }, l.name);
  return { shape: [null, outH, outW, ch], nchw: out };
}

function convGlobalPool(c: Converter, l: LayerDef, v: Value, op: 'GlobalAveragePool' | 'GlobalMaxPool'): Value {
  const ch = channels(v);
  const keepdims = l.config.keepdims === true;
  const pooled = c.b.node(op, [c.nchw(v)], {}, keepdims ? l.name : `${l.name}/pool`);
  if (keepdims) return { shape: [null, 1, 1, ch], nchw: pooled };
  return { shape: [null, ch], keras: c.b.node('Flatten', [pooled], { axis: 1 }, l.name) };
}

function convFlatten(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  if (v.shape.length <= 2) return v;
  // Keras flattens channels_last: go back to NHWC first so the element order matches.
  const out = c.b.node('Flatten', [c.keras(v)], { axis: 1 }, l.name);
  return { shape: [null, product(v.shape.slice(1))], keras: out };
}

function convReshape(c: Converter, l: LayerDef, [x]: Value[]): Value {
  const v = one(x);
  const target = asArray(l.config.target_shape, 'target_shape').map((d) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d === 0 || d < -1)
      throw new ServeError('IMPORT_FAILED', `invalid target_shape ${JSON.stringify(l.config.target_shape)}`);
    return d;
  });
  if (target.filter((d) => d === -1).length > 1) throw new ServeError('IMPORT_FAILED', 'target_shape can contain at most one -1');
  const total = product(v.shape.slice(1));
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  let shape: Shape = target.map((d) => (d === -1 ? null : d));
  if (total !== null) {
    if (target.includes(-1)) {
      if (total % known !== 0) throw new ServeError('IMPORT_FAILED', `cannot reshape ${fmtShape(v.shape)} to [${target.join(',')}]`);
      shape = target.map((d) => (d === -1 ? total / known : d));
    } else if (known !== total) {
      throw new ServeError('IMPORT_FAILED', `cannot reshape ${fmtShape(v.shape)} to [${target.join(',')}]`);
    }
  }
  const shapeInit = c.b.int64Tensor(`${l.name}/shape`, [0, ...target]);
  const out = c.b.node('Reshape', [c.keras(v), shapeInit], {}, l.name);
  return { shape: [null, ...shape], keras: out };
}

function convMerge(c: Converter, l: LayerDef, xs: Value[], op: 'Sum' | 'Sub' | 'Mul' | 'Mean' | 'Max' | 'Min'): Value {
  if (xs.length < 2) throw new ServeError('IMPORT_FAILED', `expects at least 2 inputs, got ${xs.length}`);
  const rank = (xs[0] as Value).shape.length;
  if (xs.some((x) => x.shape.length !== rank))
    throw new ServeError('IMPORT_FAILED', `inputs of different ranks: ${xs.map((x) => fmtShape(x.shape)).join(' ')}`);
  const shape = mergeShapes(xs.map((x) => x.shape));
  // Stay in NCHW for rank-4 tensors unless every input is already in Keras layout.
  const useNchw = rank === 4 && xs.some((x) => x.nchw !== undefined);
  const names = xs.map((x) => (useNchw ? c.nchw(x) : c.keras(x)));
  let out: string;
  if (names.length === 2 && (op === 'Sum' || op === 'Mul')) out = c.b.node(op === 'Sum' ? 'Add' : 'Mul', names, {}, l.name);
  else if (op === 'Mul')
    out = names.slice(1).reduce((acc, n, i) => c.b.node('Mul', [acc, n], {}, i === names.length - 2 ? l.name : `${l.name}/mul`), names[0] as string);
  else out = c.b.node(op, names, {}, l.name);
  return useNchw ? { shape, nchw: out } : { shape, keras: out };
}

function convConcat(c: Converter, l: LayerDef, xs: Value[]): Value {
  if (xs.length < 2) throw new ServeError('IMPORT_FAILED', `expects at least 2 inputs, got ${xs.length}`);
  const rank = (xs[0] as Value).shape.length;
  if (xs.some((x) => x.shape.length !== rank))
    throw new ServeError('IMPORT_FAILED', `inputs of different ranks: ${xs.map((x) => fmtShape(x.shape)).join(' ')}`);
  const axis = normalizeAxis(l.config.axis ?? -1, rank);
  if (axis === 0) throw new ServeError('IMPORT_FAILED', 'concatenation over the batch axis is not supported');
  const shape: Shape = [...(xs[0] as Value).shape];
  shape[axis] = xs.reduce<number | null>((acc, x) => {
    const d = x.shape[axis];
    return acc === null || typeof d !== 'number' ? null : acc + d;
  }, 0);
  const useNchw = rank === 4 && xs.some((x) => x.nchw !== undefined);
  if (useNchw) {
    const out = c.b.node(
      'Concat',
      xs.map((x) => c.nchw(x)),
      { axis: kerasAxisToNchw(axis) },
      l.name,
    );
    return { shape, nchw: out };
  }
  return {
    shape,
    keras: c.b.node(
      'Concat',
      xs.map((x) => c.keras(x)),
      { axis },
      l.name,
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function sameLayout(c: Converter, v: Value, emit: (name: string) => string): Value {
  return c.prefersNchw(v) ? { shape: v.shape, nchw: emit(c.nchw(v)) } : { shape: v.shape, keras: emit(c.keras(v)) };
}

function one(x: Value | undefined): Value {
  if (!x) throw new ServeError('IMPORT_FAILED', 'expects exactly one input');
  return x;
}

function checkChannelsLast(cfg: Json): void {
  const df = cfg.data_format;
  if (df !== undefined && df !== null && df !== 'channels_last')
    throw new ServeError('IMPORT_FAILED', `unsupported data_format ${JSON.stringify(df)} (only channels_last)`);
}

function useBias(cfg: Json): boolean {
  return cfg.use_bias !== false;
}

function kerasAxisToNchw(axis: number): number {
  const a = KERAS_AXIS_TO_NCHW[axis];
  if (a === undefined) throw new ServeError('IMPORT_FAILED', `invalid axis ${axis}`);
  return a;
}

function normalizeAxis(raw: unknown, rank: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw)) throw new ServeError('IMPORT_FAILED', `invalid axis ${JSON.stringify(raw)}`);
  const a = raw < 0 ? raw + rank : raw;
  if (a < 0 || a >= rank) throw new ServeError('IMPORT_FAILED', `axis ${raw} out of range for rank ${rank}`);
  return a;
}

function mergeShapes(shapes: Shape[]): Shape {
  const first = shapes[0] as Shape;
  return first.map((_, i) => {
    let dim: number | null = null;
    for (const s of shapes) {
      const d = s[i] ?? null;
      if (d === null || d === 1) continue;
      if (dim !== null && dim !== d) throw new ServeError('IMPORT_FAILED', `incompatible shapes ${shapes.map(fmtShape).join(' ')}`);
      dim = d;
    }
    if (dim === null && shapes.every((s) => s[i] === 1)) dim = 1;
    return i === 0 ? null : dim;
  });
}

function product(dims: Shape): number | null {
  let p = 1;
  for (const d of dims) {
    if (d === null) return null;
    p *= d;
  }
  return p;
}

function fmtShape(s: Shape): string {
  return `[${s.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

function intPair(raw: unknown, what: string): [number, number] {
  if (typeof raw === 'number' && Number.isInteger(raw)) return [raw, raw];
  if (Array.isArray(raw) && raw.length === 2 && raw.every((d) => typeof d === 'number' && Number.isInteger(d))) {
    return [raw[0] as number, raw[1] as number];
  }
  throw new ServeError('IMPORT_FAILED', `invalid ${what} ${JSON.stringify(raw)} (expected an int or a pair of ints)`);
}

function optNumber(cfg: Json, key: string): number | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number') throw new ServeError('IMPORT_FAILED', `invalid ${key} ${JSON.stringify(v)}`);
  return v;
}

function requireInt(cfg: Json, key: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ServeError('IMPORT_FAILED', `invalid ${key} ${JSON.stringify(v)}`);
  return v;
}

function asObject(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ServeError('IMPORT_FAILED', `${what}: expected an object`);
  return v as Json;
}

function asArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new ServeError('IMPORT_FAILED', `${what}: expected an array`);
  return v as unknown[];
}

function unwrapDefault(mod: unknown): unknown {
  if (typeof mod === 'object' && mod !== null && 'default' in mod && Object.keys(mod).length === 1) return mod.default;
  return mod;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
