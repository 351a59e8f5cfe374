// What the swarm says about the stack's services, read through the manager (tasks, the node
// each runs on, its container) and each node's own engine (exec into a container, its cgroup).
import { existsSync, readFileSync } from 'node:fs';
import type { Cluster } from './cluster.js';
import { waitFor } from './exec.js';

const MiB = 1024 * 1024;

export interface Task {
  id: string;
  /** The node's hostname. */
  node: string;
  desired: string;
  state: string;
  containerId: string;
  error: string;
}

export interface MemoryPeak {
  container: string;
  node: string;
  peakMiB: number;
  limitMiB: number;
  peakOverEstimate: number;
  peakOverLimit: number;
}

export class StackProbe {
  constructor(
    readonly cluster: Cluster,
    readonly stack: string,
  ) {}

  service(name: string): string {
    return `${this.stack}_${name}`;
  }

  private async nodeNames(): Promise<Map<string, string>> {
    const lines = (await this.cluster.docker(this.cluster.manager, ['node', 'ls', '--format', '{{.ID}} {{.Hostname}}'])).split('\n');
    return new Map(lines.filter(Boolean).map((l) => l.split(' ') as [string, string]));
  }

  /** Every task of the service the manager remembers (current and recent history). */
  async tasks(service: string): Promise<Task[]> {
    // A task listed by `service ps` can be gone by the `inspect` right after it (a scale-down
    // removes its slot's tasks): list again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.inspectTasks(service);
      } catch (e) {
        if (attempt >= 5 || !/task \S+ not found/.test(e instanceof Error ? e.message : String(e))) throw e;
      }
    }
  }

  private async inspectTasks(service: string): Promise<Task[]> {
    const mgr = this.cluster.manager;
    const ids = (await this.cluster.docker(mgr, ['service', 'ps', '-q', '--no-trunc', this.service(service)])).split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const names = await this.nodeNames();
    const out = await this.cluster.docker(mgr, [
      'inspect',
      '--type',
      'task',
      '-f',
      '{{.ID}}|{{.NodeID}}|{{.DesiredState}}|{{.Status.State}}|{{if .Status.ContainerStatus}}{{.Status.ContainerStatus.ContainerID}}{{end}}|{{.Status.Err}}',
      ...ids,
    ]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id = '', nodeId = '', desired = '', state = '', containerId = '', error = ''] = l.split('|');
        return { id, node: names.get(nodeId) ?? nodeId, desired, state, containerId, error };
      });
  }

  /** Tasks meant to run that do run (in swarm a task with a health check runs once healthy). */
  async running(service: string): Promise<Task[]> {
    return (await this.tasks(service)).filter((t) => t.desired === 'running' && t.state === 'running');
  }

  /** Waits until exactly n tasks of the service run, every task meant to run does, none in `not` (container ids) or on `notOn` (hostnames). */
  async waitRunning(service: string, n: number, timeoutMs: number, o: { not?: string[]; notOn?: string[] } = {}): Promise<Task[]> {
    try {
      return await waitFor(`${n} running ${this.service(service)} tasks`, timeoutMs, async () => {
        const all = (await this.tasks(service)).filter((t) => t.desired === 'running');
        const ok = all.length === n && all.every((t) => t.state === 'running' && !(o.not ?? []).includes(t.containerId) && !(o.notOn ?? []).includes(t.node));
        return ok ? all : undefined;
      });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${await this.diagnostics(service)}`, { cause: e });
    }
  }

  /** What Swarm says about a service: why a wait failed, in the log of a red run. */
  async diagnostics(service: string): Promise<string> {
    const mgr = this.cluster.manager;
    const ps = await this.cluster
      .docker(mgr, ['service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', this.service(service)])
      .catch((e: unknown) => String(e));
    const update = await this.cluster
      .docker(mgr, ['service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}{{end}}', this.service(service)])
      .catch((e: unknown) => String(e));
    const nodes = await this.cluster.docker(mgr, ['node', 'ls']).catch((e: unknown) => String(e));
    return `--- docker service ps ${this.service(service)}:\n${ps}\n--- update status: ${update || 'none'}\n--- docker node ls:\n${nodes}`;
  }

  /** Runs `node -e script` in the task's container, on the node that runs it. */
  async execNode(task: Task, script: string): Promise<string> {
    return this.cluster.docker(task.node, ['exec', task.containerId, 'node', '-e', script]);
  }

  /** Images each worker task computed: swarmserve_batch_size_sum from its own /metrics (port 9090). */
  async workerCounters(tasks: Task[]): Promise<Record<string, number>> {
    const script =
      'fetch("http://127.0.0.1:9090/metrics").then(r=>r.text()).then(t=>{const m=t.match(/^swarmserve_batch_size_sum\\{model="resnet50",version="1"\\} (\\S+)/m);console.log(m?m[1]:"0")})';
    const out: Record<string, number> = {};
    await Promise.all(
      tasks.map(async (t) => {
        out[t.id] = Number(await this.execNode(t, script));
      }),
    );
    return out;
  }

  /** The container's memory peak from its cgroup (v2 memory.peak, v1 memory.max_usage_in_bytes): the nodes share this host's kernel. */
  async memoryPeak(task: Task, estimateBytes: number): Promise<MemoryPeak> {
    const pid = await this.cluster.docker(task.node, ['inspect', '-f', '{{.State.Pid}}', task.containerId]);
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
    let peak: number;
    let limit: number;
    const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
    if (v1) {
      const dir = `/sys/fs/cgroup/memory${v1.split(':')[2] ?? ''}`;
      peak = Number(readFileSync(`${dir}/memory.max_usage_in_bytes`, 'utf8'));
      limit = Number(readFileSync(`${dir}/memory.limit_in_bytes`, 'utf8'));
    } else {
      const v2 = lines.find((l) => l.startsWith('0::'));
      if (!v2) throw new Error(`no memory cgroup for ${task.containerId}: ${lines.join(' | ')}`);
      const dir = `/sys/fs/cgroup${v2.slice(3)}`;
      if (!existsSync(`${dir}/memory.peak`)) throw new Error(`${dir}/memory.peak missing (kernel < 5.19?)`);
      peak = Number(readFileSync(`${dir}/memory.peak`, 'utf8'));
      limit = Number(readFileSync(`${dir}/memory.max`, 'utf8'));
    }
    const r = (x: number): number => Math.round(x * 100) / 100;
    return {
      container: task.containerId.slice(0, 12),
      node: task.node,
      peakMiB: r(peak / MiB),
      limitMiB: r(limit / MiB),
      peakOverEstimate: r(peak / estimateBytes),
      peakOverLimit: r(peak / limit),
    };
  }
}
