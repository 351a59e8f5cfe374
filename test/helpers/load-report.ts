// Checks that hold for every LoadReport of the closed-loop engine, in process or in a child.
import { expect } from 'vitest';
import type { LoadReport } from '../../src/loadtest/contract.js';

export function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

export function expectConsistent(report: LoadReport): void {
  expect(report.ok + report.errors).toBe(report.requests);
  expect(sum(report.statusCounts)).toBe(report.requests);
  const { mean, p50, p90, p95, p99, max } = report.latencyMs;
  expect(p50).toBeLessThanOrEqual(p90);
  expect(p90).toBeLessThanOrEqual(p95);
  expect(p95).toBeLessThanOrEqual(p99);
  // HDR percentiles are bucket upper bounds (3 significant digits): allow 0.1% over the exact max.
  expect(p99).toBeLessThanOrEqual(max * 1.001 + 0.001);
  expect(mean).toBeLessThanOrEqual(max);
}
