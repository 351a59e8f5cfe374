// The swarm scaler against a fake Docker Engine: an HTTP server on a unix socket speaking the
// few endpoints it uses (ping, service inspect/list/update, task list), with tasks that take a
// while to start and to stop, as Swarm's do. The real thing runs in the Docker Swarm end-to-end
// test (docs/experiment.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { SwarmScaler } from './scaler-swarm.js';

interface FakeTask {
  ID: string;
  ServiceID: string;
  DesiredState: 'running' | 'shutdown';
  Status: { State: string; Err?: string };
}

interface FakeService {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    TaskTemplate: Record<string, unknown>;
    Mode: { Replicated?: { Replicas: number }; Global?: Record<string, never> };
  };
}

class FakeDocker {
  readonly services = new Map<string, FakeService>();
  readonly tasks: FakeTask[] = [];
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
          const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as { service?: string[] };
          const wanted = new Set((filters.service ?? []).map((s) => this.find(s)?.ID));
          send(
            200,
            this.tasks.filter((t) => wanted.size === 0 || wanted.has(t.ServiceID)),
          );
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

  addService(name: string, replicas: number, mode: 'replicated' | 'global' = 'replicated'): FakeService {
    const service: FakeService = {
      ID: `id-${name}`,
      Version: { Index: 10 },
      Spec: {
        Name: name,
        Labels: { 'com.docker.stack.namespace': 'swarmserve' },
        TaskTemplate: { ContainerSpec: { Image: 'swarmserve:test' } },
        Mode: mode === 'global' ? { Global: {} } : { Replicated: { Replicas: replicas } },
      },
    };
    this.services.set(service.ID, service);
    for (let i = 0; i < replicas; i++) this.tasks.push(this.newTask(service, 'running'));
    return service;
  }

  private newTask(service: FakeService, state: string): FakeTask {
    return { ID: `task-${++this.taskCount}`, ServiceID: service.ID, DesiredState: 'running', Status: { State: state } };
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

let dir: string;
let docker: FakeDocker;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swarmserve-fake-docker-'));
  docker = new FakeDocker(join(dir, 'docker.sock'));
  await docker.listen();
});

afterEach(async () => {
  await docker.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<ServeError> {
  const err: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServeError);
  return err as ServeError;
}

describe('SwarmScaler (fake Docker Engine on a unix socket)', () => {
  it('scales up and down through service update, keeping the rest of the spec, and waits until the tasks run (or are gone)', async () => {
    const service = docker.addService('swarmserve_worker', 1);
    docker.addService('swarmserve_gateway', 1);
    const scaler = await SwarmScaler.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    expect(scaler.initialReplicas).toBe(1);
    expect(scaler.description).toBe('Docker Swarm service swarmserve_worker');
    expect(await scaler.replicas()).toBe(1);

    const t0 = performance.now();
    await scaler.setReplicas(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140); // waited for the tasks to start
    expect(docker.running(service)).toBe(3);
    expect(await scaler.replicas()).toBe(3);
    const update = docker.updates.at(-1);
    expect(update?.version).toBe('10');
    expect(update?.body).toEqual({ ...service.Spec, Mode: { Replicated: { Replicas: 3 } } });
    expect((update?.body as FakeService['Spec']).TaskTemplate).toEqual({ ContainerSpec: { Image: 'swarmserve:test' } });

    await scaler.setReplicas(2);
    // Resolved only once the removed task had stopped.
    expect(docker.running(service)).toBe(2);
    expect(await scaler.replicas()).toBe(2);

    // Already there: no update at all.
    const updates = docker.updates.length;
    await scaler.setReplicas(2);
    expect(docker.updates.length).toBe(updates);

    await scaler.close();
    expect((await rejection(scaler.setReplicas(1))).code).toBe('SHUTTING_DOWN');
  });

  it('retries when another client updated the service in between (update out of sequence)', async () => {
    const service = docker.addService('swarmserve_worker', 1);
    const scaler = await SwarmScaler.create({ service: 'id-swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    expect(scaler.service).toBe('swarmserve_worker');
    docker.outOfSequence = 1;
    await scaler.setReplicas(2);
    expect(docker.updates.map((u) => u.version)).toEqual(['10', '11']);
    expect(docker.running(service)).toBe(2);
  });

  it('SERVICE_NOT_FOUND names the services there are', async () => {
    docker.addService('swarmserve_worker', 1);
    docker.addService('swarmserve_redis', 1);
    const err = await rejection(SwarmScaler.create({ service: 'mldeploy_modelserver', socketPath: docker.socketPath }));
    expect(err.code).toBe('SERVICE_NOT_FOUND');
    expect(err.message).toContain('no service "mldeploy_modelserver"');
    expect(err.message).toContain('services: swarmserve_redis, swarmserve_worker');
  });

  it('refuses a global service', async () => {
    docker.addService('swarmserve_agent', 0, 'global');
    const err = await rejection(SwarmScaler.create({ service: 'swarmserve_agent', socketPath: docker.socketPath }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('not in replicated mode');
  });

  it('DOCKER_UNAVAILABLE when nothing listens on the socket', async () => {
    const err = await rejection(SwarmScaler.create({ service: 'swarmserve_worker', socketPath: join(dir, 'nothing.sock') }));
    expect(err.code).toBe('DOCKER_UNAVAILABLE');
    expect(err.message).toContain(`cannot reach the Docker Engine at unix://${join(dir, 'nothing.sock')} (ENOENT)`);
  });

  it("SCALE_TIMEOUT with the tasks' own error when they never run", async () => {
    docker.addService('swarmserve_worker', 1);
    docker.taskError = 'no suitable node (insufficient resources on 1 node)';
    const scaler = await SwarmScaler.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20, timeoutMs: 300 });
    const err = await rejection(scaler.setReplicas(3));
    expect(err.code).toBe('SCALE_TIMEOUT');
    expect(err.message).toContain('1 of 3 tasks running after 0.3 s');
    expect(err.message).toContain('pending: no suitable node (insufficient resources on 1 node)');
  });

  it('an abort stops the wait at once', async () => {
    docker.addService('swarmserve_worker', 1);
    docker.taskError = 'never';
    const scaler = await SwarmScaler.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted')), 100);
    const t0 = performance.now();
    await expect(scaler.setReplicas(2, controller.signal)).rejects.toThrow('interrupted');
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
