// Sizing: threads per replica, replicas per node, nodes needed, and the stack-file snippet.
//
// For every batch size asked and every thread count 1 … node CPUs, a replica needs
//   memory limit = estimate × (1 + headroom), rounded up to 16 MiB, and `threads` CPUs;
// a node fits min(⌊CPUs / threads⌋, ⌊(memory − system reserve) / limit⌋) replicas. A replica
// serves batch / latency(batch, threads) images/s when its batches are full, and its p95 is
// about maxQueueDelay + 2 × latency (a request can wait for the batch running before its own).
// The plan keeps the candidates that meet --p95-ms and takes the one with the most
// images/s per node (ties: fewer replicas); replicas = ⌈target / replica images/s⌉ (or
// every slot of --nodes nodes), nodes = ⌈replicas / replicas per node⌉.
import { ServeError } from '../common/errors.js';
import type { Recommendation } from './contract.js';

export interface RecommendOptions {
  nodeCpus: number;
  nodeMemoryBytes: number;
  nodes?: number | undefined;
  targetRps?: number | undefined;
  p95Ms?: number | undefined;
  /** Force the threads per replica instead of searching 1 … nodeCpus. */
  threads?: number | undefined;
  batches: readonly number[];
  maxQueueDelayMs: number;
  /** Memory-limit headroom over the estimate (default 0.15). */
  headroom?: number;
  /** Compose service name (default 'worker': the stack swarmserve's model-server service). */
  service?: string;
  /** Model name for SWARMSERVE_ONLY / the comment (omitted when the model is a file). */
  modelName?: string | null;
}

export interface ReplicaModel {
  /** Estimated worker memory at a batch size. */
  memoryBytes(batch: number): number;
  latencyMs(batch: number, threads: number): number;
}

const MiB = 2 ** 20;
const LIMIT_STEP = 16 * MiB;

/** What the node keeps for the OS, Docker and the gateway: 10%, at least 512 MiB. */
export function systemReserveBytes(nodeMemoryBytes: number): number {
  return Math.max(512 * MiB, 0.1 * nodeMemoryBytes);
}

interface Candidate {
  batch: number;
  threads: number;
  limit: number;
  reservation: number;
  perNode: number;
  limitedBy: 'cpu' | 'memory';
  replicaRps: number;
  nodeRps: number;
  p95: number;
  latency: number;
}

export function recommend(model: ReplicaModel, options: RecommendOptions): Recommendation {
  const headroom = options.headroom ?? 0.15;
  const usable = options.nodeMemoryBytes - systemReserveBytes(options.nodeMemoryBytes);
  const threadChoices = options.threads !== undefined ? [options.threads] : Array.from({ length: Math.max(1, options.nodeCpus) }, (_, i) => i + 1);
  const candidates: Candidate[] = [];
  for (const batch of options.batches) {
    const memory = model.memoryBytes(batch);
    const limit = Math.ceil((memory * (1 + headroom)) / LIMIT_STEP) * LIMIT_STEP;
    const reservation = Math.ceil(memory / LIMIT_STEP) * LIMIT_STEP;
    for (const threads of threadChoices) {
      const byCpu = Math.floor(options.nodeCpus / threads);
      const byMemory = Math.floor(usable / limit);
      const perNode = Math.max(0, Math.min(byCpu, byMemory));
      const latency = model.latencyMs(batch, threads);
      const replicaRps = latency > 0 ? (batch * 1000) / latency : 0;
      candidates.push({
        batch,
        threads,
        limit,
        reservation,
        perNode,
        limitedBy: byMemory < byCpu ? 'memory' : 'cpu',
        replicaRps,
        nodeRps: perNode * replicaRps,
        p95: options.maxQueueDelayMs + 2 * latency,
        latency,
      });
    }
  }
  const notes: string[] = [];
  const fitting = candidates.filter((c) => c.perNode > 0);
  const meetingP95 = fitting.filter((c) => options.p95Ms === undefined || c.p95 <= options.p95Ms);
  const byThroughput = (a: Candidate, b: Candidate): number => b.nodeRps - a.nodeRps || a.perNode - b.perNode || a.p95 - b.p95;
  let chosen = [...meetingP95].sort(byThroughput)[0];
  let meetsP95 = chosen !== undefined;
  if (chosen === undefined) {
    const fastest = [...(fitting.length > 0 ? fitting : candidates)].sort((a, b) => a.p95 - b.p95 || byThroughput(a, b))[0];
    if (fastest === undefined) throw new ServeError('BAD_PARAMETER', 'no batch size to plan for');
    chosen = fastest;
    meetsP95 = false;
    if (fitting.length === 0)
      notes.push(`one replica needs a ${fmtMiB(chosen.limit)} limit: more than a node's usable ${fmtMiB(usable)} (node memory less the system reserve)`);
    else
      notes.push(
        `no batch size / thread count meets p95 ≤ ${options.p95Ms} ms on this node type: the fastest is ≈ ${Math.round(chosen.p95)} ms (batch ${chosen.batch}, ${chosen.threads} threads); use fewer images per batch or faster nodes`,
      );
  }
  const perNode = Math.max(chosen.perNode, 1);
  let replicas: number;
  if (options.targetRps !== undefined) replicas = Math.max(1, Math.ceil(options.targetRps / Math.max(chosen.replicaRps, 1e-9)));
  else replicas = perNode * (options.nodes ?? 1);
  const nodesNeeded = Math.ceil(replicas / perNode);
  let meetsTarget = meetsP95 && chosen.perNode > 0;
  if (options.nodes !== undefined && nodesNeeded > options.nodes) {
    meetsTarget = false;
    notes.push(
      `${options.targetRps} images/s needs ${nodesNeeded} nodes of this type; ${options.nodes} available serve ≈ ${Math.round(options.nodes * chosen.nodeRps)} images/s`,
    );
  }
  if (chosen.limitedBy === 'memory' && chosen.perNode > 0)
    notes.push(
      `memory-bound: ${chosen.perNode} replicas of ${fmtMiB(chosen.limit)} fill the node's memory while ${options.nodeCpus - chosen.perNode * chosen.threads} CPUs stay idle`,
    );
  notes.push('images/s assume full batches (a loaded service); at low load batches are smaller and latency is lower');
  const rec: Omit<Recommendation, 'compose'> = {
    batch: chosen.batch,
    threadsPerReplica: chosen.threads,
    replicasPerNode: chosen.perNode,
    limitedBy: chosen.limitedBy,
    memoryLimitBytes: chosen.limit,
    memoryReservationBytes: chosen.reservation,
    replicaImagesPerSecond: chosen.replicaRps,
    nodeImagesPerSecond: chosen.nodeRps,
    p95LatencyMs: chosen.p95,
    replicas,
    nodesNeeded,
    nodesAvailable: options.nodes ?? null,
    meetsTarget,
    notes,
  };
  return { ...rec, compose: composeSnippet(rec, options) };
}

