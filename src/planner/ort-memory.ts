// A model of how onnxruntime's CPU execution provider holds activations, so the planner can
// estimate a worker's activation memory from the graph alone. Three steps, each mirroring a
// documented part of onnxruntime (graphOptimizationLevel 'all', enableCpuMemArena,
// enableMemPattern — what src/worker/model-session.ts uses):
//
// 1. The optimized execution view. Conv absorbs a following BatchNormalization, per-channel
//    Add/Mul and activation (Relu, Clip, Sigmoid, Tanh, LeakyRelu, HardSigmoid); a zero Pad
//    feeding a Conv or pool disappears into it; a residual Add of a Conv output becomes a
//    "Sum" input the Conv accumulates into in place (so that Conv runs after the other Add
//    operand is ready); Reshape/Flatten/Squeeze/Unsqueeze/Identity share their input's
//    buffer. On x86 with AVX2/AVX-512 convolutions, pools and the elementwise ops between
//    them run in the NCHWc layout: channels padded to the block size (8 or 16), with
//    ReorderInput/ReorderOutput copies where the layout changes.
// 2. The allocation plan: an output reuses its input's buffer in place (elementwise ops and
//    the Conv Sum input) when that input dies there, else a freed buffer of the same shape
//    (most recently freed first), else it is a new allocation; a buffer is released after its
//    last reader. The first run at a batch size makes these allocations one by one from the
//    arena and traces them; the memory-pattern planner then lays the trace out in one block
//    (best-fit gaps, else appended), allocated from the arena on every later run.
// 3. The BFC arena (kNextPowerOfTwo: 1 MiB first region, each extension at least double the
//    previous; best fit by size then address; a chunk is split only when at least twice the
//    request; freed neighbours coalesce). Region memory comes from mmap, so only pages a
//    tensor has written count in RSS: the estimate is the bytes ever touched.
import type { OnnxGraph } from '../onnx/read-graph.js';
import { elementBytes } from './analyze.js';
import { fuseQdq } from './qdq-fusion.js';
import { operatorName, type GraphInference, type TensorValue } from './shape-inference.js';

export interface OrtMemoryOptions {
  /** NCHWc block size of this CPU: 16 (AVX-512), 8 (AVX2/AVX), 0 (no NCHWc, e.g. arm64). */
  nchwcBlock: number;
}

/** One allocation or release in execution order (run without a memory pattern); 'temp': a kernel's scratch, allocated and released while it runs (also beside the pattern). */
export type AllocationEvent = { kind: 'alloc'; id: number; bytes: number } | { kind: 'free'; id: number } | { kind: 'temp'; bytes: number };

export interface ExecutionPlan {
  /** Kernels in execution order, with what each allocates. */
  kernels: PlannedKernel[];
  events: AllocationEvent[];
  /** Largest total of live buffers (no fragmentation). */
  liveMaxBytes: number;
  /** Size of the memory-pattern block the second run allocates. */
  patternBytes: number;
}

export interface PlannedKernel {
  name: string;
  op: string;
  /** Bytes of new buffers this kernel allocates (0 when it reuses or aliases). */
  allocatedBytes: number;
}

const KALLOC_ALIGNMENT = 64;
const BFC_MIN_ALLOCATION = 256;
const BFC_INITIAL_REGION = 1 << 20;
const BFC_MAX_DEAD_BYTES = 128 << 20;
const PAGE = 4096;

const ACTIVATIONS = new Set(['Relu', 'Clip', 'Sigmoid', 'Tanh', 'LeakyRelu', 'HardSigmoid']);
const ALIAS_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);
const INPLACE_OPS = new Set([
  'Relu',
  'Clip',
  'Sigmoid',
  'Tanh',
  'LeakyRelu',
  'HardSigmoid',
  'Elu',
  'Selu',
  'Softplus',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Sqrt',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Sum',
  'Pow',
  'Max',
  'Min',
]);
const NCHWC_POOLS = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool']);
const NCHWC_ELEMENTWISE = new Set(['Relu', 'Clip', 'Sigmoid', 'Tanh', 'LeakyRelu', 'HardSigmoid', 'Add', 'Sum', 'Mul']);

