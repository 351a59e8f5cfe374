// Small QDQ and QLinear graphs for the planner's tests, written with the project's graph
// builder; 8-bit and int32 initializers and com.microsoft nodes are added to its proto.

import { GraphBuilder, onnx, type AttrValue, type Dim } from '../../src/onnx/graph-builder.js';
import type { Graph, Tensor } from '../../src/onnx/proto.js';

const DT = onnx.TensorProto.DataType;

export class QdqBuilder {
  readonly g: GraphBuilder;
  private readonly extra: Tensor[] = [];
  private readonly microsoft = new Set<string>();

  constructor(name: string) {
    this.g = new GraphBuilder(name);
  }

  /** An initializer of any integer type (int8, uint8, int32) from its values. */
  tensor(stem: string, dataType: number, dims: number[], values: readonly number[]): string {
    const name = this.g.uniqueName(stem);
    const Typed = dataType === Number(DT.INT8) ? Int8Array : dataType === Number(DT.UINT8) ? Uint8Array : Int32Array;
    const data = Typed.from(values);
    this.extra.push({ name, dims, dataType, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  scalar(stem: string, value: number): string {
    return this.g.floatTensor(stem, [], Float32Array.of(value));
  }

  /** Q → DQ of an activation with a uint8 per-tensor scale and zero point. */
  qdq(x: string, stem: string): string {
    const scale = this.scalar(`${stem}.scale`, 0.05);
    const zp = this.tensor(`${stem}.zp`, DT.UINT8, [], [128]);
    const q = this.g.node('QuantizeLinear', [x, scale, zp], {}, `${stem}_q`);
    return this.g.node('DequantizeLinear', [q, scale, zp], {}, `${stem}_dq`);
  }

  /** DequantizeLinear of an int8 weight with per-channel (axis 0) scales and zero points. */
  weight(stem: string, dims: number[], zeroPoint = 0): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const w = this.tensor(
      `${stem}.q`,
      DT.INT8,
      dims,
      Array.from({ length: n }, (_, i) => (i % 7) - 3),
    );
    const c = dims[0] ?? 1;
    const scale = this.g.floatTensor(`${stem}.scale`, [c], new Float32Array(c).fill(0.01));
    const zp = this.tensor(`${stem}.zp`, DT.INT8, [c], new Array<number>(c).fill(zeroPoint));
    return this.g.node('DequantizeLinear', [w, scale, zp], { axis: 0 }, `${stem}_dq`);
  }

  /** DequantizeLinear of an int32 bias (scale = input scale × weight scale, zero point 0). */
  bias(stem: string, c: number): string {
    const b = this.tensor(`${stem}.q`, DT.INT32, [c], new Array<number>(c).fill(5));
    const scale = this.g.floatTensor(`${stem}.scale`, [c], new Float32Array(c).fill(0.0005));
    return this.g.node('DequantizeLinear', [b, scale], { axis: 0 }, `${stem}_dq`);
  }

  /** A node of onnxruntime's com.microsoft domain. */
  ms(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, stem?: string): string {
    const out = this.g.node(opType, inputs, attrs, stem);
    this.microsoft.add(out);
    return out;
  }

  output(name: string, dims: Dim[]): void {
    this.g.output(name, dims);
  }

  toBytes(): Uint8Array {
    const model = this.g.toModel();
    const graph = model.graph as Graph;
    graph.initializer = [...(graph.initializer ?? []), ...this.extra];
    for (const node of graph.node ?? []) if ((node.output ?? []).some((o: string) => this.microsoft.has(o))) node.domain = 'com.microsoft';
    if (this.microsoft.size > 0) model.opsetImport = [...(model.opsetImport ?? []), { domain: 'com.microsoft', version: 1 }];
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

export const INT8 = DT.INT8;
export const UINT8 = DT.UINT8;
export const INT32 = DT.INT32;

/**
 * x[N,8,16,16] → Q/DQ → Conv(16×8×3×3, int8 weight and int32 bias via DQ, pad 1) → Q/DQ → MaxPool 2/2 → Q/DQ
 * → GlobalAveragePool → Q/DQ → Flatten → Q/DQ → Gemm(10×16 int8 via DQ, float output).
 * Parameters: conv 1152 int8 + 16 int32, fc 160 int8 → 1312 int8 + 16 int32 = 1328 (1312 + 64 bytes).
 * MACs per image: conv 16·16·16 outputs × 72 = 294,912; fc 16 × 10 = 160; all int8.
 */
export function smallQdqCnn(): QdqBuilder {
  const b = new QdqBuilder('small-qdq');
  const x = b.g.input('x', ['N', 8, 16, 16]);
  const conv = b.g.node(
    'Conv',
    [b.qdq(x, 'in'), b.weight('conv.w', [16, 8, 3, 3]), b.bias('conv.b', 16)],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    'conv',
  );
  const pool = b.g.node('MaxPool', [b.qdq(conv, 'conv')], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool');
  const gap = b.g.node('GlobalAveragePool', [b.qdq(pool, 'pool')], {}, 'gap');
  const flat = b.g.node('Flatten', [b.qdq(gap, 'gap')], { axis: 1 }, 'flat');
  b.output(b.g.node('Gemm', [b.qdq(flat, 'flat'), b.weight('fc.w', [10, 16])], { transB: 1 }, 'fc'), ['N', 10]);
  return b;
}

/**
 * NHWC in and out as moderation has: x[N,16,16,8] → Q/DQ → Transpose to NCHW → Q/DQ → Conv 1×1 (16, int8)
 * → Q/DQ → GlobalAveragePool → Q/DQ → Transpose to NHWC → Q/DQ → Flatten (float output).
 */
export function nhwcInputQdq(): QdqBuilder {
  const b = new QdqBuilder('nhwc-input');
  const x = b.g.input('x', ['N', 16, 16, 8]);
  const nchw = b.g.node('Transpose', [b.qdq(x, 'in')], { perm: [0, 3, 1, 2] }, 'nchw');
  const conv = b.g.node('Conv', [b.qdq(nchw, 't'), b.weight('w', [16, 8, 1, 1])], { kernel_shape: [1, 1] }, 'conv');
  const gap = b.g.node('GlobalAveragePool', [b.qdq(conv, 'conv')], {}, 'gap');
  const nhwc = b.g.node('Transpose', [b.qdq(gap, 'gap')], { perm: [0, 2, 3, 1] }, 'nhwc');
  b.output(b.g.node('Flatten', [b.qdq(nhwc, 'nhwc')], { axis: 1 }, 'flat'), ['N', 16]);
  return b;
}
