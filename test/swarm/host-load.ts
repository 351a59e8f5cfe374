// Which processes of this host are the swarm test's own (the nodes' Docker engines and
// containers, the namespace holders and the registry: all in the cgroup tree of the cluster
// harness; the Docker engine of the host if one runs; itself), so that the CPU other work took in a measured window can be
// told apart: a speed comparison on a host that something else keeps busy says nothing of
// the replicas (a spin loop on one of 2 cores left 3 workers 1.1× of one).
import { readFileSync, readdirSync } from 'node:fs';

const ENGINE = /^(dockerd|containerd|containerd-shim.*|docker-proxy|docker-registry|runc)$/;

/** Pids of the Docker engines, of every process in a container, of the registry and of this process. */
export function swarmTestPids(): number[] {
  const pids: number[] = [process.pid];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (ENGINE.test(comm) || /docker|containerd|swarmserve-cluster/.test(cgroup)) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
