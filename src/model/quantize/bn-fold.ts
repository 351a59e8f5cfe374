// Folds each BatchNormalization that follows a Conv into that Conv's weights and bias
// (exact in real arithmetic): the quantized Conv then carries the BN for free, and the
// per-channel weight scales see the weights the model really multiplies by.
import { consumersOf, dimsOf, floatTensor, floatsOf, graphOf, type Model, type Node, type Tensor, attrFloat } from '../../onnx/proto.js';

/** Folds in place; returns how many BatchNormalization nodes were folded. */
export function foldBatchNorms(model: Model): number {
  const graph = graphOf(model);
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const consumers = consumersOf(graph);
  const removed = new Set<Node>();
  for (const conv of graph.node) {
    if (conv.opType !== 'Conv') continue;
    const out = conv.output?.[0] ?? '';
    const readers = consumers.get(out) ?? [];
    const bn = readers[0];
    if (readers.length !== 1 || bn?.opType !== 'BatchNormalization' || graphOutputs.has(out) || (bn.output?.length ?? 0) !== 1) continue;
    const [, gammaName = '', betaName = '', meanName = '', varName = ''] = bn.input ?? [];
    const [, weightName = '', biasName = ''] = conv.input ?? [];
    const params = [gammaName, betaName, meanName, varName, weightName].map((n) => inits.get(n));
    const bias = biasName === '' ? undefined : inits.get(biasName);
    if (params.some((p) => p === undefined) || (biasName !== '' && bias === undefined)) continue;
    const [gamma, beta, mean, variance, weight] = params.map((p) => floatsOf(p as Tensor)) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const wDims = dimsOf(inits.get(weightName) as Tensor);
    const channels = wDims[0] ?? 0;
    const perChannel = weight.length / channels;
    const folded = new Float32Array(weight.length);
    const newBias = new Float32Array(channels);
    const oldBias = bias === undefined ? new Float32Array(channels) : floatsOf(bias);
    for (let m = 0; m < channels; m++) {
      const a = (gamma[m] as number) / Math.sqrt((variance[m] as number) + eps);
      for (let i = m * perChannel; i < (m + 1) * perChannel; i++) folded[i] = (weight[i] as number) * a;
      newBias[m] = ((oldBias[m] as number) - (mean[m] as number)) * a + (beta[m] as number);
    }
    // New initializer names: the originals may be shared with other nodes.
    const wName = `${weightName}_bnfolded`;
    const bName = `${bn.name ?? out}_bnfolded_bias`;
    graph.initializer.push(floatTensor(wName, wDims, folded), floatTensor(bName, [channels], newBias));
    conv.input = [conv.input?.[0] ?? '', wName, bName];
    conv.output = [bn.output?.[0] ?? ''];
    removed.add(bn);
  }
  graph.node = graph.node.filter((n) => !removed.has(n));
  dropUnusedInitializers(model);
  return removed.size;
}

/** Removes initializers no node reads any more (the pre-fold weights). */
export function dropUnusedInitializers(model: Model): void {
  const graph = graphOf(model);
  const used = new Set<string>();
  for (const node of graph.node) for (const input of node.input ?? []) used.add(input);
  for (const o of graph.output ?? []) used.add(o.name ?? '');
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
}
