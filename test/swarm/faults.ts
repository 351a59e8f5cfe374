// The swarm end-to-end test's fault cases, each under the steady load: a worker node loses
// power, a worker node is drained, a partition heals, Redis's task is killed, Redis's node is
// lost. Each case records the load's figures in its phase (sent, answered 200, refused with
// 503 at submission, failed otherwise, the slowest answer), when the stack was back in its
// desired state and when throughput was back, and checks that no accepted request was lost.
import type { Cluster, ClusterNode } from './cluster.js';
import { httpStatus, sleep, waitFor } from './exec.js';
import type { Load } from './load.js';
import type { Figures, Report } from './report.js';
import type { StackProbe, Task } from './stack.js';

export interface FaultContext {
  cluster: Cluster;
  probe: StackProbe;
  load: Load;
  report: Report;
  gateway: string;
  /** The nodes labelled swarmserve.redis=true. */
  redisNodes: ClusterNode[];
  /** Every request's timeout_ms: a case must recover well within it. */
  deadlineMs: number;
}

const WORKERS = 3;
/** A 503 comes at once: at worst a submission written into a dead connection waits for the link's liveness timeout (5 s). */
const REFUSAL_WITHIN_MS = 6_000;
/** How long a partition lasts after Swarm has seen the node down. */
const PARTITION_AFTER_DOWN_MS = 5_000;

const since = (t: number): number => Math.round((Date.now() - t) / 100) / 10;

interface FaultCase {
  name: string;
  phase: string;
  /** Makes the fault; returns when it is made. */
  act: (f: Figures) => Promise<void>;
  /** Returns when the stack is back in its desired state (by itself: no manual step). */
  recovered: (f: Figures, faultAt: number) => Promise<void>;
  /** Puts the cluster back for the next case (power on, reactivate), outside the measured phase. */
  restore?: (f: Figures) => Promise<void>;
}

async function runCase(ctx: FaultContext, fc: FaultCase): Promise<void> {
  const { load: L, report } = ctx;
  await report.step(`fault: ${fc.name}`, async (f) => {
    const now = Date.now();
    const before = L.rate(now - 10_000, now);
    f.okPerSecondBefore = Math.round(before * 100) / 100;
    L.enterFault(fc.phase);
    const faultAt = Date.now();
    try {
      await fc.act(f);
      await fc.recovered(f, faultAt);
      f.desiredStateSeconds = since(faultAt);
    } finally {
      L.phase = `after-${fc.phase}`;
    }
    // Throughput must be back and stay so for 10 s: watch that long past the stack's recovery.
    const back = await waitFor(
      'throughput back and steady for 10 s',
      ctx.deadlineMs,
      () => Promise.resolve(L.backSeconds(faultAt, before, Date.now())),
      1000,
    ).catch(() => undefined);
    f.throughputBackSeconds = back ?? null;
    f.recoverySeconds = back ?? null;
    // Requests started during the fault finish (or fail) by their deadline.
    await waitFor(`every request of ${fc.phase} answered`, ctx.deadlineMs + 20_000, () => Promise.resolve(L.settled(fc.phase) ? true : undefined), 250);
    const s = L.stats(fc.phase);
    f.load = {
      sent: s.sent,
      ok: s.ok,
      refusedAtSubmission: s.refused,
      failed: s.failed,
      slowestOkMs: s.slowestOkMs,
      slowestRefusalMs: s.slowestRefusalMs,
      outcomes: s.outcomes,
    };
    if (fc.restore) await fc.restore(f);
    report.data.faults.push({ case: fc.name, ...f });
    report.target(
      `${fc.name}: accepted requests lost`,
      s.failed === 0,
      `${s.failed} of ${s.sent} (${s.ok} answered 200, ${s.refused} refused with 503 at submission)`,
      '0',
    );
    report.target(`${fc.name}: requests answered during the fault`, s.ok > 0, s.ok, '> 0');
    if (s.refused > 0)
      report.target(
        `${fc.name}: refusals at once (within Redis's liveness timeout)`,
        s.slowestRefusalMs <= REFUSAL_WITHIN_MS,
        `slowest ${s.slowestRefusalMs} ms`,
        `≤ ${REFUSAL_WITHIN_MS} ms`,
      );
    report.target(
      `${fc.name}: throughput back (≥ half of before, steady 10 s) within the requests' deadline`,
      back !== undefined && back * 1000 < ctx.deadlineMs,
      back === undefined ? 'not back' : `${back} s`,
      `< ${ctx.deadlineMs / 1000} s`,
    );
  });
}

