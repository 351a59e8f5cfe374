// A Docker Swarm service as a replica set: sets a replicated service's replica count through
// the Docker Engine API (what `docker service scale` does: inspect, then update the spec at its
// version); setReplicas then polls the service's tasks until exactly that many run and none of
// the removed ones does. Swarm stops removed tasks with SIGTERM and the service's
// stop_grace_period, so workers drain. capacity() is what the swarm's nodes can hold of it.
import Docker from 'dockerode';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import type { ReplicaSet } from './contract.js';
import { pause } from './pause.js';

/** 0.3, 12, 180: tenths only for short waits. */
const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);

export interface SwarmServiceOptions {
  /** The service, by name (`swarmserve_worker`) or id. */
  service: string;
  /** Docker Engine socket; default DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
  /** How long setReplicas waits for the tasks (default 180 s: image pulls, model loads). */
  timeoutMs?: number;
  /** Task polling interval (default 500 ms). */
  pollMs?: number;
}

/** What a task or a service reserves (`deploy.resources.reservations`): nano-CPUs and bytes. */
const reservationsSchema = z.looseObject({ NanoCPUs: z.number().optional(), MemoryBytes: z.number().optional() }).optional();

const serviceSchema = z.object({
  ID: z.string(),
  Version: z.object({ Index: z.number() }),
  // Sent back whole on update: keep every field, even those this code does not know.
  Spec: z.looseObject({
    Name: z.string(),
    Mode: z.looseObject({ Replicated: z.looseObject({ Replicas: z.number().optional() }).optional() }).optional(),
    TaskTemplate: z
      .looseObject({
        Resources: z.looseObject({ Reservations: reservationsSchema }).optional(),
        Placement: z.looseObject({ Constraints: z.array(z.string()).optional(), MaxReplicas: z.number().optional() }).optional(),
      })
      .optional(),
  }),
});
type ServiceInfo = z.infer<typeof serviceSchema>;

const taskSchema = z.object({
  ServiceID: z.string(),
  /** Absent until the scheduler has placed the task. */
  NodeID: z.string().optional(),
  DesiredState: z.string(),
  Status: z.looseObject({ State: z.string(), Err: z.string().optional(), Message: z.string().optional() }),
  Spec: z.looseObject({ Resources: z.looseObject({ Reservations: reservationsSchema }).optional() }).optional(),
});
type Task = z.infer<typeof taskSchema>;

const nodeSchema = z.object({
  ID: z.string(),
  Spec: z.looseObject({ Role: z.string(), Availability: z.string(), Labels: z.record(z.string(), z.string()).optional() }),
  Status: z.looseObject({ State: z.string() }),
  Description: z.looseObject({
    Hostname: z.string().optional(),
    Platform: z.looseObject({ OS: z.string().optional(), Architecture: z.string().optional() }).optional(),
    Resources: z.looseObject({ NanoCPUs: z.number().optional(), MemoryBytes: z.number().optional() }).optional(),
    Engine: z.looseObject({ Labels: z.record(z.string(), z.string()).optional() }).optional(),
  }),
});
type SwarmNode = z.infer<typeof nodeSchema>;

interface Reservation {
  cpu: number;
  memory: number;
}

function reservation(r: z.infer<typeof reservationsSchema>): Reservation {
  return { cpu: r?.NanoCPUs ?? 0, memory: r?.MemoryBytes ?? 0 };
}

function add(a: Reservation, b: Reservation): Reservation {
  return { cpu: a.cpu + b.cpu, memory: a.memory + b.memory };
}

/** How many more tasks reserving `each` fit in `total` of which `taken` is reserved; a resource not reserved sets no bound. */
function fits(total: number, taken: number, each: number): number {
  return each > 0 ? Math.max(0, Math.floor((total - taken) / each)) : Infinity;
}