/** The NCHWc block size onnxruntime's MLAS uses on this machine (from /proc/cpuinfo flags). */
export function nchwcBlockFromCpuFlags(flags: string, arch: string = process.arch): number {
  if (arch !== 'x64' && arch !== 'ia32') return 0;
  const words = new Set(flags.split(/\s+/));
  if (words.has('avx512f')) return 16;
  if (words.has('avx2') || words.has('avx')) return 8;
  return 0;
}

interface Value {
  id: number;
  bytes: number;
  shapeKey: string;
  /** Produced by this kernel (index into kernels), or -1 for graph inputs. */
  producer: number;
  external: boolean;
  nchwc: boolean;
  /** The unpadded logical tensor (for reorders). */
  logical: TensorValue;
}

interface Kernel {
  index: number;
  name: string;
  op: string;
  inputs: Value[];
  outputs: Value[];
  /** Output i may take the buffer of inputs[inplace[i]]. */
  inplace: Array<number | undefined>;
  /** Scratch bytes taken from the arena while the kernel runs. */
  tempBytes: number;
}

interface ConvTail {
  kernel: Kernel;
  activated: boolean;
  summed: boolean;
}

function out0(k: Kernel): Value {
  const v = k.outputs[0];
  if (v === undefined) throw new Error(`kernel ${k.name} has no output`);
  return v;
}

function aligned(bytes: number, to: number): number {
  return Math.ceil(bytes / to) * to;
}

