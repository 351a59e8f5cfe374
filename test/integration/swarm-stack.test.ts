// The Docker Swarm stack file (deploy/swarm/docker-compose.yml), alone and with each
// documented override, validated offline by `docker stack config` (no daemon needed) and
// checked for the properties deploy/swarm/README.md promises. The real deployment is
// proven by `npm run test:swarm` (test/swarm/swarm-e2e.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stackConfigClientOrSkip } from '../helpers/docker-cli.js';
import { AUTOSCALE_OPTIONS } from '../../src/config/autoscale-config.js';
import { GATEWAY_OPTIONS } from '../../src/config/gateway-config.js';
import { REDIS_OPTIONS } from '../../src/config/redis-options.js';
import { WORKER_OPTIONS } from '../../src/config/worker-config.js';

const swarmDir = join(import.meta.dirname, '..', '..', 'deploy', 'swarm');
const stackFile = join(swarmDir, 'docker-compose.yml');
const singleNode = join(swarmDir, 'single-node.yml');
const noIpvs = join(swarmDir, 'test-no-ipvs.yml');
const faultTimings = join(swarmDir, 'test-fault-timings.yml');
const autoscaleTest = join(swarmDir, 'test-autoscale.yml');

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };
type Service = {
  image: string;
  command?: string[];
  init?: string;
  user?: string;
  environment?: Record<string, string>;
  volumes?: { type: string; source: string; target: string }[];
  secrets?: { source: string }[];
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: string; start_period: string };
  stop_grace_period?: string;
  ports?: { target: string; published: string; mode?: string }[];
  deploy: {
    replicas?: string;
    endpoint_mode?: string;
    placement?: { constraints?: string[] };
    resources?: { limits?: { cpus?: string; memory?: string }; reservations?: { cpus?: string; memory?: string } };
    restart_policy?: { condition: string };
    update_config?: { parallelism: string; order: string; failure_action: string; monitor: string };
    rollback_config?: { parallelism: string; order: string };
  };
};
type Stack = { services: Record<string, Service>; networks: Record<string, { driver: string }>; secrets: Record<string, { external?: string }> };

/**
 * Parses the YAML `docker stack config` prints (Go yaml.v3, 2-space indents: maps, block
 * lists, quoted and plain scalars, `|` block scalars). Every scalar stays a string. Not a
 * general YAML parser: the project has no YAML dependency, and this output is regular.
 */