/**
 * Whether `node` meets the placement constraint `constraint` (`node.role == manager`,
 * `node.labels.zone != b`, …), compared without regard to case as Swarm does. Only the forms
 * read from the node's own description are evaluated: node.id, node.hostname, node.role,
 * node.platform.os/arch, node.labels.<k>, engine.labels.<k>. Any other constraint counts as
 * met: the capacity then errs high, and Swarm itself still refuses to place a task it forbids.
 */
function meets(node: SwarmNode, constraint: string): boolean {
  const m = /^\s*([\w.-]+?)\s*(==|!=)\s*(.*?)\s*$/.exec(constraint);
  const actual = m === null ? undefined : attribute(node, m[1] ?? '');
  if (m === null || actual === undefined) return true;
  const equal = actual.toLowerCase() === (m[3] ?? '').toLowerCase();
  return m[2] === '==' ? equal : !equal;
}

/** The node's value for a constraint's key; '' for a label it does not have, undefined for a key not evaluated here. */
function attribute(node: SwarmNode, key: string): string | undefined {
  switch (key) {
    case 'node.id':
      return node.ID;
    case 'node.hostname':
      return node.Description.Hostname;
    case 'node.role':
      return node.Spec.Role;
    case 'node.platform.os':
      return node.Description.Platform?.OS;
    case 'node.platform.arch':
      return node.Description.Platform?.Architecture;
  }
  if (key.startsWith('node.labels.')) return node.Spec.Labels?.[key.slice('node.labels.'.length)] ?? '';
  if (key.startsWith('engine.labels.')) return node.Description.Engine?.Labels?.[key.slice('engine.labels.'.length)] ?? '';
  return undefined;
}

interface DockerError extends Error {
  statusCode?: number;
  code?: string;
  json?: unknown;
}

/** The reason Docker gave (its JSON `message`), else the error's own message. */
function reason(err: DockerError): string {
  const json = err.json;
  if (typeof json === 'object' && json !== null && 'message' in json && typeof json.message === 'string') return json.message;
  return err.message;
}