/** Builds onnxruntime's optimized execution view of an inferred graph (step 1). */
function buildKernels(
  graph: OnnxGraph,
  inference: GraphInference,
  options: OrtMemoryOptions,
  temps: ReadonlyMap<string, number>,
): { kernels: Kernel[]; outputs: Set<Value> } {
  const block = options.nchwcBlock;
  const consumers = new Map<string, number>();
  for (const r of inference.nodes) for (const i of r.node.inputs) if (i !== '') consumers.set(i, (consumers.get(i) ?? 0) + 1);
  for (const o of graph.outputs) consumers.set(o.name, (consumers.get(o.name) ?? 0) + 1);

  let nextId = 0;
  const values = new Map<string, Value>();
  const kernels: Kernel[] = [];
  const tails = new Map<Value, ConvTail>();
  const reordered = new Map<Value, Value>();
  const reorderedIn = new Map<Value, Value>();
  const makeValue = (t: TensorValue, producer: number, nchwc: boolean, external = false): Value => {
    const shape = nchwc && t.shape.length >= 2 ? t.shape.map((d, i) => (i === 1 ? Math.ceil(d / block) * block : d)) : t.shape;
    const bytes = aligned(shape.reduce((a, b) => a * b, 1) * elementBytes(t.dtype), KALLOC_ALIGNMENT);
    return { id: nextId++, bytes, shapeKey: `${t.dtype}:${shape.join('x')}`, producer, external, nchwc, logical: t };
  };
  const addKernel = (
    name: string,
    op: string,
    inputs: Value[],
    outs: Array<{ t: TensorValue; nchwc: boolean }>,
    inplace: Array<number | undefined> = [],
  ): Kernel => {
    const k: Kernel = { index: kernels.length, name, op, inputs, outputs: [], inplace, tempBytes: 0 };
    k.outputs = outs.map((o) => makeValue(o.t, k.index, o.nchwc));
    kernels.push(k);
    return k;
  };
  /** An NCHW view of a value (a ReorderOutput copy when it is NCHWc). */
  const plain = (v: Value): Value => {
    if (!v.nchwc) return v;
    const done = reordered.get(v);
    if (done !== undefined) return done;
    const out = out0(addKernel(`ReorderOutput(${v.id})`, 'ReorderOutput', [v], [{ t: v.logical, nchwc: false }]));
    reordered.set(v, out);
    return out;
  };

  for (const v of graph.inputs) {
    const t = inference.values.get(v.name);
    if (t !== undefined) values.set(v.name, makeValue(t, -1, false, true));
  }

  for (const r of inference.nodes) {
    const node = r.node;
    const op = operatorName(node);
    if (r.status !== 'ok') continue;
    const dynamicInputs = node.inputs.filter((n) => n !== '' && !graph.constants.has(n));
    const ins = dynamicInputs.map((n) => values.get(n)).filter((v): v is Value => v !== undefined);
    const firstOut = r.outputs[0];
    const outName = node.outputs[0] ?? '';
    const single = (v: Value | undefined): boolean =>
      v !== undefined && [...values.entries()].filter(([, x]) => x === v).every(([name]) => (consumers.get(name) ?? 0) <= 1);
    const tailOf = (v: Value | undefined): ConvTail | undefined => (v === undefined ? undefined : tails.get(v));
    const x = ins[0];

    // --- fusions into a preceding Conv (outputs share the Conv's buffer)
    const tail = tailOf(x);
    if (tail !== undefined && ins.length === 1 && single(x) && !tail.activated) {
      const constOperand = node.inputs.find((n) => graph.constants.has(n));
      const perChannel = (op === 'Add' || op === 'Mul') && constOperand !== undefined && (graph.constants.get(constOperand)?.elementCount ?? 0) > 1;
      if ((op === 'BatchNormalization' && !tail.summed) || (perChannel && !tail.summed) || ACTIVATIONS.has(op)) {
        if (ACTIVATIONS.has(op)) tail.activated = true;
        values.set(outName, x as Value);
        continue;
      }
    }
    // residual Add of a Conv output: the Conv accumulates into the other operand in place
    if ((op === 'Add' || op === 'Sum') && ins.length === 2 && node.inputs.every((n) => !graph.constants.has(n))) {
      const [a, b] = ins as [Value, Value];
      const fusable = (v: Value): boolean => {
        const t = tails.get(v);
        return t !== undefined && !t.activated && !t.summed && single(v);
      };
      const pick = fusable(a) ? a : fusable(b) ? b : undefined;
      const other = pick === a ? b : a;
      if (pick !== undefined && pick.bytes === other.bytes) {
        const t = tails.get(pick) as ConvTail;
        t.summed = true;
        t.kernel.inputs.push(other);
        t.kernel.inplace[0] = t.kernel.inputs.length - 1;
        values.set(outName, pick);
        continue;
      }
    }
    // zero Pad into the following Conv/pool
    if (op === 'Pad' && x !== undefined && consumers.get(outName) === 1) {
      const consumer = inference.nodes.find((n) => n.node.inputs.includes(outName));
      const mode = node.attrs.get('mode');
      const padsName = node.inputs[1];
      const padsAttr = node.attrs.get('pads');
      const pads =
        padsName !== undefined && padsName !== '' ? graph.constants.get(padsName)?.values : Array.isArray(padsAttr) ? padsAttr.map(Number) : undefined;
      const rank = x.logical.shape.length;
      const spatialOnly = pads !== undefined && pads.length === rank * 2 && pads.every((p, i) => p >= 0 && (i % rank >= 2 || p === 0));
      const valueName = node.inputs[2];
      const zeroValue =
        valueName === undefined || valueName === ''
          ? (node.attrs.get('value') ?? 0) === 0
          : (graph.constants.get(valueName)?.values ?? [1]).every((v) => v === 0);
      const into = consumer === undefined ? '' : operatorName(consumer.node);
      if ((mode === undefined || mode === 'constant') && spatialOnly && zeroValue && ['Conv', 'MaxPool', 'AveragePool'].includes(into)) {
        values.set(outName, x);
        continue;
      }
    }
    // shape-only ops share their input's buffer
    if (ALIAS_OPS.has(op) && x !== undefined) {
      values.set(outName, plain(x));
      continue;
    }

    // --- a kernel of its own
    if (op === 'Conv' && firstOut !== undefined) {
      const w = graph.constants.get(node.inputs[1] ?? '');
      const group = typeof node.attrs.get('group') === 'number' ? (node.attrs.get('group') as number) : 1;
      let input = x;
      let nchwc = false;
      if (block > 0 && w !== undefined && w.dims.length === 4 && input !== undefined) {
        const [cout = 0, cinPerGroup = 0] = w.dims;
        const cin = cinPerGroup * group;
        const depthwise = group > 1 && cin === group && cout === group;
        const aligned4 = (c: number): boolean => c % 4 === 0;
        if ((group === 1 || depthwise) && aligned4(cout) && (cin < block ? group === 1 : aligned4(cin))) {
          nchwc = true;
          if (cin >= block && !input.nchwc) {
            const source = input;
            input = reorderedIn.get(source) ?? out0(addKernel(`ReorderInput(${source.id})`, 'ReorderInput', [source], [{ t: source.logical, nchwc: true }]));
            reorderedIn.set(source, input);
          }
          if (cin < block && input.nchwc) input = plain(input);
        }
      }
      if (!nchwc && input !== undefined) input = plain(input);
      const k = addKernel(node.name, op, input === undefined ? [] : [input], [{ t: firstOut, nchwc }]);
      values.set(outName, out0(k));
      tails.set(out0(k), { kernel: k, activated: false, summed: false });
      continue;
    }
    const nchwcIn = ins.length > 0 && ins.every((v) => v.nchwc);
    const sameShape = ins.every((v) => v.shapeKey === ins[0]?.shapeKey);
    const staysNchwc =
      nchwcIn &&
      (NCHWC_POOLS.has(op) ||
        (NCHWC_ELEMENTWISE.has(op) && sameShape && node.inputs.every((n) => !graph.constants.has(n) || op === 'Clip')) ||
        op === 'Resize' ||
        op === 'Upsample' ||
        (op === 'Concat' && ins.every((v) => (v.logical.shape[1] ?? 0) % Math.max(block, 1) === 0)));
    const inputs = staysNchwc ? ins : ins.map(plain);
    const outs = node.outputs
      .map((name, i) => ({ name, t: r.outputs[i] }))
      .filter((o): o is { name: string; t: TensorValue } => o.name !== '' && o.t !== undefined);
    const inplace = outs.map(() => (INPLACE_OPS.has(op) ? 0 : undefined));
    const k = addKernel(
      node.name,
      op,
      inputs,
      outs.map((o) => ({ t: o.t, nchwc: staysNchwc && o === outs[0] })),
      inplace,
    );
    k.tempBytes = temps.get(node.name) ?? 0;
    outs.forEach((o, i) => values.set(o.name, k.outputs[i] as Value));
  }
  const graphOutputs = new Set<Value>();
  for (const o of graph.outputs) {
    const v = values.get(o.name);
    if (v !== undefined) graphOutputs.add(v);
  }
  return { kernels, outputs: graphOutputs };
}

