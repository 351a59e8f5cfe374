import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { inferAt } from './analyze.js';
import { readOnnxGraph } from '../onnx/read-graph.js';
import { BfcArena, nchwcBlockFromCpuFlags, patternPeak, planExecution, replayFirstRun, simulateWorkerArena, type AllocationEvent } from './ort-memory.js';

const MiB = 2 ** 20;
const w = (n: number): Float32Array => new Float32Array(n).fill(0.01);

/**
 * x[N,8,8,8] → c0 = Conv 3×3 + Relu → c1 = Conv + BN + Relu → c2 = Conv + BN → Add(c2, c0) → Relu → GAP → Flatten → Gemm.
 * onnxruntime's view: three Conv kernels (BN and Relu absorbed), the Add fused into c2 as a Sum input that c2
 * accumulates into in place (c0's buffer, whose last reader it is), Flatten sharing GAP's buffer.
 */
function residual(): GraphBuilder {
  const g = new GraphBuilder('res');
  const x = g.input('x', ['N', 8, 8, 8]);
  const conv = (input: string, stem: string): string =>
    g.node('Conv', [input, g.floatTensor(`${stem}.w`, [8, 8, 3, 3], w(576))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, stem);
  const bn = (input: string, stem: string): string =>
    g.node(
      'BatchNormalization',
      [input, g.floatTensor('s', [8], w(8)), g.floatTensor('b', [8], w(8)), g.floatTensor('m', [8], w(8)), g.floatTensor('v', [8], w(8).fill(1))],
      {},
      stem,
    );
  const c0 = g.node('Relu', [conv(x, 'c0')], {}, 'r0');
  const c1 = g.node('Relu', [bn(conv(c0, 'c1'), 'bn1')], {}, 'r1');
  const c2 = bn(conv(c1, 'c2'), 'bn2');
  const r = g.node('Relu', [g.node('Add', [c2, c0], {}, 'add')], {}, 'r');
  const flat = g.node('Flatten', [g.node('GlobalAveragePool', [r], {}, 'gap')], { axis: 1 }, 'flat');
  g.output(g.node('Gemm', [flat, g.floatTensor('fc', [3, 8], w(24))], { transB: 1 }, 'y'), ['N', 3]);
  return g;
}

describe('onnxruntime execution view and allocation plan', () => {
  it('fuses BN, activations and the residual Add into the convolutions, and reuses the Sum buffer in place', () => {
    const graph = readOnnxGraph(residual().toBytes());
    const plan = planExecution(graph, inferAt(graph, 1), { nchwcBlock: 0 });
    expect(plan.kernels.map((k) => k.op)).toEqual(['Conv', 'Conv', 'Conv', 'GlobalAveragePool', 'Gemm']);
    // c0 (2048 B) and c1 (2048 B) are new; c2 accumulates into c0's buffer; GAP allocates 32 → 64 B (aligned); the output is the caller's
    expect(plan.kernels.map((k) => k.allocatedBytes)).toEqual([2048, 2048, 0, 64, 0]);
    expect(plan.events).toEqual<AllocationEvent[]>([
      { kind: 'alloc', id: 0, bytes: 2048 },
      { kind: 'alloc', id: 1, bytes: 2048 },
      { kind: 'free', id: 1 },
      { kind: 'alloc', id: 2, bytes: 64 },
      { kind: 'free', id: 0 },
      { kind: 'free', id: 2 },
    ]);
    expect(plan.liveMaxBytes).toBe(4096);
    expect(plan.patternBytes).toBe(4096);
  });

  it('pads channels to the NCHWc block and reorders an NCHW input of ≥ block channels', () => {
    const g = new GraphBuilder('nchwc');
    const x = g.input('x', ['N', 16, 4, 4]);
    const c = g.node('Conv', [x, g.floatTensor('w', [24, 16, 1, 1], w(384))], { kernel_shape: [1, 1] }, 'c');
    g.output(g.node('Flatten', [g.node('GlobalAveragePool', [c], {}, 'gap')], { axis: 1 }, 'y'), ['N', 24]);
    const graph = readOnnxGraph(g.toBytes());
    const plan = planExecution(graph, inferAt(graph, 2), { nchwcBlock: 16 });
    expect(plan.kernels.map((k) => k.op)).toEqual(['ReorderInput', 'Conv', 'GlobalAveragePool', 'ReorderOutput']);
    // ReorderInput: 2×16×4×4 floats; Conv: 24 → 32 channels: 2×32×16 floats; GAP: 2×32 floats (NCHWc); ReorderOutput → Flatten: the graph output
    expect(plan.kernels.map((k) => k.allocatedBytes)).toEqual([2048, 4096, 256, 0]);
  });

  it('drops a zero Pad in front of a Conv', () => {
    const g = new GraphBuilder('pad');
    const x = g.input('x', ['N', 4, 6, 6]);
    const p = g.node('Pad', [x, g.int64Tensor('pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' }, 'p');
    const c = g.node('Conv', [g.node('Relu', [p], {}, 'r'), g.floatTensor('w', [4, 4, 3, 3], w(144))], { kernel_shape: [3, 3] }, 'c');
    g.output(c, ['N', 4, 6, 6]);
    const direct = new GraphBuilder('direct');
    const x2 = direct.input('x', ['N', 4, 6, 6]);
    const pad2 = direct.node('Pad', [x2, direct.int64Tensor('pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' }, 'p');
    direct.output(direct.node('Conv', [pad2, direct.floatTensor('w', [4, 4, 3, 3], w(144))], { kernel_shape: [3, 3] }, 'c'), ['N', 4, 6, 6]);
    const graph = readOnnxGraph(direct.toBytes());
    expect(planExecution(graph, inferAt(graph, 1), { nchwcBlock: 0 }).kernels.map((k) => k.op)).toEqual(['Conv']);
    const withRelu = readOnnxGraph(g.toBytes());
    // the Pad feeds a Relu, not a Conv: it stays
    expect(planExecution(withRelu, inferAt(withRelu, 1), { nchwcBlock: 0 }).kernels.map((k) => k.op)).toEqual(['Pad', 'Relu', 'Conv']);
  });
});

describe('memory-pattern planner', () => {
  it('places a block in the best-fitting gap, else after the last block', () => {
    const events: AllocationEvent[] = [
      { kind: 'alloc', id: 1, bytes: 100 },
      { kind: 'alloc', id: 2, bytes: 50 },
      { kind: 'free', id: 1 },
      { kind: 'alloc', id: 3, bytes: 60 }, // gap [0, 100)
      { kind: 'alloc', id: 4, bytes: 60 }, // gap [60, 100) is too small: after block 2, at 150
    ];
    expect(patternPeak(events)).toBe(210);
    expect(patternPeak(events.slice(0, 4))).toBe(150);
  });
});

describe('BFC arena', () => {
  it('grows by doubling regions and counts only the pages written', () => {
    const arena = new BfcArena();
    const a = arena.alloc(256 * 1024); // first region: 1 MiB
    const b = arena.alloc(3 * MiB); // 3 MiB > 1 MiB: the next region is 4 MiB
    expect(arena.reservedBytes).toBe(5 * MiB);
    expect(arena.touchedBytes).toBe(256 * 1024 + 3 * MiB);
    arena.free(a);
    arena.free(b);
    arena.alloc(4 * MiB); // fits the free 4 MiB region: one more MiB written
    expect(arena.reservedBytes).toBe(5 * MiB);
    expect(arena.touchedBytes).toBe(256 * 1024 + 4 * MiB);
    arena.alloc(MiB / 2); // the 1 MiB region (its first 256 KiB already written)
    expect(arena.touchedBytes).toBe(256 * 1024 + 4 * MiB + 256 * 1024);
    arena.alloc(5 * MiB); // 5 MiB > the current region size (4 MiB): it doubles to 8 MiB
    expect(arena.reservedBytes).toBe(13 * MiB);
  });

  it('does not split a chunk less than twice the request, and coalesces freed neighbours', () => {
    const arena = new BfcArena();
    const a = arena.alloc(MiB / 4);
    const b = arena.alloc(MiB / 4);
    const c = arena.alloc(MiB / 4);
    arena.free(a);
    arena.free(c);
    arena.free(b); // the whole 1 MiB region is one free chunk again
    const big = arena.alloc(MiB);
    expect(arena.reservedBytes).toBe(MiB);
    arena.free(big);
    arena.alloc(0.6 * MiB); // 1 MiB < 2 × 0.6 MiB: not split
    arena.alloc(0.3 * MiB); // so this needs a new region
    expect(arena.reservedBytes).toBe(3 * MiB);
  });

  it('a pattern block that fits a free region costs only its unwritten pages', () => {
    const graph = readOnnxGraph(residual().toBytes());
    const plan = planExecution(graph, inferAt(graph, 4), { nchwcBlock: 0 });
    const arena = new BfcArena();
    replayFirstRun(arena, plan);
    const est = simulateWorkerArena({ warmUp: [plan], serving: plan });
    expect(est.touchedBytes).toBe(arena.touchedBytes); // the 16 KiB pattern reuses the first run's written pages
    expect(est.patternBytes).toBe(4 * 4096);
  });

  it('knows the NCHWc block of the CPU', () => {
    expect(nchwcBlockFromCpuFlags('fpu sse avx avx2 avx512f', 'x64')).toBe(16);
    expect(nchwcBlockFromCpuFlags('fpu sse avx avx2', 'x64')).toBe(8);
    expect(nchwcBlockFromCpuFlags('fpu sse', 'x64')).toBe(0);
    expect(nchwcBlockFromCpuFlags('avx2', 'arm64')).toBe(0);
  });
});