/** A worker node that runs workers but not Redis: losing it loses workers with jobs in hand, and only those. */
async function workerNodeWithoutRedis(ctx: FaultContext): Promise<{ node: ClusterNode; workers: Task[] }> {
  const redisOn = (await ctx.probe.waitRunning('redis', 1, 60_000)).map((t) => t.node);
  // At most 2 workers fit a node (1 CPU reserved each, 2 per node): with all 3 running, one runs off Redis's node.
  const workers = await ctx.probe.waitRunning('worker', WORKERS, 120_000);
  for (const n of ctx.cluster.workers) {
    const here = workers.filter((t) => t.node === n.hostname);
    if (here.length > 0 && !redisOn.includes(n.hostname)) return { node: n, workers: here };
  }
  throw new Error(`no worker node runs a worker without Redis: workers on ${workers.map((t) => t.node).join(', ')}, Redis on ${redisOn.join(', ')}`);
}

async function waitNodeState(ctx: FaultContext, n: ClusterNode, state: string, timeoutMs: number): Promise<void> {
  await waitFor(`${n.hostname} ${state}`, timeoutMs, async () => ((await ctx.cluster.nodeState(n)) === state ? true : undefined), 250);
}

async function waitReady(ctx: FaultContext, timeoutMs: number): Promise<void> {
  await waitFor('gateway /health/ready 200', timeoutMs, async () => ((await httpStatus(`${ctx.gateway}/health/ready`)) === 200 ? true : undefined), 250);
}

/** Powers a lost node on again and waits until the swarm has it back Ready. */
async function powerBackOn(ctx: FaultContext, n: ClusterNode | undefined, f: Figures): Promise<void> {
  if (!n) return;
  const s = Date.now();
  await ctx.cluster.powerOn(n);
  await ctx.cluster.waitReady(60_000);
  f.nodeBackSeconds = since(s);
}

