// A TCP proxy for fault tests: forwards 127.0.0.1:<port> to a target, and can "black-hole"
// it the way a lost host or a cut network looks to a client: nothing comes back, and
// nothing is closed (no FIN, no RST), on the open connections and on new ones.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private holding = false;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (client) => this.accept(client));
  }

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new TcpProxy(server, (server.address() as AddressInfo).port, { host: target.host ?? '127.0.0.1', port: target.port });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * From now on nothing is forwarded either way and nothing is read (the peers' writes only
   * fill buffers); new connections are accepted and held the same way. Nothing is closed.
   */
  blackHole(): void {
    this.holding = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  /**
   * New connections are forwarded again, as when Redis answers at a new address. The
   * connections black-holed stay so, as those to a host that died.
   */
  heal(): void {
    this.holding = false;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    this.keep(client);
    if (this.holding) {
      client.pause();
      return;
    }
    const upstream = this.keep(createConnection(this.target));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private keep(socket: Socket): Socket {
    this.sockets.add(socket);
    // A peer that closes or fails closes its side only; errors are expected in fault tests.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }
}
