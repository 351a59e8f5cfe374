// A fake Docker Engine for the Swarm replica set's tests: an HTTP server on a unix socket
// speaking the few endpoints src/scaling/swarm-service.ts uses (ping, service inspect/list/update,
// task list, node list), with tasks that take a while to start and to stop, as Swarm's do. The
// real thing runs in the Docker Swarm end-to-end test (docs/experiment.md).
import { createServer, type Server } from 'node:http';

export const GiB = 1024 ** 3;

export interface FakeTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  DesiredState: 'running' | 'shutdown';
  Status: { State: string; Err?: string };
  Spec: { Resources?: { Reservations?: Reservations } };
}

export interface Reservations {
  NanoCPUs?: number;
  MemoryBytes?: number;
}

export interface FakeNode {
  ID: string;
  Spec: { Role: 'manager' | 'worker'; Availability: 'active' | 'pause' | 'drain'; Labels: Record<string, string> };
  Status: { State: 'ready' | 'down' | 'unknown' };
  Description: { Hostname: string; Resources: { NanoCPUs: number; MemoryBytes: number } };
}

export interface FakeService {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    TaskTemplate: Record<string, unknown>;
    Mode: { Replicated?: { Replicas: number }; Global?: Record<string, never> };
  };
}

export class FakeDocker {
  readonly services = new Map<string, FakeService>();
  readonly tasks: FakeTask[] = [];
  readonly nodes: FakeNode[] = [];
  readonly updates: Array<{ version: string | null; body: unknown }> = [];
  /** Tasks start (and stop) this long after the update. */
  transitionMs = 150;
  /** When set, new tasks never run and carry this error (e.g. no node has the resources). */
  taskError: string | undefined;
  /** Answer the next update with "update out of sequence" this many times. */
  outOfSequence = 0;
  server: Server;
  private timers: NodeJS.Timeout[] = [];
  private taskCount = 0;

  constructor(readonly socketPath: string) {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://docker');
        const send = (status: number, json: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        };
        const m = /^\/services\/([^/]+)(\/update)?$/.exec(url.pathname);
        if (req.method === 'GET' && url.pathname === '/_ping') {
          res.end('OK');
        } else if (req.method === 'GET' && url.pathname === '/services') {
          send(200, [...this.services.values()]);
        } else if (req.method === 'GET' && url.pathname === '/tasks') {
          const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as { service?: string[]; 'desired-state'?: string[] };
          const wanted = new Set((filters.service ?? []).map((s) => this.find(s)?.ID));
          const desired = new Set(filters['desired-state'] ?? []);
          send(
            200,
            this.tasks.filter((t) => (wanted.size === 0 || wanted.has(t.ServiceID)) && (desired.size === 0 || desired.has(t.DesiredState))),
          );
        } else if (req.method === 'GET' && url.pathname === '/nodes') {
          send(200, this.nodes);
        } else if (m !== null && req.method === 'GET' && m[2] === undefined) {
          const service = this.find(decodeURIComponent(m[1] ?? ''));
          if (service === undefined) send(404, { message: `service ${m[1]} not found` });
          else send(200, service);
        } else if (m !== null && req.method === 'POST' && m[2] === '/update') {
          const service = this.find(decodeURIComponent(m[1] ?? ''));
          const version = url.searchParams.get('version');
          this.updates.push({ version, body: JSON.parse(body) as unknown });
          if (service === undefined) return send(404, { message: 'service not found' });
          if (this.outOfSequence > 0 || version !== String(service.Version.Index)) {
            this.outOfSequence = Math.max(0, this.outOfSequence - 1);
            service.Version.Index++;
            return send(500, { message: 'rpc error: code = Unknown desc = update out of sequence' });
          }
          service.Spec = JSON.parse(body) as FakeService['Spec'];
          service.Version.Index++;
          this.converge(service);
          send(200, { Warnings: null });
        } else {
          send(404, { message: `no route ${req.method} ${url.pathname}` });
        }
      });
    });
  }

  find(idOrName: string): FakeService | undefined {
    return this.services.get(idOrName) ?? [...this.services.values()].find((s) => s.Spec.Name === idOrName);
  }

  /** A service with `replicas` tasks running (on no node in particular); `taskTemplate` is merged into its spec's. */
  addService(name: string, replicas: number, mode: 'replicated' | 'global' = 'replicated', taskTemplate: Record<string, unknown> = {}): FakeService {
    const service: FakeService = {
      ID: `id-${name}`,
      Version: { Index: 10 },
      Spec: {
        Name: name,
        Labels: { 'com.docker.stack.namespace': 'swarmserve' },
        TaskTemplate: { ContainerSpec: { Image: 'swarmserve:test' }, ...taskTemplate },
        Mode: mode === 'global' ? { Global: {} } : { Replicated: { Replicas: replicas } },
      },
    };
    this.services.set(service.ID, service);
    for (let i = 0; i < replicas; i++) this.tasks.push(this.newTask(service, 'running'));
    return service;
  }

  /** A node of `cpus` CPUs and `memoryGiB` GiB of memory, ready and active unless `overrides` says otherwise. */
  addNode(
    hostname: string,
    cpus: number,
    memoryGiB: number,
    overrides: {
      role?: FakeNode['Spec']['Role'];
      availability?: FakeNode['Spec']['Availability'];
      state?: FakeNode['Status']['State'];
      labels?: Record<string, string>;
    } = {},
  ): FakeNode {
    const node: FakeNode = {
      ID: `node-${hostname}`,
      Spec: { Role: overrides.role ?? 'worker', Availability: overrides.availability ?? 'active', Labels: overrides.labels ?? {} },
      Status: { State: overrides.state ?? 'ready' },
      Description: { Hostname: hostname, Resources: { NanoCPUs: cpus * 1e9, MemoryBytes: memoryGiB * GiB } },
    };
    this.nodes.push(node);
    return node;
  }

  /** A task of `service` placed on `node`, reserving what the service's template reserves (as Swarm copies it). */
  placeTask(service: FakeService, node: FakeNode, desired: FakeTask['DesiredState'] = 'running'): FakeTask {
    const task = { ...this.newTask(service, desired === 'running' ? 'running' : 'shutdown'), NodeID: node.ID, DesiredState: desired };
    this.tasks.push(task);
    return task;
  }

  private newTask(service: FakeService, state: string): FakeTask {
    const resources = service.Spec.TaskTemplate.Resources as FakeTask['Spec']['Resources'];
    return {
      ID: `task-${++this.taskCount}`,
      ServiceID: service.ID,
      DesiredState: 'running',
      Status: { State: state },
      Spec: resources === undefined ? {} : { Resources: resources },
    };
  }

  /** As Swarm does: new tasks go pending → running, surplus ones shutdown-desired → shutdown. */
  private converge(service: FakeService): void {
    const want = service.Spec.Mode.Replicated?.Replicas ?? 0;
    const active = this.tasks.filter((t) => t.ServiceID === service.ID && t.DesiredState === 'running');
    for (let i = active.length; i < want; i++) {
      const task = this.newTask(service, 'pending');
      this.tasks.push(task);
      if (this.taskError !== undefined) task.Status.Err = this.taskError;
      else this.timers.push(setTimeout(() => (task.Status.State = 'running'), this.transitionMs));
    }
    for (const task of active.slice(want)) {
      task.DesiredState = 'shutdown';
      this.timers.push(setTimeout(() => (task.Status.State = 'shutdown'), this.transitionMs));
    }
  }

  running(service: FakeService): number {
    return this.tasks.filter((t) => t.ServiceID === service.ID && t.Status.State === 'running').length;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