export async function runFaultCases(ctx: FaultContext): Promise<void> {
  const { cluster: c, probe } = ctx;
  // Each case compares throughput with the 10 s before it: the load must be steady by then.
  ctx.load.phase = 'before-faults';
  await sleep(12_000);

  let dead: ClusterNode | undefined;
  await runCase(ctx, {
    name: 'a worker node loses power (link cut, every process of the node SIGKILLed) with jobs in hand',
    phase: 'node-power-loss',
    act: async (f) => {
      const { node, workers } = await workerNodeWithoutRedis(ctx);
      dead = node;
      f.node = node.hostname;
      f.workersLost = workers.length;
      f.processesKilled = await c.powerOff(node);
    },
    recovered: async (f, t) => {
      if (!dead) throw new Error('no node');
      const n = dead;
      await waitNodeState(ctx, n, 'down', 60_000);
      f.nodeDownSeconds = since(t);
      await probe.waitRunning('worker', WORKERS, 120_000, { notOn: [n.hostname] });
      f.rescheduledSeconds = since(t);
    },
    restore: (f) => powerBackOn(ctx, dead, f),
  });

  let drained: ClusterNode | undefined;
  await runCase(ctx, {
    name: 'a worker node is drained (its workers drain on SIGTERM and are replaced elsewhere)',
    phase: 'node-drain',
    act: async (f) => {
      const { node, workers } = await workerNodeWithoutRedis(ctx);
      drained = node;
      f.node = node.hostname;
      f.workersMoved = workers.length;
      await c.docker(c.manager, ['node', 'update', '--availability', 'drain', node.hostname]);
    },
    recovered: async (f, t) => {
      if (!drained) throw new Error('no node');
      const n = drained;
      await probe.waitRunning('worker', WORKERS, 180_000, { notOn: [n.hostname] });
      f.replacedSeconds = since(t);
      await waitFor(`no container left on ${n.hostname}`, 120_000, async () => ((await c.docker(n, ['ps', '-q'])) === '' ? true : undefined), 500);
      f.nodeEmptySeconds = since(t);
    },
    restore: async () => {
      if (drained) await c.docker(c.manager, ['node', 'update', '--availability', 'active', drained.hostname]);
    },
  });

  let cut: ClusterNode | undefined;
  await runCase(ctx, {
    name: 'a worker node is partitioned away, then the partition heals',
    phase: 'partition',
    act: async (f) => {
      const { node, workers } = await workerNodeWithoutRedis(ctx);
      cut = node;
      f.node = node.hostname;
      f.workersCutOff = workers.length;
      await c.cutLink(node);
    },
    recovered: async (f, t) => {
      if (!cut) throw new Error('no node');
      const n = cut;
      await waitNodeState(ctx, n, 'down', 60_000);
      f.nodeDownSeconds = since(t);
      // Swarm makes the replacements when it sees the node down; the partition lasts a little
      // longer, then heals while they start: the cut-off tasks must then go by themselves.
      await sleep(PARTITION_AFTER_DOWN_MS);
      await c.healLink(n);
      f.healedAtSeconds = since(t);
      await waitNodeState(ctx, n, 'ready', 60_000);
      f.nodeReadySeconds = since(t);
      // Desired state: the tasks Swarm moved away are gone from the healed node (no replica
      // runs twice), and the service runs exactly its replicas.
      await waitFor(`no stale worker container on ${n.hostname}`, 120_000, async () => {
        const running = (await c.docker(n, ['ps', '-q', '-f', 'label=com.docker.swarm.service.name=swarmserve_worker'])).split('\n').filter(Boolean);
        const meant = (await probe.running('worker')).filter((x) => x.node === n.hostname).length;
        return running.length === meant ? true : undefined;
      });
      await probe.waitRunning('worker', WORKERS, 120_000);
      f.desiredAfterHealSeconds = Math.round((since(t) - Number(f.healedAtSeconds)) * 10) / 10;
    },
  });

  await runCase(ctx, {
    name: "Redis's task is killed (Swarm restarts it)",
    phase: 'redis-task-kill',
    act: async (f) => {
      const [redis] = await probe.running('redis');
      if (!redis) throw new Error('Redis does not run');
      f.redisWasOn = redis.node;
      f.killed = redis.containerId.slice(0, 12);
      await c.docker(redis.node, ['kill', redis.containerId]);
      f.killedContainer = redis.containerId;
    },
    recovered: async (f, t) => {
      const old = String(f.killedContainer);
      delete f.killedContainer;
      const [redis] = await probe.waitRunning('redis', 1, 120_000, { not: [old] });
      f.redisNowOn = redis?.node;
      f.redisRunningSeconds = since(t);
      await waitReady(ctx, 60_000);
      f.readySeconds = since(t);
      await probe.waitRunning('worker', WORKERS, 60_000);
    },
  });

  let redisHost: ClusterNode | undefined;
  await runCase(ctx, {
    name: "Redis's node is lost (Redis restarts empty on the other labelled node)",
    phase: 'redis-node-loss',
    act: async (f) => {
      const [redis] = await probe.running('redis');
      if (!redis) throw new Error('Redis does not run');
      redisHost = c.node(redis.node);
      f.node = redis.node;
      f.workersLost = (await probe.running('worker')).filter((x) => x.node === redis.node).length;
      f.processesKilled = await c.powerOff(redisHost);
    },
    recovered: async (f, t) => {
      if (!redisHost) throw new Error('no node');
      const n = redisHost;
      const [redis] = await probe.waitRunning('redis', 1, 120_000, { notOn: [n.hostname] });
      f.redisNowOn = redis?.node;
      f.redisRunningSeconds = since(t);
      await waitReady(ctx, 60_000);
      f.readySeconds = since(t);
      await probe.waitRunning('worker', WORKERS, 120_000, { notOn: [n.hostname] });
      f.workersRescheduledSeconds = since(t);
    },
    restore: (f) => powerBackOn(ctx, redisHost, f),
  });
}
