// A real multi-node Docker Swarm on one machine: N nodes (1 manager + workers), each a
// network namespace with its own dockerd, joined into one swarm over a host bridge
// (the recipe measured in ../shared/notes/multi-node-swarm, made into a harness).
//
// Per node:
//   - a network namespace held open by a `sleep` in the cgroup `swarmserve-cluster/net-<node>`
//     (no `ip netns add`: that would leave a /run/netns mount on the host), linked to the
//     bridge by a veth pair, address <subnet>.<10+i>;
//   - a mount and UTS namespace in which the node's own directories are bind-mounted over
//     /etc/docker (Docker 20.10's engine key: the same key would give every engine the same
//     node ID), /var/lib/docker and /run, so the node's Docker socket is at
//     /var/run/docker.sock as on a real host (a service that mounts it works) and at
//     <dir>/<node>/run/docker.sock from the host;
//   - dockerd (with the containerd it starts) in the cgroup `swarmserve-cluster/<node>/engine`
//     and its containers under `swarmserve-cluster/<node>/containers`, so that "the node
//     loses power" is one freeze-and-kill of the cgroup `swarmserve-cluster/<node>`.
// The host has an address on the bridge (<subnet>.1): tests reach published ports there, and
// a registry on it serves the nodes (each dockerd lists it as insecure), so that every node
// pulls the same image by digest when a task lands on it, as in production.
//
// Everything made is written to <dir>/cluster.json before it is made; `Cluster.removeStale`
// (run by `create`) tears down what a killed earlier run left, from that file only. The
// harness never touches a dockerd, swarm, link or cgroup it has no record of.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, succeeds, waitFor, httpStatus, Fatal, processAlive } from './exec.js';
import { cgroupRoots } from './host-state.js';

export const CGROUP = 'swarmserve-cluster';
const STATE_SCHEMA = 'swarmserve.cluster/1';

export interface ClusterOptions {
  /** Worker nodes beside the one manager (default 3). */
  workers?: number;
  /** Where the nodes' Docker data, sockets, logs and the state file live (default /var/tmp/swarmserve-cluster). */
  dir?: string;
  /** The first three octets of the nodes' /24 (default 10.77.0): host .1, nodes .10, .11, … */
  subnet?: string;
  /** Port of the registry on the host's bridge address (default 5000); 0: no registry. */
  registryPort?: number;
  log?: (msg: string) => void;
}

export interface ClusterNode {
  /** mgr, w1, w2, … */
  name: string;
  /** The node's hostname, as `docker node ls` shows it. */
  hostname: string;
  address: string;
  role: 'manager' | 'worker';
  /** The host end of its veth pair: `ip link set <veth> down` cuts the node off. */
  veth: string;
  holderPid?: number;
}

interface ClusterState {
  schema: typeof STATE_SCHEMA;
  createdAt: string;
  dir: string;
  bridge: string;
  subnet: string;
  nodes: ClusterNode[];
  /** Mount points this harness had to create on the host (removed again if still empty). */
  createdDirs: string[];
  registry?: string;
}

const defaults = { workers: 3, dir: '/var/tmp/swarmserve-cluster', subnet: '10.77.0', registryPort: 5000 };

const writeState = (s: ClusterState): void => writeFileSync(join(s.dir, 'cluster.json'), `${JSON.stringify(s, null, 2)}\n`);

/** The hierarchy used to find and kill a node's processes: v1's freezer, or the v2 root. */
function killRoot(): { root: string; v2: boolean } {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return { root: '/sys/fs/cgroup', v2: true };
  if (existsSync('/sys/fs/cgroup/freezer/cgroup.procs')) return { root: '/sys/fs/cgroup/freezer', v2: false };
  throw new Error('no cgroup v2 root and no v1 freezer hierarchy under /sys/fs/cgroup: the harness cannot kill a node');
}

function pidsIn(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) pids.push(...pidsIn(join(dir, d.name)));
  return pids;
}

