// A vitest reporter beside the default one: at the end of a run over several projects (what
// `npm test` runs), one line with each project's files and wall time, from its first file's start
// to its last file's end, so that every run shows what unit, integration and e2e each cost.
// With SWARMSERVE_PROJECT_TIMES=FILE it also appends `<project> <start s> <end s> <files>` lines
// there (seconds since the run started), from which .ci/run prints its unit and integration/e2e
// phases.
import { appendFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

interface Span {
  files: number;
  start: number;
  end: number;
}

export default class ProjectTimes implements Reporter {
  private spans = new Map<string, Span>();
  private started = performance.now();

  onTestRunStart(): void {
    this.spans = new Map();
    this.started = performance.now();
  }

  onTestModuleStart(module: TestModule): void {
    const now = (performance.now() - this.started) / 1000;
    const span = this.spans.get(module.project.name) ?? { files: 0, start: now, end: now };
    span.files++;
    this.spans.set(module.project.name, span);
  }

  onTestModuleEnd(module: TestModule): void {
    const span = this.spans.get(module.project.name);
    if (span !== undefined) span.end = (performance.now() - this.started) / 1000;
  }

  onTestRunEnd(): void {
    if (this.spans.size < 2) return;
    const spans = [...this.spans];
    process.stderr.write(`vitest: ${spans.map(([name, s]) => `${name} ${s.files} files in ${Math.round(s.end - s.start)} s`).join(', ')}\n`);
    const file = process.env.SWARMSERVE_PROJECT_TIMES;
    if (file) appendFileSync(file, spans.map(([name, s]) => `${name} ${s.start.toFixed(1)} ${s.end.toFixed(1)} ${s.files}\n`).join(''));
  }
}