/** Kahn's algorithm, lowest original index first (how onnxruntime orders the fused graph). */
function executionOrder(kernels: Kernel[]): Kernel[] {
  const done = new Set<number>();
  const order: Kernel[] = [];
  const pending = new Set(kernels);
  while (pending.size > 0) {
    let next: Kernel | undefined;
    for (const k of pending) {
      if (k.inputs.every((v) => v.producer < 0 || done.has(v.producer))) {
        next = k;
        break; // pending iterates in insertion (original) order
      }
    }
    if (next === undefined) break;
    pending.delete(next);
    done.add(next.index);
    order.push(next);
  }
  return order;
}

/** Steps 1 and 2: the allocation trace of a run without a memory pattern, and the pattern's size. */
export function planExecution(graph: OnnxGraph, inference: GraphInference, options: OrtMemoryOptions): ExecutionPlan {
  // a QDQ graph runs as onnxruntime's fused integer kernels on uint8 tensors
  const fused = fuseQdq(graph, inference);
  const { kernels, outputs } =
    fused === undefined ? buildKernels(graph, inference, options, new Map()) : buildKernels(fused.graph, fused.inference, options, fused.tempBytes);
  const order = executionOrder(kernels);
  const lastUse = new Map<Value, number>();
  order.forEach((k, step) => {
    for (const v of k.inputs) lastUse.set(v, step);
    for (const v of k.outputs) if (!lastUse.has(v)) lastUse.set(v, step);
  });
  for (const v of outputs) lastUse.set(v, Number.MAX_SAFE_INTEGER);

  interface Buffer {
    id: number;
    bytes: number;
    shapeKey: string;
    until: number;
  }
  const bufferOf = new Map<Value, Buffer>();
  const freelist: Buffer[] = [];
  const events: AllocationEvent[] = [];
  const planned: PlannedKernel[] = [];
  let nextBuffer = 0;
  order.forEach((k, step) => {
    let allocated = 0;
    k.outputs.forEach((v, i) => {
      const until = lastUse.get(v) ?? step;
      const source = k.inplace[i] === undefined ? undefined : k.inputs[k.inplace[i]];
      const sourceBuffer = source === undefined ? undefined : bufferOf.get(source);
      if (
        source !== undefined &&
        sourceBuffer !== undefined &&
        !source.external &&
        !outputs.has(source) &&
        !outputs.has(v) &&
        sourceBuffer.until === step &&
        sourceBuffer.bytes === v.bytes
      ) {
        sourceBuffer.until = Math.max(sourceBuffer.until, until);
        bufferOf.set(v, sourceBuffer);
        return;
      }
      if (outputs.has(v)) return; // graph outputs are allocated for the caller, outside the pattern
      const reuse = freelist.findIndex((b) => b.shapeKey === v.shapeKey);
      if (reuse >= 0) {
        const b = freelist.splice(reuse, 1)[0] as Buffer;
        b.until = until;
        bufferOf.set(v, b);
        events.push({ kind: 'alloc', id: b.id, bytes: b.bytes });
        return;
      }
      const b: Buffer = { id: nextBuffer++, bytes: v.bytes, shapeKey: v.shapeKey, until };
      bufferOf.set(v, b);
      events.push({ kind: 'alloc', id: b.id, bytes: b.bytes });
      allocated += b.bytes;
    });
    if (k.tempBytes > 0) events.push({ kind: 'temp', bytes: k.tempBytes });
    const released = new Set<Buffer>();
    for (const v of [...k.inputs, ...k.outputs]) {
      const b = bufferOf.get(v);
      if (b !== undefined && b.until <= step && !outputs.has(v)) released.add(b);
    }
    for (const b of released) {
      events.push({ kind: 'free', id: b.id });
      b.until = Number.MAX_SAFE_INTEGER; // until re-used
      freelist.unshift(b);
    }
    planned.push({ name: k.name, op: k.op, allocatedBytes: allocated });
  });
  const trace = collapseReuse(events);
  let live = 0;
  let liveMax = 0;
  const sizes = new Map<number, number>();
  for (const e of trace) {
    if (e.kind === 'temp') continue;
    if (e.kind === 'alloc') {
      sizes.set(e.id, e.bytes);
      live += e.bytes;
      liveMax = Math.max(liveMax, live);
    } else {
      live -= sizes.get(e.id) ?? 0;
    }
  }
  return { kernels: planned, events: trace, liveMaxBytes: liveMax, patternBytes: patternPeak(trace) };
}