/** SIGKILLs every process in a cgroup tree, frozen first so that nothing forks meanwhile. */
async function killCgroupTree(rel: string): Promise<number> {
  const { root, v2 } = killRoot();
  const dir = join(root, rel);
  if (!existsSync(dir)) return 0;
  const before = pidsIn(dir).length;
  if (before === 0) return 0;
  if (v2) writeFileSync(join(dir, 'cgroup.kill'), '1');
  else {
    writeFileSync(join(dir, 'freezer.state'), 'FROZEN');
    await waitFor(
      `${dir} frozen`,
      10_000,
      () => Promise.resolve(readFileSync(join(dir, 'freezer.state'), 'utf8').trim() === 'FROZEN' ? true : undefined),
      50,
    ).catch(
      () => undefined, // kill anyway: a process stuck in FREEZING still dies on SIGKILL once thawed
    );
    for (const pid of pidsIn(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    writeFileSync(join(dir, 'freezer.state'), 'THAWED');
  }
  await waitFor(`every process of ${dir} gone`, 20_000, () => Promise.resolve(pidsIn(dir).length === 0 ? true : undefined), 50);
  return before;
}

/** Removes the cgroup directories named CGROUP in every hierarchy, deepest first. */
function removeCgroups(): string[] {
  const left: string[] = [];
  const rmTree = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) rmTree(join(dir, d.name));
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  };
  for (const root of cgroupRoots()) if (existsSync(join(root, CGROUP))) rmTree(join(root, CGROUP));
  return left;
}

