// A small typed builder over onnx-proto: the importer, the ResNet50 builder and the
// tests' generated models all write ONNX through it.
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataType, encodeModel, onnx, type Attribute, type Model, type Node, type Tensor, type ValueInfo } from './proto.js';

export { onnx };

/** `{ float: x }` forces a FLOAT attribute when x is whole (e.g. alpha=1). */
export type AttrValue = number | number[] | string | Float32Array | { float: number };
/** A dimension: a fixed size, or a symbolic name for a dynamic one (e.g. 'N'). */
export type Dim = number | string;

const OPSET = 13;
const IR_VERSION = 8;

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly initializers: Tensor[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly usedNames = new Set<string>();
  private counter = 0;

  constructor(private readonly graphName: string) {}

  /** A fresh value name with the given stem, unique in this graph. */
  uniqueName(stem: string): string {
    let name = stem;
    while (this.usedNames.has(name)) name = `${stem}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, dims: Dim[]): string {
    this.usedNames.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** Adds a float32 initializer; returns its name. */
  floatTensor(stem: string, dims: number[], values: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(`initializer ${stem}: ${values.length} values for shape [${dims.join(',')}]`);
    }
    const name = this.uniqueName(stem);
    this.initializers.push({
      name,
      dims,
      dataType: DataType.FLOAT,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  /** Adds an int64 initializer (shapes, axes, pads); returns its name. */
  int64Tensor(stem: string, values: number[]): string {
    const name = this.uniqueName(stem);
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  /** Adds a node with one output; returns the output name. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outStem?: string): string {
    const [out] = this.nodeMulti(opType, inputs, 1, attrs, outStem);
    return out as string;
  }

  nodeMulti(opType: string, inputs: string[], outputCount: number, attrs: Record<string, AttrValue> = {}, outStem?: string): string[] {
    const stem = outStem ?? opType.toLowerCase();
    const outputs = Array.from({ length: outputCount }, (_, i) => this.uniqueName(outputCount === 1 ? stem : `${stem}_${i}`));
    this.nodes.push({
      opType,
      name: this.uniqueName(`${stem}_node`),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)),
    });
    return outputs;
  }

  toModel(docString = ''): Model {
    return {
      irVersion: IR_VERSION,
      producerName: 'swarmserve',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
  }

  toBytes(docString = ''): Uint8Array {
    return encodeModel(this.toModel(docString));
  }

  async save(path: string, docString = ''): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, this.toBytes(docString));
  }
}

function valueInfo(name: string, dims: Dim[]): ValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): Attribute {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (value instanceof Float32Array) return { name, type: T.FLOATS, floats: Array.from(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return { name, type: T.FLOAT, f: value.float };
}