function fmtMiB(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
}

/** Docker's memory syntax (binary units): 704M = 704 MiB. */
export function dockerMemory(bytes: number): string {
  const mib = Math.ceil(bytes / MiB);
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

/** The `deploy` section, replicas and worker settings for the stack file, as YAML. */
export function composeSnippet(
  rec: Omit<Recommendation, 'compose'>,
  options: Pick<RecommendOptions, 'service' | 'modelName' | 'nodeCpus' | 'nodeMemoryBytes'>,
): string {
  const service = options.service ?? 'worker';
  // With every slot of the nodes taken, a start-first update has nowhere to start its new task.
  const full = rec.replicas >= Math.max(1, rec.replicasPerNode) * Math.max(1, rec.nodesNeeded);
  const lines = [
    `# swarmserve plan${options.modelName === undefined || options.modelName === null ? '' : ` ${options.modelName}`}: batch ${rec.batch}, ${rec.threadsPerReplica} thread(s) per replica,`,
    `# ${rec.replicasPerNode} replica(s) per node of ${options.nodeCpus} CPUs / ${dockerMemory(options.nodeMemoryBytes)}, ${rec.nodesNeeded} node(s);`,
    `# estimated ${Math.round(rec.replicaImagesPerSecond * 10) / 10} images/s and p95 ≈ ${Math.round(rec.p95LatencyMs)} ms per replica.`,
    '# Memory: the estimate for one worker + headroom; a replica that also decodes requests needs more under load (docs/planner.md).',
    '# Merge into the stack file: docker stack deploy -c deploy/swarm/docker-compose.yml -c this.yml swarmserve (3.8: max_replicas_per_node).',
    ...(full ? ['# Every slot of the nodes is used, so updates stop an old task before starting its replacement (stop-first).'] : []),
    'version: "3.8"',
    'services:',
    `  ${service}:`,
    '    environment:',
    `      SWARMSERVE_THREADS: "${rec.threadsPerReplica}"`,
    `      SWARMSERVE_MAX_BATCH_SIZE: "${rec.batch}"`,
    ...(options.modelName === undefined || options.modelName === null ? [] : [`      SWARMSERVE_ONLY: "${options.modelName}"`]),
    '    deploy:',
    `      replicas: ${rec.replicas}`,
    '      placement:',
    `        max_replicas_per_node: ${Math.max(1, rec.replicasPerNode)}`,
    '      resources:',
    '        limits:',
    `          cpus: "${rec.threadsPerReplica}"`,
    `          memory: ${dockerMemory(rec.memoryLimitBytes)}`,
    '        reservations:',
    `          cpus: "${rec.threadsPerReplica}"`,
    `          memory: ${dockerMemory(rec.memoryReservationBytes)}`,
    ...(full ? ['      update_config:', '        order: stop-first'] : []),
  ];
  return `${lines.join('\n')}\n`;
}
