// One row of a benchmark's results table: a ratio or a difference against its target.

export interface ResultRow {
  measure: string;
  served: string;
  baseline: string;
  comparison: string;
  target: string;
  /** INFO: reported without a target (it counts neither as a pass nor as a failure). */
  result: 'PASS' | 'FAIL' | 'ERROR' | 'INFO';
  value?: number;
}

/** PASS, or the result in bold so that a failure stands out in the table. */
export function resultCell(row: ResultRow): string {
  return row.result === 'PASS' || row.result === 'INFO' ? row.result : `**${row.result}**`;
}
