// `npm run cluster:up | cluster:down | cluster:status`: the multi-node swarm harness
// (test/swarm/cluster.ts) for trying the stack across hosts on one machine. `up` leaves the
// cluster running and prints how to reach it; `down` removes it and checks the host is as
// it was before `up`. Environment: SWARMSERVE_CLUSTER_DIR (/var/tmp/swarmserve-cluster),
// SWARMSERVE_CLUSTER_WORKERS (3), SWARMSERVE_CLUSTER_SUBNET (10.77.0).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from './cluster.js';
import { hostDifferences, hostSnapshot, type HostSnapshot } from './host-state.js';
import { CGROUP } from './cluster.js';
import { run } from './exec.js';

const dir = process.env.SWARMSERVE_CLUSTER_DIR ?? '/var/tmp/swarmserve-cluster';
const workers = Number(process.env.SWARMSERVE_CLUSTER_WORKERS ?? 3);
const subnet = process.env.SWARMSERVE_CLUSTER_SUBNET ?? '10.77.0';
const baselineFile = `${dir}.baseline.json`;
const command = process.argv[2];

async function up(): Promise<void> {
  await Cluster.removeStale(dir);
  const baseline = await hostSnapshot(CGROUP, dir);
  writeFileSync(baselineFile, JSON.stringify(baseline));
  const t0 = Date.now();
  const cluster = await Cluster.create({ dir, workers, subnet });
  const mgr = cluster.manager;
  console.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${cluster.nodes.map((n) => `${n.hostname} ${n.address}`).join(', ')}`);
  console.log(`registry (insecure, every node trusts it): ${cluster.registry ?? 'none'}`);
  console.log(`talk to the manager:\n  export DOCKER_HOST=unix://${cluster.socket(mgr)}\n  docker node ls`);
  console.log(`a worker's engine: docker -H unix://${cluster.socket(cluster.workers[0] ?? mgr)} ps`);
  console.log(`published ports: http://${mgr.address}:<port> (host-mode) from this host`);
  console.log('remove it: npm run cluster:down');
}

async function down(): Promise<void> {
  const problems = await Cluster.removeStale(dir);
  for (const p of problems) console.error(`cluster: ${p}`);
  if (existsSync(baselineFile)) {
    const before = JSON.parse(readFileSync(baselineFile, 'utf8')) as HostSnapshot;
    const diff = hostDifferences(before, await hostSnapshot(CGROUP, dir));
    for (const d of diff) console.error(`cluster: host differs from before cluster:up: ${d}`);
    if (diff.length === 0) console.log('cluster: host links, namespaces, mounts, iptables, cgroups and processes as before cluster:up');
    if (diff.length > 0 || problems.length > 0) process.exitCode = 1;
    run('rm', ['-f', baselineFile]).catch(() => undefined);
  }
}

async function status(): Promise<void> {
  const file = join(dir, 'cluster.json');
  if (!existsSync(file)) {
    console.log(`no cluster (${file} absent)`);
    return;
  }
  console.log(readFileSync(file, 'utf8'));
  const r = await run('docker', ['-H', `unix://${join(dir, 'mgr/run/docker.sock')}`, 'node', 'ls'], { allowFail: true });
  console.log(r.stdout || r.stderr);
}

const commands: Record<string, () => Promise<void>> = { up, down, status };
const fn = command ? commands[command] : undefined;
if (!fn) {
  console.error('usage: cluster-cli up|down|status');
  process.exit(2);
}
try {
  await fn();
} catch (e) {
  console.error(`cluster ${command ?? ''}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
