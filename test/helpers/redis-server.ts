// A real redis-server for integration tests: started on a free port in a temporary
// directory, paused, restarted empty and stopped by the tests themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort } from './process.js';
import { writeTestCertificates } from './tls-certs.js';

export interface RedisServerOptions {
  password?: string;
  maxmemory?: string;
  /** Serve TLS only (rediss://), with a certificate for 127.0.0.1 signed by a CA of its own (see caFile). */
  tls?: boolean;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'swarmserve-redis-')), options);
    await server.launch();
    return server;
  }

  get url(): string {
    return `${this.options.tls === true ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** The CA that signed a TLS server's certificate (give it to clients, e.g. NODE_EXTRA_CA_CERTS). */
  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** Runs one command on a fresh connection (for assertions: XPENDING, XLEN, CONFIG …); string replies. */
  async command(args: string[]): Promise<unknown> {
    const client = createClient({ url: this.url, RESP: 2, ...(this.options.password === undefined ? {} : { password: this.options.password }) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.sendCommand(args);
    } finally {
      client.destroy();
    }
  }

  /** SIGSTOP: the server holds its connections but answers nothing. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server (no save) and leaves it down until start again. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  /** Starts again on the same port with an empty data set. */
  async restartEmpty(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async launch(): Promise<void> {
    const ports = this.options.tls === true ? ['--port', '0', '--tls-port', String(this.port), ...this.makeCertificates()] : ['--port', String(this.port)];
    const args = [...ports, '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
    if (this.options.password !== undefined) args.push('--requirepass', this.options.password);
    if (this.options.maxmemory !== undefined) args.push('--maxmemory', this.options.maxmemory);
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!/Ready to accept connections/.test(log)) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${log}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private makeCertificates(): string[] {
    const at = (name: string): string => join(this.dir, name);
    if (!existsSync(at('server.crt'))) writeTestCertificates(this.dir);
    return ['--tls-cert-file', at('server.crt'), '--tls-key-file', at('server.key'), '--tls-ca-cert-file', at('ca.crt'), '--tls-auth-clients', 'no'];
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