export function parseDockerYaml(text: string): Yaml {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  let i = 0;
  const indentOf = (l: string): number => l.length - l.trimStart().length;
  const scalar = (raw: string): string | null => {
    const v = raw.trim();
    if (v === 'null' || v === '~') return null;
    if (v.startsWith('"')) return JSON.parse(v) as string;
    if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
    return v;
  };
  const blockScalar = (parentIndent: number, style: string): string => {
    const body: string[] = [];
    let inner = -1;
    while (i < lines.length && indentOf(lines[i]!) > parentIndent) {
      if (inner === -1) inner = indentOf(lines[i]!);
      body.push(lines[i]!.slice(inner));
      i++;
    }
    const joined = style.startsWith('>') ? body.join(' ') : body.join('\n');
    return style.endsWith('-') ? joined : `${joined}\n`;
  };
  // a value after "key:" or "- ": inline scalar, block scalar, or a nested block
  const value = (rest: string, indent: number): Yaml => {
    const r = rest.trim();
    if (r === '|' || r === '|-' || r === '>' || r === '>-') return blockScalar(indent, r);
    if (r === '{}') return {};
    if (r === '[]') return [];
    if (r !== '') return scalar(r);
    if (i < lines.length && (indentOf(lines[i]!) > indent || (indentOf(lines[i]!) === indent && lines[i]!.trimStart().startsWith('- ')))) {
      return block(indentOf(lines[i]!));
    }
    return null;
  };
  const keyValue = (text: string): [string, string] => {
    const m = /^("[^"]*"|'[^']*'|[^:]+?):(?: (.*))?$/.exec(text);
    if (m === null) throw new Error(`docker stack config: cannot parse line ${i}: ${text}`);
    return [scalar(m[1]!) ?? '', m[2] ?? ''];
  };
  const block = (indent: number): Yaml => {
    if (lines[i]!.trimStart().startsWith('- ') || lines[i]!.trim() === '-') {
      const list: Yaml[] = [];
      while (i < lines.length && indentOf(lines[i]!) === indent && lines[i]!.trimStart().startsWith('-')) {
        const item = lines[i]!.trimStart().slice(1).trimStart();
        i++;
        if (/^("[^"]*"|'[^']*'|[^"'\s][^:]*?):( |$)/.test(item) && !item.startsWith('"') && !item.startsWith("'")) {
          // a map inside a list: first key on the dash line, the others at indent + 2
          const [k, rest] = keyValue(item);
          const map: Record<string, Yaml> = { [k]: value(rest, indent + 2) };
          while (i < lines.length && indentOf(lines[i]!) === indent + 2 && !lines[i]!.trimStart().startsWith('- ')) {
            const [k2, rest2] = keyValue(lines[i]!.trim());
            i++;
            map[k2] = value(rest2, indent + 2);
          }
          list.push(map);
        } else {
          list.push(value(item, indent));
        }
      }
      return list;
    }
    const map: Record<string, Yaml> = {};
    while (i < lines.length && indentOf(lines[i]!) === indent && !lines[i]!.trimStart().startsWith('- ')) {
      const [k, rest] = keyValue(lines[i]!.trim());
      i++;
      map[k] = value(rest, indent);
    }
    return map;
  };
  return block(0);
}

/** Go durations as docker prints them: 1m30s, 45s, 500ms, 1h0m0s. */
function durationMs(text: string | undefined): number {
  expect(text, 'a duration').toBeTypeOf('string');
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  let total = 0;
  const rest = text!.replace(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g, (_all, n: string, unit: string) => {
    total += Number(n) * units[unit]!;
    return '';
  });
  expect(rest, `duration ${text}`).toBe('');
  return total;
}

const docker = stackConfigClientOrSkip('deploy/swarm stack file tests');

