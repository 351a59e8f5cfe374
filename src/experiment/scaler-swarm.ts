// The Docker Swarm scaler: sets a replicated service's replica count through the Docker Engine
// API (what `docker service scale` does: inspect, then update the spec at its version), then
// polls the service's tasks until exactly that many run and none of the removed ones does.
// Swarm stops removed tasks with SIGTERM and the service's stop_grace_period, so workers drain.
import Docker from 'dockerode';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import type { Scaler } from './contract.js';
import { pause } from './pause.js';

/** 0.3, 12, 180: tenths only for short waits. */
const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);

export interface SwarmScalerOptions {
  /** The service, by name (`swarmserve_worker`) or id. */
  service: string;
  /** Docker Engine socket; default DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
  /** How long setReplicas waits for the tasks (default 180 s: image pulls, model loads). */
  timeoutMs?: number;
  /** Task polling interval (default 500 ms). */
  pollMs?: number;
}

const serviceSchema = z.object({
  ID: z.string(),
  Version: z.object({ Index: z.number() }),
  // Sent back whole on update: keep every field, even those this code does not know.
  Spec: z.looseObject({
    Name: z.string(),
    Mode: z.looseObject({ Replicated: z.looseObject({ Replicas: z.number().optional() }).optional() }).optional(),
  }),
});
type ServiceInfo = z.infer<typeof serviceSchema>;

const taskSchema = z.object({
  ServiceID: z.string(),
  DesiredState: z.string(),
  Status: z.looseObject({ State: z.string(), Err: z.string().optional(), Message: z.string().optional() }),
});
type Task = z.infer<typeof taskSchema>;

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

export class SwarmScaler implements Scaler {
  readonly description: string;
  private closed = false;

  private constructor(
    private readonly docker: Docker,
    private readonly id: string,
    /** The service's name. */
    readonly service: string,
    /** Its replica count when the scaler was created. */
    readonly initialReplicas: number,
    private readonly options: SwarmScalerOptions,
  ) {
    this.description = `Docker Swarm service ${service}`;
  }

  /**
   * Connects and checks that the service exists and is replicated. Rejects with
   * DOCKER_UNAVAILABLE (no Docker Engine at the socket, or not a swarm manager) or
   * SERVICE_NOT_FOUND (the message lists the services there are).
   */
  static async create(options: SwarmScalerOptions): Promise<SwarmScaler> {
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
    return new SwarmScaler(docker, info.ID, info.Spec.Name, info.Spec.Mode.Replicated.Replicas ?? 0, options);
  }

  async setReplicas(n: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) throw new ServeError('SHUTTING_DOWN', 'the swarm scaler is closed');
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicas must be an integer >= 0, got ${n}`);
    // Another client may update the service between our inspect and update ("update out of
    // sequence"): inspect again and retry.
    for (let attempt = 1; ; attempt++) {
      const info = await inspect(this.docker, this.id, endpoint(this.options.socketPath), signal);
      if (info.Spec.Mode?.Replicated?.Replicas === n) break;
      const spec = { ...info.Spec, Mode: { ...info.Spec.Mode, Replicated: { ...info.Spec.Mode?.Replicated, Replicas: n } } };
      try {
        // dockerode: _query is the query string, _body the JSON body.
        await this.docker
          .getService(this.id)
          .update({ _query: { version: info.Version.Index }, _body: spec, ...(signal === undefined ? {} : { abortSignal: signal }) });
        break;
      } catch (err) {
        signal?.throwIfAborted();
        const e = err as DockerError;
        if (attempt < 3 && /out of sequence/i.test(reason(e))) continue;
        throw dockerError(e, `updating service ${this.service}`, endpoint(this.options.socketPath));
      }
    }
    await this.waitFor(n, signal);
  }

  async replicas(): Promise<number> {
    return counts(await this.tasks()).running;
  }

  /** Nothing to release (the Engine API is plain HTTP requests); further setReplicas calls are refused. */
  async close(): Promise<void> {
    await Promise.resolve();
    this.closed = true;
  }

  private async tasks(signal?: AbortSignal): Promise<Task[]> {
    let raw: unknown;
    try {
      raw = await this.docker.listTasks({ filters: { service: [this.id] }, ...(signal === undefined ? {} : { abortSignal: signal }) });
    } catch (err) {
      signal?.throwIfAborted();
      throw dockerError(err as DockerError, `listing the tasks of ${this.service}`, endpoint(this.options.socketPath));
    }
    const parsed = z.array(taskSchema).safeParse(raw);
    if (!parsed.success) throw new ServeError('DOCKER_UNAVAILABLE', `the Docker Engine answered the task list of ${this.service} in an unexpected form`);
    return parsed.data.filter((t) => t.ServiceID === this.id);
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

async function inspect(docker: Docker, service: string, where: string, signal?: AbortSignal): Promise<ServiceInfo> {
  let raw: unknown;
  try {
    raw = await docker.getService(service).inspect(signal === undefined ? {} : { abortSignal: signal });
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
