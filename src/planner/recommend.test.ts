import { describe, expect, it } from 'vitest';
import { composeSnippet, dockerMemory, recommend, systemReserveBytes, type ReplicaModel } from './recommend.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** 100 MiB + 10 MiB per image; 50 ms per image on one thread, each extra thread adding 0.8 of one. */
const model: ReplicaModel = {
  memoryBytes: (b) => (100 + 10 * b) * MiB,
  latencyMs: (b, t) => (b * 50) / (1 + (t - 1) * 0.8),
};
const base = { nodeCpus: 4, nodeMemoryBytes: 2 * GiB, batches: [1, 8], maxQueueDelayMs: 5 };

describe('recommend', () => {
  it('maximises images/s per node: one thread per replica, as many replicas as CPUs', () => {
    const r = recommend(model, base);
    // batch 1: limit 110 MiB × 1.15 → 128 MiB; 4 replicas (CPU-bound; memory would allow ⌊1536 / 128⌋ = 12)
    expect(r).toMatchObject({
      batch: 1,
      threadsPerReplica: 1,
      replicasPerNode: 4,
      limitedBy: 'cpu',
      memoryLimitBytes: 128 * MiB,
      memoryReservationBytes: 112 * MiB,
      replicas: 4,
      nodesNeeded: 1,
      meetsTarget: true,
    });
    expect(r.replicaImagesPerSecond).toBeCloseTo(20);
    expect(r.nodeImagesPerSecond).toBeCloseTo(80);
    expect(r.p95LatencyMs).toBeCloseTo(105);
  });

  it('trades throughput for latency to meet --p95-ms, and counts replicas and nodes for --target-rps', () => {
    const r = recommend(model, { ...base, p95Ms: 60, targetRps: 200 });
    // 1 thread: p95 5 + 2·50 = 105 ms; 2: 60.6; 3: 43.5; 4: 34.4 → 4 threads, 1 replica per node, 50 / 0.0294 s = 68 images/s
    expect(r.threadsPerReplica).toBe(4);
    expect(r.replicasPerNode).toBe(1);
    expect(r.replicaImagesPerSecond).toBeCloseTo(68);
    expect(r.replicas).toBe(3);
    expect(r.nodesNeeded).toBe(3);
    expect(r.meetsTarget).toBe(true);
    const short = recommend(model, { ...base, p95Ms: 60, targetRps: 200, nodes: 2 });
    expect(short.meetsTarget).toBe(false);
    expect(short.notes.join('\n')).toMatch(/needs 3 nodes of this type; 2 available serve ≈ 136 images\/s/);
  });

  it('says when no configuration meets the latency target, and when memory is the limit', () => {
    const slow = recommend(model, { ...base, p95Ms: 10 });
    expect(slow.meetsTarget).toBe(false);
    expect(slow.notes[0]).toMatch(/no batch size \/ thread count meets p95 ≤ 10 ms/);
    // 1 GiB node: 512 MiB usable; batch 8 needs 180 MiB × 1.15 → 208 MiB: 2 replicas while 4 CPUs could run 4
    const tight = recommend(model, { ...base, nodeMemoryBytes: GiB, batches: [8], threads: 1 });
    expect(tight).toMatchObject({ replicasPerNode: 2, limitedBy: 'memory', memoryLimitBytes: 208 * MiB });
    expect(tight.notes.join('\n')).toMatch(/memory-bound: 2 replicas of 208 MiB/);
    const none = recommend(model, { ...base, nodeMemoryBytes: 600 * MiB, batches: [32] });
    expect(none.meetsTarget).toBe(false);
    expect(none.notes[0]).toMatch(/more than a node's usable/);
  });

  it('writes the stack-file snippet with Docker units', () => {
    expect(dockerMemory(128 * MiB)).toBe('128M');
    expect(dockerMemory(2 * GiB)).toBe('2G');
    expect(dockerMemory(100 * MiB + 1)).toBe('101M');
    expect(systemReserveBytes(2 * GiB)).toBe(512 * MiB);
    expect(systemReserveBytes(64 * GiB)).toBeCloseTo(6.4 * GiB);
    const r = recommend(model, { ...base, service: 'classifier', modelName: 'resnet50' });
    expect(r.compose).toBe(composeSnippet(r, { service: 'classifier', modelName: 'resnet50', nodeCpus: 4, nodeMemoryBytes: 2 * GiB }));
    expect(r.compose.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'version: "3.8"',
      'services:',
      '  classifier:',
      '    environment:',
      '      SWARMSERVE_THREADS: "1"',
      '      SWARMSERVE_MAX_BATCH_SIZE: "1"',
      '      SWARMSERVE_ONLY: "resnet50"',
      '    deploy:',
      '      replicas: 4',
      '      placement:',
      '        max_replicas_per_node: 4',
      '      resources:',
      '        limits:',
      '          cpus: "1"',
      '          memory: 128M',
      '        reservations:',
      '          cpus: "1"',
      '          memory: 112M',
      '      update_config:',
      '        order: stop-first',
      '',
    ]);
    // A free slot: the stack file's start-first updates can place their new task.
    expect(composeSnippet({ ...r, replicas: 3 }, { modelName: 'resnet50', nodeCpus: 4, nodeMemoryBytes: 2 * GiB })).not.toContain('update_config');
    expect(composeSnippet({ ...r, replicas: 3 }, { modelName: 'resnet50', nodeCpus: 4, nodeMemoryBytes: 2 * GiB })).toContain('\n  worker:\n');
  });
});
