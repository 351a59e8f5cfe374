// The three outputs of `swarmserve plan`: a human table, the JSON report (contract.ts), and
// the stack-file snippet.
import { ServeError } from '../common/errors.js';
import type { PlanReport } from './contract.js';

export type PlanFormat = 'table' | 'json' | 'compose';

/** ' — int8 25.5 M, int32 26.6 k' when more than one type, or one that is not float32. */
function bySplit(split: Readonly<Record<string, number>>, fmt: (n: number) => string): string {
  const entries = Object.entries(split).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0 || (entries.length === 1 && entries[0]?.[0] === 'float32')) return '';
  return ` — ${entries.map(([type, n]) => `${type} ${fmt(n)}`).join(', ')}`;
}

export function formatReport(report: PlanReport, format: PlanFormat, options: { layers?: boolean } = {}): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'compose') {
    if (report.recommendation === null)
      throw new ServeError(
        'BAD_PARAMETER',
        `no recommendation for ${report.model.source}: the graph analysis is incomplete (${report.unsupportedOperators.map((u) => u.op).join(', ') || 'unknown shapes'})`,
      );
    return report.recommendation.compose;
  }
  return formatTable(report, options.layers ?? true);
}

/** Divides by `base` until the value is below it (or the units run out): [value, unit index]. */
function scaled(value: number, base: number, unitCount: number): [number, number] {
  let v = value;
  let u = 0;
  while (Math.abs(v) >= base && u < unitCount - 1) {
    v /= base;
    u++;
  }
  return [v, u];
}

export function fmtBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const [v, u] = scaled(bytes, 1024, units.length);
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtSi(n: number): string {
  const units = ['', 'k', 'M', 'G', 'T'];
  const [v, u] = scaled(n, 1000, units.length);
  return `${u === 0 ? Math.round(v) : v.toFixed(2)}${units[u] === '' ? '' : ` ${units[u]}`}`;
}

const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const shape = (dims: ReadonlyArray<number | string> | null): string => (dims === null ? '?' : `[${dims.join(',')}]`);