/**
 * A buffer the planner re-uses is one allocation for the executor: it is allocated once and
 * freed after its last user. Rewrites (free id … alloc id) pairs away.
 */
function collapseReuse(events: AllocationEvent[]): AllocationEvent[] {
  const out: AllocationEvent[] = [];
  const pendingFree = new Map<number, number>();
  for (const e of events) {
    if (e.kind === 'temp') {
      out.push(e);
    } else if (e.kind === 'free') {
      pendingFree.set(e.id, out.length);
      out.push(e);
    } else {
      const at = pendingFree.get(e.id);
      if (at !== undefined) {
        out[at] = { kind: 'free', id: -1 }; // the release did not happen: the buffer went on to its next user
        pendingFree.delete(e.id);
      } else {
        out.push(e);
      }
    }
  }
  return out.filter((e) => e.kind !== 'free' || e.id >= 0);
}

/** onnxruntime's MemPatternPlanner: best-fit gap between live blocks (ordered by offset), else after the last one. */
export function patternPeak(events: readonly AllocationEvent[]): number {
  const blocks: Array<{ id: number; offset: number; size: number }> = [];
  let peak = 0;
  for (const e of events) {
    if (e.kind === 'temp') continue;
    if (e.kind === 'free') {
      const i = blocks.findIndex((b) => b.id === e.id);
      if (i >= 0) blocks.splice(i, 1);
      continue;
    }
    let current = 0;
    let waste = Number.POSITIVE_INFINITY;
    let bestIndex = blocks.length;
    const last = blocks[blocks.length - 1];
    let bestOffset = last === undefined ? 0 : last.offset + last.size;
    blocks.forEach((b, i) => {
      if (b.offset >= current) {
        const gap = b.offset - current;
        if (gap >= e.bytes && gap - e.bytes < waste) {
          waste = gap - e.bytes;
          bestIndex = i;
          bestOffset = current;
        }
      }
      current = b.offset + b.size;
    });
    peak = Math.max(peak, bestOffset + e.bytes);
    blocks.splice(bestIndex, 0, { id: e.id, offset: bestOffset, size: e.bytes });
  }
  return peak;
}