function endpoint(socketPath: string | undefined): string {
  if (socketPath !== undefined) return `unix://${socketPath}`;
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** Tasks still running after being told to stop count: the count is only right once they are gone. */
function counts(tasks: readonly Task[]): { running: number; leaving: number } {
  let running = 0;
  let leaving = 0;
  for (const t of tasks) {
    if (t.Status.State !== 'running') continue;
    if (t.DesiredState === 'running') running++;
    else leaving++;
  }
  return { running, leaving };
}

export class SwarmService implements ReplicaSet {
  readonly description: string;
  private closed = false;
  /** The Docker Engine's address, for messages. */
  private readonly where: string;

  private constructor(
    private readonly docker: Docker,
    private readonly id: string,
    /** The service's name. */
    readonly service: string,
    /** Its replica count when this object was created. */
    readonly initialReplicas: number,
    private readonly options: SwarmServiceOptions,
  ) {
    this.description = `Docker Swarm service ${service}`;
    this.where = endpoint(options.socketPath);
  }

  /**
   * Connects and checks that the service exists and is replicated. Rejects with
   * DOCKER_UNAVAILABLE (no Docker Engine at the socket, or not a swarm manager) or
   * SERVICE_NOT_FOUND (the message lists the services there are).
   */
  static async create(options: SwarmServiceOptions): Promise<SwarmService> {
    const docker = new Docker({ ...(options.socketPath === undefined ? {} : { socketPath: options.socketPath }), timeout: 15_000 });
    const where = endpoint(options.socketPath);
    try {
      await docker.ping();
    } catch (err) {
      const e = err as DockerError;
      throw new ServeError(
        'DOCKER_UNAVAILABLE',
        `cannot reach the Docker Engine at ${where} (${e.code ?? reason(e)}): is dockerd running, and may this user use its socket? (DOCKER_HOST picks another)`,
      );
    }
    const info = await inspect(docker, options.service, where);
    if (info.Spec.Mode?.Replicated === undefined) {
      throw new ServeError('CONFIG_INVALID', `service ${info.Spec.Name} is not in replicated mode (global: one task per node), so its replicas cannot be set`);
    }
    return new SwarmService(docker, info.ID, info.Spec.Name, info.Spec.Mode.Replicated.Replicas ?? 0, options);
  }

  /** Updates the service's replica count; Swarm starts and stops the tasks after this resolves. */
  async request(n: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new ServeError('SHUTTING_DOWN', `${this.description}: closed`);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicas must be an integer >= 0, got ${n}`);
    // Another client may update the service between our inspect and update ("update out of
    // sequence"): inspect again and retry.
    for (let attempt = 1; ; attempt++) {
      const info = await inspect(this.docker, this.id, this.where, signal);
      if (info.Spec.Mode?.Replicated?.Replicas === n) return;
      const spec = { ...info.Spec, Mode: { ...info.Spec.Mode, Replicated: { ...info.Spec.Mode?.Replicated, Replicas: n } } };
      try {
        // dockerode: _query is the query string, _body the JSON body.
        await this.docker.getService(this.id).update({ _query: { version: info.Version.Index }, _body: spec, ...abortable(signal) });
        return;
      } catch (err) {
        signal?.throwIfAborted();
        const e = err as DockerError;
        if (attempt < 3 && /out of sequence/i.test(reason(e))) continue;
        throw dockerError(e, `updating service ${this.service}`, this.where);
      }
    }
  }

  async setReplicas(n: number, signal?: AbortSignal): Promise<void> {
    await this.request(n, signal);
    await this.waitFor(n, signal);
  }

  /** The service spec's replica count. */
  async requested(signal?: AbortSignal): Promise<number> {
    return (await inspect(this.docker, this.id, this.where, signal)).Spec.Mode?.Replicated?.Replicas ?? 0;
  }

  async running(signal?: AbortSignal): Promise<number> {
    return counts(await this.tasks(signal)).running;
  }

  /**
   * Tasks of this service the swarm can hold: over the nodes that are ready, active and meet
   * its placement constraints, the tasks it runs there plus how many more fit in what the node
   * has left after every task's reservation (CPU, memory), at most `MaxReplicas` per node.
   * Undefined when the service reserves nothing and sets no `MaxReplicas`: then Swarm itself
   * places any number, and no cap is known.
   */
  async capacity(signal?: AbortSignal): Promise<number | undefined> {
    const info = await inspect(this.docker, this.id, this.where, signal);
    const template = info.Spec.TaskTemplate;
    const wants = reservation(template?.Resources?.Reservations);
    const maxPerNode = template?.Placement?.MaxReplicas !== undefined && template.Placement.MaxReplicas > 0 ? template.Placement.MaxReplicas : undefined;
    if (wants.cpu === 0 && wants.memory === 0 && maxPerNode === undefined) return undefined;
    const constraints = template?.Placement?.Constraints ?? [];
    const [nodes, tasks] = await Promise.all([this.nodes(signal), this.tasks(signal, { all: true })]);
    let total = 0;
    for (const node of nodes) {
      if (node.Status.State !== 'ready' || node.Spec.Availability !== 'active' || !constraints.every((c) => meets(node, c))) continue;
      const here = tasks.filter((t) => t.NodeID === node.ID && t.DesiredState === 'running');
      const own = here.filter((t) => t.ServiceID === this.id).length;
      const taken = here.reduce((sum, t) => add(sum, reservation(t.Spec?.Resources?.Reservations)), { cpu: 0, memory: 0 });
      const has = node.Description.Resources;
      const more = Math.min(fits(has?.NanoCPUs ?? 0, taken.cpu, wants.cpu), fits(has?.MemoryBytes ?? 0, taken.memory, wants.memory));
      total += Math.min(own + more, maxPerNode ?? Infinity);
    }
    return total;
  }

  /** Nothing to release (the Engine API is plain HTTP requests); further setReplicas calls are refused. */
  async close(): Promise<void> {
    await Promise.resolve();
    this.closed = true;
  }

  /** This service's tasks; with `all`, every service's tasks meant to run (what holds the nodes' resources). */
  private async tasks(signal?: AbortSignal, { all = false } = {}): Promise<Task[]> {
    const what = all ? 'the tasks of the swarm' : `the tasks of ${this.service}`;
    const filters = all ? { 'desired-state': ['running'] } : { service: [this.id] };
    const tasks = await this.list(what, z.array(taskSchema), () => this.docker.listTasks({ filters, ...abortable(signal) }), signal);
    return all ? tasks : tasks.filter((t) => t.ServiceID === this.id);
  }

  private nodes(signal?: AbortSignal): Promise<SwarmNode[]> {
    return this.list('the nodes of the swarm', z.array(nodeSchema), () => this.docker.listNodes(abortable(signal)), signal);
  }

  private async list<T>(what: string, schema: z.ZodType<T>, call: () => Promise<unknown>, signal: AbortSignal | undefined): Promise<T> {
    let raw: unknown;
    try {
      raw = await call();
    } catch (err) {
      signal?.throwIfAborted();
      throw dockerError(err as DockerError, `listing ${what}`, this.where);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ServeError('DOCKER_UNAVAILABLE', `the Docker Engine answered ${what} in an unexpected form`);
    return parsed.data;
  }

  private async waitFor(n: number, signal?: AbortSignal): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 180_000;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const tasks = await this.tasks(signal);
      const { running, leaving } = counts(tasks);
      if (running === n && leaving === 0) return;
      if (performance.now() > deadline) {
        const problems = [
          ...new Set(
            tasks
              .filter((t) => t.DesiredState === 'running' && t.Status.State !== 'running')
              .map((t) => `${t.Status.State}: ${t.Status.Err ?? t.Status.Message ?? ''}`.trim()),
          ),
        ];
        throw new ServeError(
          'SCALE_TIMEOUT',
          `${this.service}: ${running} of ${n} tasks running${leaving > 0 ? `, ${leaving} still stopping` : ''} after ${seconds(timeoutMs)} s${problems.length > 0 ? `; tasks not running: ${problems.slice(0, 3).join('; ')}` : ''} (docker service ps ${this.service})`,
        );
      }
      await pause(this.options.pollMs ?? 500, signal);
    }
  }
}

function abortable(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

async function inspect(docker: Docker, service: string, where: string, signal?: AbortSignal): Promise<ServiceInfo> {
  let raw: unknown;
  try {
    raw = await docker.getService(service).inspect(abortable(signal));
  } catch (err) {
    signal?.throwIfAborted();
    const e = err as DockerError;
    if (e.statusCode === 404) {
      const names = await docker.listServices().then(
        (list: unknown) =>
          Array.isArray(list)
            ? list.map((s: unknown) => z.object({ Spec: z.object({ Name: z.string() }) }).safeParse(s).data?.Spec.Name).filter((x) => x !== undefined)
            : [],
        () => [],
      );
      throw new ServeError(
        'SERVICE_NOT_FOUND',
        `no service "${service}" in this swarm (${names.length > 0 ? `services: ${names.sort().join(', ')}` : 'it has no service'}); the stack file's worker service is <stack>_worker, e.g. swarmserve_worker`,
      );
    }
    throw dockerError(e, `inspecting service ${service}`, where);
  }
  const parsed = serviceSchema.safeParse(raw);
  if (!parsed.success) throw new ServeError('DOCKER_UNAVAILABLE', `the Docker Engine answered the inspection of ${service} in an unexpected form`);
  return parsed.data;
}

function dockerError(e: DockerError, doing: string, where: string): ServeError {
  if (e.statusCode === 503)
    return new ServeError('DOCKER_UNAVAILABLE', `${doing}: ${reason(e)} (Docker Engine at ${where}; run the experiment on a swarm manager)`);
  if (e.statusCode === undefined)
    return new ServeError('DOCKER_UNAVAILABLE', `${doing}: the Docker Engine at ${where} is unreachable (${e.code ?? e.message})`);
  return new ServeError('DOCKER_UNAVAILABLE', `${doing}: the Docker Engine at ${where} answered HTTP ${e.statusCode}: ${reason(e)}`);
}