function table(header: string[], rows: string[][], rightAlign: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAlign.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function formatTable(r: PlanReport, withLayers: boolean): string {
  const out: string[] = [];
  const t = r.totals;
  const title = r.model.name === null ? r.model.file : `${r.model.name} v${r.model.version ?? '?'} (${r.model.file})`;
  out.push(`swarmserve plan: ${title}, ${fmtBytes(r.model.fileBytes)}`);
  out.push(`graph "${r.model.graphName}", opset ${r.model.opset}, producer ${r.model.producer || 'unknown'}`);
  out.push(`input  ${r.input.name} ${shape(r.input.shape)} ${r.input.dtype}, ${fmtBytes(r.input.bytesPerImage)} per image`);
  for (const o of r.outputs) out.push(`output ${o.name} ${shape(o.shape)} ${o.dtype}, ${fmtBytes(o.bytesPerImage)} per image`);
  if (!r.complete) {
    out.push('');
    out.push(`WARNING: the analysis is incomplete; totals and memory are lower bounds and no recommendation is made.`);
    for (const u of r.unsupportedOperators)
      out.push(`  unknown operator ${u.op}: ${u.count} node(s): ${u.nodes.slice(0, 5).join(', ')}${u.nodes.length > 5 ? ', …' : ''}`);
    for (const p of r.problems.filter((x) => x.status !== 'unknown-operator').slice(0, 10)) out.push(`  ${p.node} (${p.op}): ${p.message}`);
  }
  if (withLayers) {
    out.push('');
    out.push('Layers (per image)');
    out.push(
      ...table(
        ['#', 'name', 'operator', 'output', 'parameters', 'MACs', 'precision', 'activation'],
        r.layers.map((l, i) => [
          String(i + 1),
          l.name,
          l.status === 'ok' ? l.op : `${l.op} (${l.status})`,
          shape(l.outputShape),
          l.parameters === 0 ? '' : fmtCount(l.parameters),
          l.macs === 0 ? '' : fmtSi(l.macs),
          l.precision ?? '',
          fmtBytes(l.activationBytes),
        ]),
        new Set([0, 4, 5, 7]),
      ).map((l) => `  ${l}`),
    );
  }
  out.push('');
  out.push('Totals');
  const byType = bySplit(t.parametersByPrecision, fmtCount);
  out.push(`  parameters        ${fmtCount(t.parameters)}${byType === '' ? '' : `${byType} (${fmtBytes(t.parameterBytes)})`}`);
  out.push(
    `  stored values     ${fmtCount(t.storedValues)} (${fmtCount(t.nonParameterValues)} are not parameters: BN running statistics, quantization scales and zero points, shapes, scalar bounds)`,
  );
  out.push(`  weight bytes      ${fmtBytes(t.weightBytes)}`);
  out.push(
    `  MACs per image    ${fmtSi(t.macsPerImage)} (dense ${fmtSi(t.denseMacsPerImage)}, grouped/depthwise ${fmtSi(t.groupedMacsPerImage)})${bySplit(t.macsByPrecision, fmtSi)}`,
  );
  out.push(`  input / output    ${fmtBytes(t.inputBytesPerImage)} / ${fmtBytes(t.outputBytesPerImage)} per image`);
  out.push(
    `  throughput        ≈ ${r.throughput.imagesPerSecondPerThread.toFixed(1)} images/s per thread (${(r.throughput.secondsPerImagePerThread * 1000).toFixed(1)} ms per image)`,
  );
  out.push('');
  const c = r.calibration;
  const threads = r.measurements?.[0]?.threads ?? r.recommendation?.threadsPerReplica ?? 1;
  out.push(
    `Worker memory and speed (calibration: ${c.source}, measured ${c.measuredAt} on ${c.machine.cpu}, ${c.machine.cores} cores; latency at ${threads} thread(s))`,
  );
  out.push(
    ...table(
      ['batch', 'peak act.', 'ORT pattern', 'baseline', 'weights', 'arena', 'queued', 'total', 'latency', 'images/s'],
      r.batches.map((b) => [
        String(b.batch),
        fmtBytes(b.peakActivationBytes),
        fmtBytes(b.ortPatternBytes),
        fmtBytes(b.memory.baselineBytes),
        fmtBytes(Math.max(b.memory.weightsBytes, b.memory.loadPeakBytes)),
        fmtBytes(b.memory.arenaBytes),
        fmtBytes(b.memory.queuedInputBytes),
        fmtBytes(b.memory.totalBytes),
        `${b.latencyMs.toFixed(0)} ms`,
        b.imagesPerSecond.toFixed(1),
      ]),
      new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ).map((l) => `  ${l}`),
  );
  const s = r.seedFormula;
  out.push(
    `  sizing article's formula (sum of layer outputs): ${fmtBytes(s.bytes)} for any batch (Σ A_k = ${fmtCount(s.values)} over ${s.layers} layers × ratio ${s.ratio} × ${s.bytesPerValue} B)`,
  );
  if (c.source === 'built-in') out.push(`  (built-in constants: re-measure on your node type with "swarmserve plan --calibrate --calibration FILE")`);

  const rec = r.recommendation;
  if (rec !== null) {
    out.push('');
    out.push(`Recommendation${rec.meetsTarget ? '' : ' (targets NOT met, see notes)'}`);
    out.push(`  batch ${rec.batch}, ${rec.threadsPerReplica} thread(s) per replica, ${rec.replicasPerNode} replica(s) per node (${rec.limitedBy}-bound)`);
    out.push(
      `  per replica: limit ${fmtBytes(rec.memoryLimitBytes)} (reservation ${fmtBytes(rec.memoryReservationBytes)}), ≈ ${rec.replicaImagesPerSecond.toFixed(1)} images/s, p95 ≈ ${Math.round(rec.p95LatencyMs)} ms`,
    );
    out.push(
      `  ${rec.replicas} replica(s) on ${rec.nodesNeeded} node(s)${rec.nodesAvailable === null ? '' : ` (${rec.nodesAvailable} available)`}, ≈ ${rec.nodeImagesPerSecond.toFixed(1)} images/s per node`,
    );
    for (const n of rec.notes) out.push(`  - ${n}`);
    out.push('');
    out.push('Stack file (--format compose):');
    out.push(
      ...rec.compose
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }

  if (r.measurements !== null) {
    out.push('');
    out.push('Measured (fresh worker-like process per batch: session thread, warm-up at 1 and B, timed runs at B)');
    out.push(
      ...table(
        [
          'batch',
          'estimate',
          'measured',
          'error',
          'model-only error',
          'article formula',
          'article error',
          'latency est.',
          'measured',
          'error',
          'images/s est.',
          'measured',
        ],
        r.measurements.map((m) => [
          String(m.batch),
          fmtBytes(m.estimated.totalBytes),
          fmtBytes(m.measured.peakBytes),
          pct(m.memoryErrorPct),
          pct(m.modelMemoryErrorPct),
          fmtBytes(r.seedFormula.bytes),
          pct(m.seedFormulaErrorPct),
          `${m.estimated.latencyMs.toFixed(0)} ms`,
          `${m.measured.latencyMedianMs.toFixed(0)} ms`,
          pct(m.latencyErrorPct),
          m.estimated.imagesPerSecond.toFixed(1),
          m.measured.imagesPerSecond.toFixed(1),
        ]),
        new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      ).map((l) => `  ${l}`),
    );
  }
  return `${out.join('\n')}\n`;
}