interface Chunk {
  region: Region;
  offset: number;
  size: number;
  free: boolean;
  prev: Chunk | undefined;
  next: Chunk | undefined;
}

/** Merges a chunk's (free) right neighbour into it. */
function absorbNext(c: Chunk): void {
  const next = c.next;
  if (next === undefined) return;
  c.size += next.size;
  c.next = next.next;
  if (next.next !== undefined) next.next.prev = c;
}

interface Region {
  index: number;
  size: number;
  /** Touched byte ranges [start, end), merged. */
  touched: Array<[number, number]>;
}

/** Step 3: onnxruntime's BFC arena (kNextPowerOfTwo), counting the pages allocations have written. */
export class BfcArena {
  private readonly regions: Region[] = [];
  private readonly freeChunks = new Set<Chunk>();
  private regionBytes = BFC_INITIAL_REGION;

  get reservedBytes(): number {
    return this.regions.reduce((a, r) => a + r.size, 0);
  }

  /** Bytes of region pages ever written (what RSS sees). */
  get touchedBytes(): number {
    let total = 0;
    for (const r of this.regions) for (const [s, e] of r.touched) total += Math.ceil(e / PAGE) * PAGE - Math.floor(s / PAGE) * PAGE;
    return total;
  }

  /** Allocates `bytes` and marks them written; returns the chunk handle. */
  alloc(bytes: number): Chunk {
    const rounded = aligned(Math.max(bytes, 1), BFC_MIN_ALLOCATION);
    let chunk = this.bestFit(rounded);
    if (chunk === undefined) {
      this.extend(rounded);
      chunk = this.bestFit(rounded);
    }
    if (chunk === undefined) throw new Error('BFC simulation: no chunk after extend');
    this.freeChunks.delete(chunk);
    if (chunk.size >= rounded * 2 || chunk.size - rounded >= BFC_MAX_DEAD_BYTES) {
      const rest: Chunk = { region: chunk.region, offset: chunk.offset + rounded, size: chunk.size - rounded, free: true, prev: chunk, next: chunk.next };
      if (chunk.next !== undefined) chunk.next.prev = rest;
      chunk.next = rest;
      chunk.size = rounded;
      this.freeChunks.add(rest);
    }
    chunk.free = false;
    this.touch(chunk.region, chunk.offset, chunk.offset + bytes);
    return chunk;
  }

