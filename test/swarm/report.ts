// The swarm end-to-end test's report: every step timed with its figures, the checks (any
// miss fails the run) and the speed findings (measured and judged, never a failure), kept in
// bench/results/swarm-e2e-<time>.json and printed as the run goes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Figures = Record<string, unknown>;
export interface StepRecord {
  step: string;
  ok: boolean;
  seconds: number;
  figures: Figures;
  error?: string;
}
export interface Target {
  name: string;
  ok: boolean;
  value: unknown;
  want: string;
}

export const show = (v: unknown): string =>
  typeof v === 'object' && v !== null ? JSON.stringify(v) : typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
const fmt = (f: Figures): string =>
  Object.entries(f)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');

export class Report {
  readonly t0 = Date.now();
  readonly data = {
    schema: 'swarmserve.swarm-e2e/2',
    startedAt: new Date(this.t0).toISOString(),
    host: {} as Figures,
    settings: {} as Figures,
    /** The cluster: node hostnames, roles and addresses. */
    nodes: [] as Figures[],
    /** Where each service's tasks ran, as `docker service ps` showed them. */
    placement: {} as Figures,
    steps: [] as StepRecord[],
    /** Fault cases under load, each with its figures. */
    faults: [] as Figures[],
    /** Checks: every one must pass. */
    targets: [] as Target[],
    /** Speed targets: measured and judged, reported, never a failure. */
    findings: [] as Target[],
    teardown: [] as StepRecord[],
    passed: false,
    wallSeconds: 0,
  };

  constructor(readonly file: string) {}

  log(msg: string): void {
    console.log(`[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
  }

  /** Runs one timed step; its figures are kept whether it passes or throws (and the error rethrown). */
  async step(name: string, fn: (f: Figures) => Promise<void>, into: StepRecord[] = this.data.steps): Promise<void> {
    const s = Date.now();
    const figures: Figures = {};
    this.log(`▶ ${name}`);
    try {
      await fn(figures);
      const rec: StepRecord = { step: name, ok: true, seconds: (Date.now() - s) / 1000, figures };
      into.push(rec);
      this.log(`✔ ${name} (${rec.seconds.toFixed(1)} s) ${fmt(figures)}`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      into.push({ step: name, ok: false, seconds: (Date.now() - s) / 1000, figures, error });
      this.log(`✘ ${name} (${((Date.now() - s) / 1000).toFixed(1)} s) ${fmt(figures)}\n${error}`);
      throw e;
    }
  }

  target(name: string, ok: boolean, value: unknown, want: string): void {
    this.data.targets.push({ name, ok, value, want });
    this.log(`${ok ? 'PASS' : 'FAIL'} target ${name}: ${show(value)} (want ${want})`);
  }

  /** A speed target: judged and kept beside its figure; a miss is a finding about the host. */
  finding(name: string, met: boolean, value: unknown, want: string): void {
    this.data.findings.push({ name, ok: met, value, want });
    this.log(`${met ? 'MET' : 'MISSED'} speed target ${name}: ${show(value)} (want ${want}; a finding, not a failure)`);
  }

  /** Writes the JSON file and prints the summary; `failed`: the run stopped on an error. */
  finish(failed: boolean, where: string): boolean {
    const d = this.data;
    d.wallSeconds = (Date.now() - this.t0) / 1000;
    d.passed = !failed && d.targets.length > 0 && d.targets.every((t) => t.ok) && d.teardown.every((s) => s.ok);
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, `${JSON.stringify(d, null, 2)}\n`);
    this.log('— summary —');
    for (const s of d.steps) this.log(`${s.ok ? '  ' : '✘ '}${s.seconds.toFixed(1).padStart(6)} s  ${s.step}`);
    for (const f of d.faults) this.log(`fault ${show(f.case)}: ${show(f.load)}; recovered ${show(f.recoverySeconds)} s`);
    for (const t of d.targets) this.log(`${t.ok ? 'PASS' : 'FAIL'} ${t.name}: ${show(t.value)}`);
    for (const t of d.findings) this.log(`${t.ok ? 'MET' : 'MISSED'} speed target ${t.name}: ${show(t.value)} (want ${t.want})`);
    for (const s of d.teardown) if (!s.ok) this.log(`FAIL teardown ${s.step}: ${s.error ?? ''}`);
    this.log(`${d.passed ? 'PASSED' : 'FAILED'} in ${d.wallSeconds.toFixed(1)} s; figures in ${this.file}; logs in ${where}`);
    return d.passed;
  }
}
