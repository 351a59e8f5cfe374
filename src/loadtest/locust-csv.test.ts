import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadSummary } from './contract.js';
import { csvLine, failuresCsv, HistoryCsvWriter, statsCsv } from './locust-csv.js';
import { LoadStats } from './stats.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function summary(patch: Partial<LoadSummary> = {}): LoadSummary {
  return {
    mode: 'users',
    url: 'http://127.0.0.1:8080/predict?model=resnet50',
    startEpochMs: 0,
    durationMs: 10_000,
    stoppedBy: 'duration',
    requests: 100,
    failures: 3,
    failureRatio: 0.03,
    failuresByKind: { 'HTTP 503 QUEUE_FULL': 2, timeout: 1 },
    requestsPerSecond: 10,
    failuresPerSecond: 0.3,
    latencyMs: { mean: 52.25, min: 40.5, max: 120.9, p50: 50.4, p66: 55, p75: 60, p80: 61, p90: 70, p95: 80.5, p98: 90, p99: 100, p999: 110, p9999: 120 },
    avgContentBytes: 321.5,
    users: 4,
    peakInFlight: 4,
    cutInFlight: 0,
    cpu: { userMs: 1, systemMs: 1, cores: 0 },
    ...patch,
  };
}

describe('Locust CSV', () => {
  it('quotes like Python csv.writer and ends lines with CRLF', () => {
    expect(csvLine(['a', 1, 'b,c', 'say "hi"', ''])).toBe('a,1,"b,c","say ""hi""",\r\n');
  });

  it('writes the stats file: the endpoint row and an identical Aggregated row, percentiles as integers', () => {
    const lines = statsCsv(summary()).split('\r\n');
    expect(lines).toHaveLength(4); // header, endpoint, Aggregated, '' after the last CRLF
    expect(lines[1]).toBe('POST,/predict?model=resnet50,100,3,50,52.25,40.5,120.9,321.5,10,0.3,50,55,60,61,70,81,90,100,110,120,121');
    expect(lines[2]).toBe(`,Aggregated,${lines[1]!.split(',').slice(2).join(',')}`);
    expect(lines[3]).toBe('');
  });

  it('writes N/A percentiles when nothing completed, as Locust does', () => {
    const empty = summary({
      requests: 0,
      failures: 0,
      failuresByKind: {},
      latencyMs: { mean: 0, min: 0, max: 0, p50: 0, p66: 0, p75: 0, p80: 0, p90: 0, p95: 0, p98: 0, p99: 0, p999: 0, p9999: 0 },
    });
    expect(statsCsv(empty).split('\r\n')[2]).toBe(',Aggregated,0,0,0,0,0,0,321.5,10,0.3,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A');
  });

  it('writes one failures row per kind', () => {
    expect(failuresCsv(summary()).split('\r\n')).toEqual([
      'Method,Name,Error,Occurrences',
      'POST,/predict?model=resnet50,HTTP 503 QUEUE_FULL,2',
      'POST,/predict?model=resnet50,timeout,1',
      '',
    ]);
  });

  it('appends a history row with current rates, cumulative percentiles and totals', () => {
    const dir = mkdtempSync(join(tmpdir(), 'locust-csv-'));
    dirs.push(dir);
    const path = join(dir, 'run_stats_history.csv');
    const writer = new HistoryCsvWriter(path);
    const stats = new LoadStats(0);
    writer.append(stats, 500, 1_700_000_000_900, 1);
    for (let i = 0; i < 20; i++) stats.record(10 + i, i === 0 ? 'timeout' : undefined, 100, 1_000 + i * 50); // all in second 1
    writer.append(stats, 2_100, 1_700_000_002_100, 3);
    const lines = readFileSync(path, 'utf8').split('\r\n');
    expect(lines[0]!.split(',')).toHaveLength(24);
    expect(lines[1]).toBe('1700000000,1,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0,0,0,0');
    // At 2.1 s: seconds 0 and 1 are whole (20 requests, 1 failure over 2 s).
    expect(lines[2]).toBe('1700000002,3,,Aggregated,10.000000,0.500000,19,23,24,25,27,28,29,29,29,29,29,20,1,19,19.5,10,29,100');
  });
});