  free(chunk: Chunk): void {
    chunk.free = true;
    let c = chunk;
    if (c.next?.free === true) {
      this.freeChunks.delete(c.next);
      absorbNext(c);
    }
    const prev = c.prev;
    if (prev?.free === true) {
      this.freeChunks.delete(prev);
      absorbNext(prev);
      c = prev;
    }
    this.freeChunks.add(c);
  }

  private bestFit(rounded: number): Chunk | undefined {
    let best: Chunk | undefined;
    for (const c of this.freeChunks) {
      if (c.size < rounded) continue;
      // mmap hands out addresses downwards: a later region sits lower
      if (
        best === undefined ||
        c.size < best.size ||
        (c.size === best.size && (c.region.index > best.region.index || (c.region === best.region && c.offset < best.offset)))
      )
        best = c;
    }
    return best;
  }

  private extend(rounded: number): void {
    let increased = false;
    while (rounded > this.regionBytes) {
      this.regionBytes *= 2;
      increased = true;
    }
    const region: Region = { index: this.regions.length, size: this.regionBytes, touched: [] };
    if (!increased) this.regionBytes *= 2;
    this.regions.push(region);
    this.freeChunks.add({ region, offset: 0, size: region.size, free: true, prev: undefined, next: undefined });
  }

  private touch(region: Region, start: number, end: number): void {
    const merged: Array<[number, number]> = [];
    let s = start;
    let e = end;
    for (const [a, b] of region.touched) {
      if (b < s || a > e) merged.push([a, b]);
      else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    merged.push([s, e]);
    merged.sort((x, y) => x[0] - y[0]);
    region.touched = merged;
  }
}

/** Replays a run without a memory pattern (every buffer from the arena, in order). */
export function replayFirstRun(arena: BfcArena, plan: ExecutionPlan): void {
  const held = new Map<number, Chunk>();
  for (const e of plan.events) {
    if (e.kind === 'temp') arena.free(arena.alloc(e.bytes));
    else if (e.kind === 'alloc') held.set(e.id, arena.alloc(e.bytes));
    else {
      const c = held.get(e.id);
      if (c !== undefined) arena.free(c);
      held.delete(e.id);
    }
  }
  for (const c of held.values()) arena.free(c);
}

/** Replays a run with the memory pattern: one block for all activations. */
export function replayPatternRun(arena: BfcArena, plan: ExecutionPlan): void {
  const block = plan.patternBytes > 0 ? arena.alloc(plan.patternBytes) : undefined;
  // kernels' scratch is not in the pattern: it comes from the arena beside the block
  for (const e of plan.events) if (e.kind === 'temp') arena.free(arena.alloc(e.bytes));
  if (block !== undefined) arena.free(block);
}

export interface ArenaEstimate {
  /** Bytes of arena pages written after warm-up and steady runs. */
  touchedBytes: number;
  reservedBytes: number;
  /** Pattern block at the serving batch size. */
  patternBytes: number;
  /** Largest live total at the serving batch size (no fragmentation). */
  liveMaxBytes: number;
}

/**
 * What a worker's arena holds after the server's warm-up (one run at batch 1, one at the
 * serving batch) and steady runs at the serving batch (which use the memory pattern).
 */
export function simulateWorkerArena(plans: { warmUp: readonly ExecutionPlan[]; serving: ExecutionPlan }): ArenaEstimate {
  const arena = new BfcArena();
  for (const p of plans.warmUp) replayFirstRun(arena, p);
  replayPatternRun(arena, plans.serving);
  replayPatternRun(arena, plans.serving);
  return {
    touchedBytes: arena.touchedBytes,
    reservedBytes: arena.reservedBytes,
    patternBytes: plans.serving.patternBytes,
    liveMaxBytes: plans.serving.liveMaxBytes,
  };
}
