// The Swarm replica set against a fake Docker Engine on a unix socket (test/helpers/fake-docker.ts):
// request() only updates the spec, setReplicas() waits for the tasks, capacity() reads the nodes
// and every task's reservations. The real thing runs in the Docker Swarm end-to-end test
// (docs/experiment.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { FakeDocker, GiB, type FakeNode, type FakeService } from '../../test/helpers/fake-docker.js';
import { SwarmService } from './swarm-service.js';

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

describe('SwarmService (fake Docker Engine on a unix socket)', () => {
  it('scales up and down through service update, keeping the rest of the spec, and waits until the tasks run (or are gone)', async () => {
    const service = docker.addService('swarmserve_worker', 1);
    docker.addService('swarmserve_gateway', 1);
    const scaler = await SwarmService.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    expect(scaler.initialReplicas).toBe(1);
    expect(scaler.description).toBe('Docker Swarm service swarmserve_worker');
    expect(await scaler.running()).toBe(1);

    const t0 = performance.now();
    await scaler.setReplicas(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140); // waited for the tasks to start
    expect(docker.running(service)).toBe(3);
    expect(await scaler.running()).toBe(3);
    const update = docker.updates.at(-1);
    expect(update?.version).toBe('10');
    expect(update?.body).toEqual({ ...service.Spec, Mode: { Replicated: { Replicas: 3 } } });
    expect((update?.body as FakeService['Spec']).TaskTemplate).toEqual({ ContainerSpec: { Image: 'swarmserve:test' } });

    await scaler.setReplicas(2);
    // Resolved only once the removed task had stopped.
    expect(docker.running(service)).toBe(2);
    expect(await scaler.running()).toBe(2);

    // Already there: no update at all.
    const updates = docker.updates.length;
    await scaler.setReplicas(2);
    expect(docker.updates.length).toBe(updates);

    await scaler.close();
    expect((await rejection(scaler.setReplicas(1))).code).toBe('SHUTTING_DOWN');
  });

  it('retries when another client updated the service in between (update out of sequence)', async () => {
    const service = docker.addService('swarmserve_worker', 1);
    const scaler = await SwarmService.create({ service: 'id-swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    expect(scaler.service).toBe('swarmserve_worker');
    docker.outOfSequence = 1;
    await scaler.setReplicas(2);
    expect(docker.updates.map((u) => u.version)).toEqual(['10', '11']);
    expect(docker.running(service)).toBe(2);
  });

  it('SERVICE_NOT_FOUND names the services there are', async () => {
    docker.addService('swarmserve_worker', 1);
    docker.addService('swarmserve_redis', 1);
    const err = await rejection(SwarmService.create({ service: 'mldeploy_modelserver', socketPath: docker.socketPath }));
    expect(err.code).toBe('SERVICE_NOT_FOUND');
    expect(err.message).toContain('no service "mldeploy_modelserver"');
    expect(err.message).toContain('services: swarmserve_redis, swarmserve_worker');
  });

  it('refuses a global service', async () => {
    docker.addService('swarmserve_agent', 0, 'global');
    const err = await rejection(SwarmService.create({ service: 'swarmserve_agent', socketPath: docker.socketPath }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('not in replicated mode');
  });

  it('DOCKER_UNAVAILABLE when nothing listens on the socket', async () => {
    const err = await rejection(SwarmService.create({ service: 'swarmserve_worker', socketPath: join(dir, 'nothing.sock') }));
    expect(err.code).toBe('DOCKER_UNAVAILABLE');
    expect(err.message).toContain(`cannot reach the Docker Engine at unix://${join(dir, 'nothing.sock')} (ENOENT)`);
  });

  it("SCALE_TIMEOUT with the tasks' own error when they never run", async () => {
    docker.addService('swarmserve_worker', 1);
    docker.taskError = 'no suitable node (insufficient resources on 1 node)';
    const scaler = await SwarmService.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20, timeoutMs: 300 });
    const err = await rejection(scaler.setReplicas(3));
    expect(err.code).toBe('SCALE_TIMEOUT');
    expect(err.message).toContain('1 of 3 tasks running after 0.3 s');
    expect(err.message).toContain('pending: no suitable node (insufficient resources on 1 node)');
  });

  it('an abort stops the wait at once', async () => {
    docker.addService('swarmserve_worker', 1);
    docker.taskError = 'never';
    const scaler = await SwarmService.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted')), 100);
    const t0 = performance.now();
    await expect(scaler.setReplicas(2, controller.signal)).rejects.toThrow('interrupted');
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('request() updates the spec and resolves before the tasks run; requested() reads it back', async () => {
    const service = docker.addService('swarmserve_worker', 1);
    docker.transitionMs = 2_000;
    const scaler = await SwarmService.create({ service: 'swarmserve_worker', socketPath: docker.socketPath, pollMs: 20 });
    const t0 = performance.now();
    await scaler.request(3);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await scaler.requested()).toBe(3);
    expect(service.Spec.Mode.Replicated?.Replicas).toBe(3);
    expect(await scaler.running()).toBe(1); // the two new tasks are still pending
    await expect(scaler.request(-1)).rejects.toThrow(RangeError);
  });
});

describe('SwarmService.capacity() (nodes and reservations of a fake Docker Engine)', () => {
  /** 4 CPUs / 8 GiB and 2 CPUs / 16 GiB eligible; a drained node and a manager the constraint excludes, both big. */
  function cluster(taskTemplate: Record<string, unknown>): { service: FakeService; a: FakeNode; b: FakeNode } {
    const a = docker.addNode('a', 4, 8, { labels: { tier: 'compute' } });
    const b = docker.addNode('b', 2, 16, { labels: { tier: 'compute' } });
    docker.addNode('drained', 64, 256, { availability: 'drain', labels: { tier: 'compute' } });
    docker.addNode('manager', 64, 256, { role: 'manager', labels: { tier: 'compute' } });
    docker.addNode('down', 64, 256, { state: 'down', labels: { tier: 'compute' } });
    const constraints = ['node.role == worker', 'node.labels.tier == compute', 'node.hostname != elsewhere', 'node.labels.gpu != yes'];
    const service = docker.addService('swarmserve_worker', 0, 'replicated', {
      ...taskTemplate,
      Placement: { Constraints: constraints, ...(taskTemplate.Placement as object | undefined) },
    });
    return { service, a, b };
  }

  async function capacity(): Promise<number | undefined> {
    const scaler = await SwarmService.create({ service: 'swarmserve_worker', socketPath: docker.socketPath });
    return scaler.capacity();
  }

  it('CPU-bound: what is left of each eligible node after every running task, plus its own tasks there', async () => {
    const { service, a, b } = cluster({ Resources: { Reservations: { NanoCPUs: 1e9, MemoryBytes: 1 * GiB } } });
    docker.placeTask(service, a);
    // Another service's task holds 1.5 CPUs of a; a task told to stop holds nothing.
    const other = docker.addService('swarmserve_gateway', 0, 'replicated', { Resources: { Reservations: { NanoCPUs: 1.5e9 } } });
    docker.placeTask(other, a);
    docker.placeTask(other, b, 'shutdown');
    // a: 4 − 1 − 1.5 = 1.5 CPUs left → 1 more + its 1; b: 2 CPUs → 2. Drained, manager, down: none.
    expect(await capacity()).toBe(4);
  });

  it('memory-bound', async () => {
    cluster({ Resources: { Reservations: { MemoryBytes: 3 * GiB } } });
    // a: 8 GiB → 2; b: 16 GiB → 5.
    expect(await capacity()).toBe(7);
  });

  it('the scarcer resource of the two bounds each node', async () => {
    cluster({ Resources: { Reservations: { NanoCPUs: 0.5e9, MemoryBytes: 3 * GiB } } });
    // a: min(8 by CPU, 2 by memory); b: min(4 by CPU, 5 by memory).
    expect(await capacity()).toBe(6);
  });

  it('MaxReplicas caps each node', async () => {
    const { service, a } = cluster({ Resources: { Reservations: { MemoryBytes: 1 * GiB } }, Placement: { MaxReplicas: 3 } });
    docker.placeTask(service, a);
    expect(await capacity()).toBe(6);
  });

  it('a constraint that fails on every node leaves no room; one it cannot evaluate is taken as met', async () => {
    cluster({ Resources: { Reservations: { MemoryBytes: 4 * GiB } }, Placement: { Constraints: ['node.labels.tier == storage'] } });
    expect(await capacity()).toBe(0);
    const service = docker.find('swarmserve_worker');
    if (service === undefined) throw new Error('no service');
    service.Spec.TaskTemplate.Placement = { Constraints: ['node.role == worker', 'node.some.future.attribute == x'] };
    expect(await capacity()).toBe(2 + 4);
  });

  it('no reservation and no MaxReplicas: undefined (Swarm places any number)', async () => {
    const { service } = cluster({});
    expect(await capacity()).toBeUndefined();
    service.Spec.TaskTemplate.Resources = { Reservations: {} };
    expect(await capacity()).toBeUndefined();
  });

  it('MaxReplicas without reservations: that many per eligible node', async () => {
    cluster({ Placement: { MaxReplicas: 2 } });
    expect(await capacity()).toBe(4);
  });
});