function stackConfig(files: string[], env: Record<string, string> = {}): Stack {
  const run = spawnSync(docker!, ['stack', 'config', ...files.flatMap((f) => ['-c', f])], {
    encoding: 'utf8',
    env: { ...process.env, SWARMSERVE_IMAGE: '', REDIS_IMAGE: '', SWARMSERVE_WORKER_NODE_ROLE: '', SWARMSERVE_GATEWAY_NODE_ROLE: '', ...env },
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return parseDockerYaml(run.stdout) as unknown as Stack;
}

function envFile(): Record<string, string> {
  const entries = readFileSync(join(swarmDir, 'app.env'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

describe.skipIf(docker === null)('deploy/swarm stack file (docker stack config)', () => {
  it('the production file: services, secret, network, images', () => {
    const stack = stackConfig([stackFile]);
    expect(Object.keys(stack.services).sort()).toEqual(['autoscaler', 'gateway', 'redis', 'worker']);
    expect(stack.networks['swarmserve-net']?.driver).toBe('overlay');
    expect(stack.secrets.redis_password?.external).toBe('true');
    expect(stack.services.gateway!.image).toBe('swarmserve:latest');
    expect(stack.services.worker!.image).toBe('swarmserve:latest');
    expect(stack.services.redis!.image).toBe('redis:7-bookworm');
    for (const name of ['gateway', 'worker', 'redis', 'autoscaler']) expect(stack.services[name]!.init, `${name}: init`).toBe('true');
    // one image: the command picks the role
    expect(stack.services.gateway!.command).toEqual(['node', 'dist/src/cli/main.js', 'gateway']);
    expect(stack.services.worker!.command).toEqual(['node', 'dist/src/cli/main.js', 'worker']);
    // gateway on managers, workers on workers, Redis on the nodes labelled for it (not a manager's role)
    expect(stack.services.gateway!.deploy.placement?.constraints).toEqual(['node.role == manager']);
    expect(stack.services.worker!.deploy.placement?.constraints).toEqual(['node.role == worker']);
    expect(stack.services.redis!.deploy.placement?.constraints).toEqual(['node.labels.swarmserve.redis == true']);
    expect(stack.services.gateway!.ports).toEqual([{ target: '8080', published: '8080', protocol: 'tcp' }]); // ingress (the default mode)
  });

  it('redis: password from the secret, appendonly, maxmemory + noeviction, not root', () => {
    const redis = stackConfig([stackFile]).services.redis!;
    expect(redis.secrets?.map((s) => s.source)).toEqual(['redis_password']);
    const script = redis.command!.join(' ');
    expect(script).toContain('/run/secrets/redis_password');
    expect(script).toMatch(/requirepass "\$p"/);
    expect(script).toMatch(/--appendonly yes/);
    expect(script).toMatch(/--maxmemory \d+[kmg]b/);
    expect(script).toMatch(/--maxmemory-policy noeviction/);
    expect(script).toMatch(/exec redis-server/);
    expect(redis.user).toBe('999:999');
    expect(redis.deploy.replicas).toBe('1');
  });

  it('gateway, worker and autoscaler: Redis URL and password file from the secret; every variable is a real option', () => {
    const stack = stackConfig([stackFile]);
    const known = new Set([GATEWAY_OPTIONS, WORKER_OPTIONS, REDIS_OPTIONS, AUTOSCALE_OPTIONS].flatMap((t) => Object.values(t).map((o) => o.env)));
    for (const name of ['gateway', 'worker', 'autoscaler']) {
      const service = stack.services[name]!;
      expect(service.secrets?.map((s) => s.source)).toEqual(['redis_password']);
      expect(service.environment?.SWARMSERVE_REDIS_URL).toBe('redis://redis:6379');
      expect(service.environment?.SWARMSERVE_REDIS_PASSWORD_FILE).toBe('/run/secrets/redis_password');
      for (const key of Object.keys(service.environment ?? {})) expect(known, `${name}: ${key} is an option`).toContain(key);
    }
    for (const key of Object.keys(envFile())) expect(known, `app.env: ${key} is an option`).toContain(key);
    expect(stack.services.worker!.environment?.SWARMSERVE_METRICS_PORT).toBe('9090');
  });

  it('health checks: the health subcommand on /health/live (gateway port, worker metrics port), never Redis', () => {
    const stack = stackConfig([stackFile]);
    expect(stack.services.gateway!.healthcheck?.test).toEqual(['CMD', 'node', 'dist/src/cli/main.js', 'health', 'http://127.0.0.1:8080/health/live']);
    expect(stack.services.worker!.healthcheck?.test).toEqual(['CMD', 'node', 'dist/src/cli/main.js', 'health', 'http://127.0.0.1:9090/health/live']);
    const dockerfile = readFileSync(join(swarmDir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD \["node", "dist\/src\/cli\/main\.js", "health", "http:\/\/127\.0\.0\.1:8080\/health\/live"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/src\/cli\/main\.js", "gateway"\]$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('worker: rolling updates start-first, one at a time, rolled back on failure, monitored past the health check', () => {
    const worker = stackConfig([stackFile]).services.worker!;
    const update = worker.deploy.update_config!;
    expect(update.parallelism).toBe('1');
    expect(update.order).toBe('start-first');
    expect(update.failure_action).toBe('rollback');
    const health = worker.healthcheck!;
    const unhealthyAfter = durationMs(health.start_period) + durationMs(health.interval) * Number(health.retries);
    expect(durationMs(update.monitor)).toBeGreaterThan(unhealthyAfter);
    expect(worker.deploy.rollback_config?.parallelism).toBe('1');
    expect(worker.deploy.restart_policy?.condition).toBe('any');
    expect(Number(worker.deploy.replicas)).toBeGreaterThanOrEqual(2);
  });

  it('autoscaler: on a manager, with its Docker socket, sizing the worker service of this stack', () => {
    const autoscaler = stackConfig([stackFile]).services.autoscaler!;
    expect(autoscaler.command).toEqual(['node', 'dist/src/cli/main.js', 'autoscale']);
    expect(autoscaler.deploy.placement?.constraints).toEqual(['node.role == manager']);
    expect(autoscaler.volumes).toEqual([{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }]);
    expect(autoscaler.environment?.SWARMSERVE_AUTOSCALE_SERVICE).toBe('swarmserve_worker');
    expect(autoscaler.environment?.SWARMSERVE_METRICS_PORT).toBe('9091');
    expect(autoscaler.healthcheck?.test).toEqual(['CMD', 'node', 'dist/src/cli/main.js', 'health', 'http://127.0.0.1:9091/health/live']);
    expect(autoscaler.deploy.replicas).toBe('1');
    expect(Number(autoscaler.environment?.SWARMSERVE_AUTOSCALE_MAX)).toBeGreaterThan(Number(autoscaler.environment?.SWARMSERVE_AUTOSCALE_MIN));
  });

  it('test override (autoscaler step): starts at 0 replicas, a short window, its metrics port on the manager; nothing else changed', () => {
    const before = stackConfig([stackFile, noIpvs, faultTimings]);
    const stack = stackConfig([stackFile, noIpvs, faultTimings, autoscaleTest]);
    const autoscaler = stack.services.autoscaler!;
    expect(autoscaler.deploy.replicas).toBe('0');
    expect(autoscaler.environment?.SWARMSERVE_AUTOSCALE_STABILIZATION).toBe('45s');
    expect(autoscaler.ports).toEqual([{ mode: 'host', target: '9091', published: '9091', protocol: 'tcp' }]);
    expect(autoscaler.deploy.placement).toEqual(before.services.autoscaler!.deploy.placement);
    for (const name of ['gateway', 'worker', 'redis']) expect(stack.services[name], name).toEqual(before.services[name]);
  });

  it('worker and gateway: stop_grace_period longer than the drain timeout', () => {
    const stack = stackConfig([stackFile]);
    const drainMs = Number(envFile().SWARMSERVE_DRAIN_TIMEOUT_MS ?? 30_000);
    for (const name of ['gateway', 'worker']) {
      const service = stack.services[name]!;
      const drain = Number(service.environment?.SWARMSERVE_DRAIN_TIMEOUT_MS ?? drainMs);
      expect(durationMs(service.stop_grace_period), `${name}: stop_grace_period`).toBeGreaterThan(drain);
    }
  });

  it('worker: a memory limit (the planner estimate + the decoding margin) and a reservation', () => {
    const resources = stackConfig([stackFile]).services.worker!.deploy.resources!;
    const limit = Number(resources.limits?.memory);
    const reservation = Number(resources.reservations?.memory);
    // resnet50, batch 8, 1 thread: the plan's limit 368M + 192M for decoding = 560M
    expect(limit).toBe(560 * 1024 * 1024);
    expect(reservation).toBeGreaterThan(0);
    expect(reservation).toBeLessThan(limit);
    expect(resources.limits?.cpus).toBe('1');
    expect(readFileSync(stackFile, 'utf8')).toMatch(/swarmserve plan resnet50 [^\n]*: estimate \d+ MiB/);
  });

  it('single node: workers on the manager through the variable, the CPU reservation lifted', () => {
    const stack = stackConfig([stackFile, singleNode], { SWARMSERVE_WORKER_NODE_ROLE: 'manager' });
    expect(stack.services.worker!.deploy.placement?.constraints).toEqual(['node.role == manager']);
    expect(Number(stack.services.worker!.deploy.resources?.reservations?.cpus)).toBeLessThan(1);
    expect(stack.services.worker!.deploy.update_config?.order).toBe('start-first');
  });

  it('test override (no IPVS): dnsrr everywhere, the gateway port in host mode and stop-first', () => {
    const stack = stackConfig([stackFile, singleNode, noIpvs], {
      SWARMSERVE_WORKER_NODE_ROLE: 'manager',
      SWARMSERVE_IMAGE: '127.0.0.1:5000/swarmserve:test',
      REDIS_IMAGE: '127.0.0.1:5000/redis:7-bookworm',
    });
    for (const name of ['gateway', 'worker', 'redis', 'autoscaler']) expect(stack.services[name]!.deploy.endpoint_mode, name).toBe('dnsrr');
    expect(stack.services.gateway!.ports).toEqual([{ mode: 'host', target: '8080', published: '8080', protocol: 'tcp' }]);
    expect(stack.services.gateway!.deploy.update_config?.order).toBe('stop-first');
    expect(stack.services.worker!.image).toBe('127.0.0.1:5000/swarmserve:test');
    expect(stack.services.redis!.image).toBe('127.0.0.1:5000/redis:7-bookworm');
    // what the override does not touch stays as in production
    expect(stack.services.worker!.deploy.update_config?.failure_action).toBe('rollback');
    expect(Number(stack.services.worker!.deploy.resources?.limits?.memory)).toBe(560 * 1024 * 1024);
  });

  it('test override (fault timings, the multi-node test): timings only, no placement or limit changed', () => {
    const production = stackConfig([stackFile, noIpvs]);
    const stack = stackConfig([stackFile, noIpvs, faultTimings]);
    for (const name of ['gateway', 'worker', 'redis']) {
      const a = production.services[name]!;
      const b = stack.services[name]!;
      expect(b.deploy.placement, `${name}: placement`).toEqual(a.deploy.placement);
      expect(b.deploy.resources, `${name}: resources`).toEqual(a.deploy.resources);
      expect(b.deploy.replicas, `${name}: replicas`).toEqual(a.deploy.replicas);
      expect(b.ports, `${name}: ports`).toEqual(a.ports);
      expect(b.stop_grace_period, `${name}: stop_grace_period (the drain)`).toEqual(a.stop_grace_period);
    }
    const worker = stack.services.worker!;
    expect(durationMs(worker.healthcheck?.interval)).toBeLessThan(durationMs(production.services.worker!.healthcheck?.interval));
    // a check in the worker's 1-CPU quota can take seconds under load: production's timeout kept
    expect(worker.healthcheck?.timeout).toBe(production.services.worker!.healthcheck?.timeout);
    expect(worker.healthcheck?.test).toEqual(production.services.worker!.healthcheck?.test);
    expect(Number(worker.environment?.SWARMSERVE_RECLAIM_IDLE_MS)).toBeLessThan(Number(envFile().SWARMSERVE_RECLAIM_IDLE_MS));
    expect(worker.deploy.update_config?.order).toBe('start-first');
    expect(worker.deploy.update_config?.failure_action).toBe('rollback');
  });

  it('the validator is strict: a misspelt key is refused', () => {
    const run = spawnSync(docker!, ['stack', 'config', '-c', '-'], {
      encoding: 'utf8',
      input: readFileSync(stackFile, 'utf8').replace('failure_action: rollback', 'failure_actoin: rollback'),
    });
    expect(run.status).not.toBe(0);
  });
});

describe('parseDockerYaml', () => {
  it('reads maps, lists of scalars and maps, quoted scalars and block scalars', () => {
    const text =
      'a:\n  b: "12"\n  c:\n    - x\n    - y\n  d:\n    - source: s\n      target: t\n    - source: u\n  e: |\n    one\n    two\n  f: null\nz: plain value\n';
    expect(parseDockerYaml(text)).toEqual({
      a: { b: '12', c: ['x', 'y'], d: [{ source: 's', target: 't' }, { source: 'u' }], e: 'one\ntwo\n', f: null },
      z: 'plain value',
    });
  });
});
