// Folds a zero constant Pad into the Conv that reads it (Conv pads may be asymmetric).
// TF-style 'same' padding imports as Pad→Conv; a standalone Pad would stay a float op
// between a DequantizeLinear and a QuantizeLinear, costing two conversions of a large
// activation, where the folded Conv pads inside QLinearConv for free.
import { onnx, attrString, consumersOf, DataType, graphOf, num, type Model, type Node, type Tensor, floatsOf } from '../../onnx/proto.js';
import { dropUnusedInitializers } from './bn-fold.js';

/** Folds in place; returns how many Pad nodes were folded. */
export function foldPads(model: Model): number {
  const graph = graphOf(model);
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const consumers = consumersOf(graph);
  const removed = new Set<Node>();
  for (const pad of graph.node) {
    if (pad.opType !== 'Pad' || attrString(pad, 'mode', 'constant') !== 'constant') continue;
    const out = pad.output?.[0] ?? '';
    const readers = consumers.get(out) ?? [];
    const conv = readers[0];
    if (readers.length !== 1 || conv?.opType !== 'Conv' || conv.input?.[0] !== out || graphOutputs.has(out)) continue;
    if (attrString(conv, 'auto_pad', 'NOTSET') !== 'NOTSET') continue;
    const pads = int64s(inits.get(pad.input?.[1] ?? ''));
    const value = pad.input?.[2] ?? '';
    const valueTensor = inits.get(value);
    if (pads === undefined || (value !== '' && (valueTensor === undefined || floatsOf(valueTensor).some((v) => v !== 0)))) continue;
    const rank = pads.length / 2;
    const spatial = rank - 2;
    // Only spatial padding folds: N and C pads must be 0.
    if (spatial < 1 || pads[0] !== 0 || pads[1] !== 0 || pads[rank] !== 0 || pads[rank + 1] !== 0 || pads.some((p) => p < 0)) continue;
    const attr = conv.attribute?.find((a) => a.name === 'pads');
    const current = attr?.ints?.map((i) => num(i)) ?? new Array<number>(2 * spatial).fill(0);
    const merged = current.map((p, i) => p + (i < spatial ? (pads[2 + i] as number) : (pads[rank + 2 + i - spatial] as number)));
    if (attr === undefined) conv.attribute = [...(conv.attribute ?? []), { name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: merged }];
    else attr.ints = merged;
    conv.input = [pad.input?.[0] ?? '', ...(conv.input ?? []).slice(1)];
    removed.add(pad);
  }
  graph.node = graph.node.filter((n) => !removed.has(n));
  dropUnusedInitializers(model);
  return removed.size;
}

function int64s(tensor: Tensor | undefined): number[] | undefined {
  if (tensor?.dataType !== DataType.INT64) return undefined;
  const raw = tensor.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) return Array.from(new BigInt64Array(new Uint8Array(raw).buffer), (v) => Number(v));
  return (tensor.int64Data ?? []).map((v) => num(v));
}
