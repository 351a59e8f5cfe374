// The accuracy report as text for a terminal.
import type { Agreement, EvaluationReport } from './contract.js';

const pct = (a: Agreement): string => (a.ratio === null ? 'n/a (no image)' : `${(100 * a.ratio).toFixed(1)} % (${a.agree}/${a.total})`);

export function formatEvaluation(r: EvaluationReport): string {
  const lines = [
    `${r.model}: version ${r.candidate.version} against version ${r.reference.version} on ${r.images.count} images (${r.images.dirs.join(', ')})`,
    `  top-1 agreement            ${pct(r.top1)}`,
    `  low-margin top-1 agreement ${pct(r.lowMargin)}  [version ${r.reference.version}'s top two within ${r.lowMargin.threshold}]`,
    `  top-${r.topK.k} overlap              mean ${(100 * r.topK.meanOverlap).toFixed(1)} %, min ${(100 * r.topK.minOverlap).toFixed(0)} %`,
    `  |probability difference|   mean ${r.probability.meanAbsDiff.toFixed(4)}, max ${r.probability.maxAbsDiff.toFixed(4)}, mean on the top class ${r.probability.meanTop1AbsDiff.toFixed(4)}`,
    `  logits cosine              mean ${r.logits.meanCosine.toFixed(4)}, min ${r.logits.minCosine.toFixed(4)}  [tensor ${r.logits.tensor}]`,
    '  per class (by version ' + r.reference.version + "'s top-1):",
    ...r.perClass.map((c) => `    ${c.label.padEnd(24)} ${pct(c)}`),
  ];
  if (r.disagreements.length > 0) {
    lines.push('  disagreements:');
    for (const d of r.disagreements)
      lines.push(
        `    ${d.file}: ${d.reference.label} ${d.reference.probability.toFixed(3)} → ${d.candidate.label} ${d.candidate.probability.toFixed(3)} (margin ${d.referenceMargin.toFixed(3)})`,
      );
  }
  for (const c of r.checks) {
    const value = c.value === null ? 'n/a' : c.value.toFixed(4);
    lines.push(`  check ${c.name}: ${value} ${c.kind === 'min' ? '≥' : '≤'} ${c.bound} ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  lines.push(`  (${r.seconds.toFixed(1)} s)`);
  return `${lines.join('\n')}\n`;
}