/** Starts `args` in its own session inside the cgroup `rel` (of the kill hierarchy), detached from this process. */
function spawnInCgroup(rel: string, args: string[], logFile: string): number {
  const { root } = killRoot();
  const dir = join(root, rel);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${args[0] ?? '?'}`);
  return child.pid;
}

export class Cluster {
  private closed = false;

  private constructor(
    private readonly state: ClusterState,
    private readonly log: (msg: string) => void,
  ) {}

  get nodes(): readonly ClusterNode[] {
    return this.state.nodes;
  }
  get manager(): ClusterNode {
    const m = this.state.nodes[0];
    if (!m) throw new Error('cluster has no node');
    return m;
  }
  get workers(): ClusterNode[] {
    return this.state.nodes.filter((n) => n.role === 'worker');
  }
  get dir(): string {
    return this.state.dir;
  }
  /** The host's address on the nodes' bridge. */
  get hostAddress(): string {
    return `${this.state.subnet}.1`;
  }
  /** host:port of the registry the nodes pull from, if one runs. */
  get registry(): string | undefined {
    return this.state.registry;
  }

  node(name: string): ClusterNode {
    const n = this.state.nodes.find((x) => x.name === name || x.hostname === name);
    if (!n) throw new Error(`no node ${name} in the cluster (${this.state.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }
  /** The node's Docker socket as the host sees it. */
  socket(node: ClusterNode | string): string {
    const n = typeof node === 'string' ? this.node(node) : node;
    return join(this.state.dir, n.name, 'run/docker.sock');
  }
  /** An environment whose `docker` (and dockerode) talk to the node's engine. */
  dockerEnv(node: ClusterNode | string = this.manager, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...base, DOCKER_HOST: `unix://${this.socket(node)}` };
  }
  /** `docker <args>` against one node's engine; stdout trimmed. */
  async docker(node: ClusterNode | string, args: string[], o: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const r = await run('docker', ['-H', `unix://${this.socket(node)}`, ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 60_000, env: o.env });
    return r.stdout.trim();
  }

  /** Makes the cluster; first removes what an earlier run of the harness left in `dir`. */
  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const o = { ...defaults, ...options };
    const log = options.log ?? ((m: string) => console.log(`cluster: ${m}`));
    if (process.getuid?.() !== 0) throw new Error('the cluster harness needs root (network namespaces, dockerd, cgroups)');
    for (const tool of ['ip', 'nsenter', 'unshare', 'dockerd', 'docker'])
      if (!(await succeeds('sh', '-c', `command -v ${tool}`))) throw new Error(`${tool} is not installed`);
    await Cluster.removeStale(o.dir, log);
    const bridge = 'sscbr0';
    if (await succeeds('ip', 'link', 'show', bridge))
      throw new Error(`a link named ${bridge} exists but this harness has no record of it (${o.dir}/cluster.json): not touching it`);
    const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
    if (routes.split('\n').some((l) => l.startsWith(`${o.subnet}.`))) throw new Error(`${o.subnet}.0/24 is already routed on this host: choose another subnet`);
    if (o.registryPort > 0 && (await run('ss', ['-Hltn', `sport = :${o.registryPort}`])).stdout.trim() !== '')
      throw new Error(`something listens on port ${o.registryPort}, which the registry needs (registryPort)`);

    mkdirSync(o.dir, { recursive: true });
    const nodes: ClusterNode[] = [
      { name: 'mgr', hostname: 'ssc-mgr', address: `${o.subnet}.10`, role: 'manager', veth: 'sscv-mgr' },
      ...Array.from({ length: o.workers }, (_, i): ClusterNode => ({
        name: `w${i + 1}`,
        hostname: `ssc-w${i + 1}`,
        address: `${o.subnet}.${11 + i}`,
        role: 'worker',
        veth: `sscv-w${i + 1}`,
      })),
    ];
    const state: ClusterState = { schema: STATE_SCHEMA, createdAt: new Date().toISOString(), dir: o.dir, bridge, subnet: o.subnet, nodes, createdDirs: [] };
    for (const mountPoint of ['/etc/docker', '/var/lib/docker'])
      if (!existsSync(mountPoint)) {
        state.createdDirs.push(mountPoint);
        writeState(state);
        mkdirSync(mountPoint, { recursive: true });
      }
    writeState(state);
    const cluster = new Cluster(state, log);
    try {
      await cluster.build(o.registryPort);
    } catch (e) {
      await cluster.close().catch(() => undefined);
      throw e;
    }
    return cluster;
  }

  private async build(registryPort: number): Promise<void> {
    const { state } = this;
    let t = Date.now();
    const lap = (): string => {
      const s = ((Date.now() - t) / 1000).toFixed(1);
      t = Date.now();
      return `${s} s`;
    };
    await run('ip', ['link', 'add', state.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', state.bridge]);
    await run('ip', ['link', 'set', state.bridge, 'up']);
    for (const n of state.nodes) {
      mkdirSync(join(state.dir, n.name), { recursive: true });
      n.holderPid = spawnInCgroup(`${CGROUP}/net-${n.name}`, ['unshare', '--net', '--', 'sleep', 'infinity'], join(state.dir, `${n.name}-net.log`));
      writeState(state);
      const pid = n.holderPid;
      await waitFor(
        `network namespace of ${n.name}`,
        5000,
        async () => {
          const own = (await run('readlink', [`/proc/${pid}/ns/net`], { allowFail: true })).stdout.trim();
          const host = (await run('readlink', ['/proc/self/ns/net'])).stdout.trim();
          return own !== '' && own !== host ? true : undefined;
        },
        20,
      );
      await run('ip', ['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
      await run('ip', ['link', 'set', n.veth, 'master', state.bridge, 'up']);
      const inNode = (...args: string[]): Promise<unknown> => run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]);
      await inNode('link', 'set', 'lo', 'up');
      await inNode('addr', 'add', `${n.address}/24`, 'dev', 'eth0');
      await inNode('link', 'set', 'eth0', 'up');
    }
    this.log(`bridge ${state.bridge} (${this.hostAddress}/24) and ${state.nodes.length} network namespaces in ${lap()}`);

    if (registryPort > 0) await this.startRegistry(registryPort);
    await Promise.all(state.nodes.map((n) => this.startEngine(n)));
    this.log(`${state.nodes.length} dockerd up in ${lap()}`);

    const m = this.manager;
    await this.docker(m, [
      'swarm',
      'init',
      '--advertise-addr',
      m.address,
      '--listen-addr',
      `${m.address}:2377`,
      '--default-addr-pool',
      '10.200.0.0/16',
      '--dispatcher-heartbeat',
      '1s',
    ]);
    const token = await this.docker(m, ['swarm', 'join-token', '-q', 'worker']);
    await Promise.all(
      this.workers.map((w) =>
        this.docker(w, ['swarm', 'join', '--advertise-addr', w.address, '--listen-addr', `${w.address}:2377`, '--token', token, `${m.address}:2377`]),
      ),
    );
    await this.waitReady(60_000);
    this.log(`swarm: ${m.hostname} manager + ${this.workers.length} workers Ready in ${lap()}`);
  }

  private async startRegistry(port: number): Promise<void> {
    if (!(await succeeds('sh', '-c', 'command -v docker-registry'))) throw new Error('docker-registry is not installed');
    const addr = `${this.hostAddress}:${port}`;
    const dir = join(this.state.dir, 'registry');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${addr}\n`,
    );
    spawnInCgroup(`${CGROUP}/registry`, ['docker-registry', 'serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
    this.state.registry = addr;
    writeState(this.state);
    await waitFor(`registry on ${addr}`, 20_000, async () => ((await httpStatus(`http://${addr}/v2/`, 500)) === 200 ? true : undefined), 200);
  }

  /** Starts (or restarts, after `powerOff`) the node's dockerd and waits until it answers. */
  async startEngine(n: ClusterNode): Promise<void> {
    const d = join(this.state.dir, n.name);
    for (const sub of ['etc', 'lib', 'run']) mkdirSync(join(d, sub), { recursive: true });
    rmSync(join(d, 'run'), { recursive: true, force: true }); // a power loss leaves stale pid files and sockets
    mkdirSync(join(d, 'run'));
    const octet = 20 + this.state.nodes.indexOf(n);
    const flags = [
      '--host unix:///var/run/docker.sock',
      `--bip 172.31.${octet}.1/24`,
      '--storage-driver overlay2',
      `--cgroup-parent /${CGROUP}/${n.name}/containers`,
      this.state.registry ? `--insecure-registry ${this.state.registry}` : '',
      '--log-level warn',
    ].join(' ');
    const script = [
      `hostname ${n.hostname}`,
      `mount --bind ${d}/etc /etc/docker`,
      `mount --bind ${d}/lib /var/lib/docker`,
      `mount --bind ${d}/run /run`,
      `exec dockerd ${flags}`,
    ].join(' && ');
    if (!n.holderPid) throw new Error(`${n.name} has no network namespace`);
    const pid = spawnInCgroup(
      `${CGROUP}/${n.name}/engine`,
      ['nsenter', `--net=/proc/${n.holderPid}/ns/net`, 'unshare', '--mount', '--uts', '--propagation', 'slave', 'sh', '-c', script],
      join(d, 'dockerd.log'),
    );
    await waitFor(
      `dockerd of ${n.name}`,
      60_000,
      async () => {
        if (!processAlive(pid))
          throw new Fatal(`dockerd of ${n.name} exited:\n${readFileSync(join(d, 'dockerd.log'), 'utf8').trim().split('\n').slice(-10).join('\n')}`);
        return (await run('docker', ['-H', `unix://${this.socket(n)}`, 'version', '-f', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 5000 })).code ===
          0
          ? true
          : undefined;
      },
      200,
    );
  }

  /** Runs a command inside the node (its network, mount and UTS namespaces), as a process on that host would. */
  async execInNode(n: ClusterNode, args: string[]): Promise<string> {
    const pid = readFileSync(join(this.state.dir, n.name, 'run/docker.pid'), 'utf8').trim();
    return (await run('nsenter', [`--target=${pid}`, '--net', '--mount', '--uts', '--', ...args])).stdout.trim();
  }

  /** Waits until every node the swarm knows is Ready (or `expect` nodes, by hostname, are). */
  async waitReady(timeoutMs: number, expect: ClusterNode[] = [...this.state.nodes]): Promise<void> {
    await waitFor(
      `${expect.map((n) => n.hostname).join(', ')} Ready`,
      timeoutMs,
      async () => {
        const lines = (await this.docker(this.manager, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'])).split('\n');
        return expect.every((n) => lines.includes(`${n.hostname} Ready`)) ? true : undefined;
      },
      250,
    );
  }

  /** The swarm's view of a node: ready, down, unknown. */
  async nodeState(n: ClusterNode): Promise<string> {
    return this.docker(this.manager, ['node', 'inspect', n.hostname, '--format', '{{.Status.State}}']);
  }

  /** Takes the node's link down: a partition (its processes keep running). */
  async cutLink(n: ClusterNode): Promise<void> {
    await run('ip', ['link', 'set', n.veth, 'down']);
  }
  async healLink(n: ClusterNode): Promise<void> {
    await run('ip', ['link', 'set', n.veth, 'up']);
  }

  /** The node loses power: link cut, then every process of it (dockerd, containerd, shims, containers) SIGKILLed at once. */
  async powerOff(n: ClusterNode): Promise<number> {
    await this.cutLink(n);
    return killCgroupTree(`${CGROUP}/${n.name}`);
  }
  /** Power back on: its dockerd starts on its old state and rejoins the swarm; its link comes up. */
  async powerOn(n: ClusterNode): Promise<void> {
    await this.startEngine(n);
    await this.healLink(n);
  }

  /** Tears everything down (idempotent): processes, links, cgroups, directories, state file. */
  async close(): Promise<string[]> {
    if (this.closed) return [];
    this.closed = true;
    return Cluster.teardown(this.state, this.log);
  }

  /** Tears down what the state file in `dir` records, if there is one (a killed earlier run). */
  static async removeStale(dir: string, log: (msg: string) => void = console.log): Promise<string[]> {
    const file = join(dir, 'cluster.json');
    if (!existsSync(file)) {
      // Empty cgroup directories of ours may be left; processes in them without a record are not ours to kill.
      const busy = cgroupRoots()
        .map((r) => join(r, CGROUP))
        .filter((d) => pidsIn(d).length > 0);
      if (busy.length > 0) throw new Error(`${busy.join(', ')} hold processes but ${file} does not exist: not touching them`);
      removeCgroups();
      return [];
    }
    const state = JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
    if (state.schema !== STATE_SCHEMA) throw new Error(`${file} is not a state file of this harness (schema ${String(state.schema)})`);
    log(`removing what an earlier run left (${file}, made ${state.createdAt})`);
    return Cluster.teardown(state, log);
  }

  private static async teardown(state: ClusterState, log: (msg: string) => void): Promise<string[]> {
    const problems: string[] = [];
    const t0 = Date.now();
    // Power off the nodes (and the namespace holders and the registry): no graceful swarm
    // leave is needed when every engine and its state go; SIGKILL of a whole cgroup tree
    // leaves no shim or container behind, and the nodes' mounts die with their namespaces.
    let killed = 0;
    try {
      killed = await killCgroupTree(CGROUP);
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
    // Host veth ends first: a namespace's own links go asynchronously once it is gone.
    for (const n of state.nodes) if (await succeeds('ip', 'link', 'show', n.veth)) await run('ip', ['link', 'del', n.veth], { allowFail: true });
    if (await succeeds('ip', 'link', 'show', state.bridge)) await run('ip', ['link', 'del', state.bridge], { allowFail: true });
    await sleep(100);
    for (const left of removeCgroups()) problems.push(`cgroup ${left} could not be removed`);
    for (const n of state.nodes) rmSync(join(state.dir, n.name), { recursive: true, force: true });
    rmSync(join(state.dir, 'registry'), { recursive: true, force: true });
    for (const d of state.createdDirs) {
      try {
        rmdirSync(d);
      } catch {
        problems.push(`${d} (made by the harness) is not empty: left`);
      }
    }
    rmSync(state.dir, { recursive: true, force: true });
    log(
      `teardown: ${killed} processes killed, links, cgroups and ${state.dir} removed in ${((Date.now() - t0) / 1000).toFixed(1)} s${problems.length ? `; problems: ${problems.join('; ')}` : ''}`,
    );
    return problems;
  }
}
