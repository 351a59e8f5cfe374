// One Redis connection as the transport uses it: raw commands with binary-safe replies,
// Lua scripts by SHA (reloaded after a restart), TCP keepalive, fast failure while
// disconnected (no offline queue: a gateway answers 503 at once instead of waiting),
// reconnection by itself, and a liveness watch: a connection whose Redis stops answering
// without closing it (its host lost, the network cut) is closed and opened again.
import { createHash } from 'node:crypto';
import { RESP_TYPES, createClient } from 'redis';
import { ServeError } from '../../common/errors.js';
import { REDIS_DEFAULTS, redactRedisUrl, type RedisConnectionOptions } from './options.js';

export type RedisArg = string | Buffer;

export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
/** Idle TCP connections are probed this often, so an overlay network that drops idle flows is noticed. */
const KEEPALIVE_DELAY_MS = 10_000;
/** An idle connection is pinged after this long without a reply, so a dead one is found before a command needs it. */
const PING_IDLE_MS = 1_000;
/** How often the liveness watch looks; it adds at most this to the detection time. */
const WATCH_EVERY_MS = 250;

/** Refusals that retrying cannot fix: a wrong password or user. */
function isAuthFailure(err: unknown): boolean {
  return /WRONGPASS|NOAUTH|invalid username-password|invalid password/i.test(String((err as Error | undefined)?.message ?? err));
}

function makeClient(options: RedisConnectionOptions, name: string, state: { connected: boolean }) {
  return createClient({
    url: options.url,
    ...(options.password === undefined ? {} : { password: options.password }),
    name,
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
      connectTimeout: 3_000,
      // Reconnect quickly at first, then every second, forever; but a process that cannot
      // log in at start-up stops with a clear error instead of retrying silently.
      reconnectStrategy: (retries: number, cause: Error) => (!state.connected && isAuthFailure(cause) ? cause : Math.min(50 * 2 ** retries, 1_000)),
    },
  });
}

type Client = ReturnType<typeof makeClient>;

/**
 * How long a blocking read may legitimately go unanswered: its BLOCK (0, forever, is never
 * judged). Read from the command itself, so no caller can forget to declare it.
 */
export function blockMsOf(args: readonly RedisArg[]): number {
  const command = String(args[0]).toUpperCase();
  if (command !== 'XREAD' && command !== 'XREADGROUP') return 0;
  // XREADGROUP GROUP <group> <consumer> [COUNT n] [BLOCK ms] [NOACK] STREAMS …: names may be any word.
  for (let i = command === 'XREAD' ? 1 : 4; i < args.length;) {
    const word = String(args[i]).toUpperCase();
    if (word === 'STREAMS') break;
    if (word === 'BLOCK') {
      const ms = Number(String(args[i + 1]));
      return ms === 0 ? Number.POSITIVE_INFINITY : Number.isFinite(ms) && ms > 0 ? ms : 0;
    }
    i += word === 'COUNT' ? 2 : 1;
  }
  return 0;
}

/**
 * One node-redis client and what the liveness watch knows of it. node-redis reconnects a
 * client by itself when its socket fails; a connection that merely goes silent is
 * replaced by a new client (destroying the old one rejects what waits on it). A new client
 * rather than connect() again on the same one: node-redis 6 may still run the old
 * connection attempt's loop, and its sockets are out of reach.
 *
 * Liveness is judged by any reply, not by a PING's own deadline: a PING queued behind
 * large uploads or a blocking read would time out on a busy but healthy connection. PINGs
 * only keep idle connections judged. (The socket's idle timeout cannot tell: writes into
 * a dead connection count as activity.)
 */
interface Connection {
  client: Client;
  /** Commands sent and not answered. */
  pending: number;
  /** When Redis last answered, or something started waiting on an idle connection (performance.now()). */
  heardAt: number;
  /** Blocking reads waiting, and when the last of them may legitimately answer (they run one after another). */
  blocking: number;
  blockedUntil: number;
  /** Set when the TCP connection is up and the handshake (name, password) not yet answered. */
  handshakeSince: number | undefined;
  /** This client subscribed to the link's channels (node-redis subscribes them again after its own reconnections). */
  subscribed: boolean;
  replaced: boolean;
}

export class RedisLink {
  private failing = false;
  private everReady = false;
  private closed = false;
  private readonly readyListeners: Array<() => void> = [];
  private readonly subscriptions: Array<{ channel: string; listener: (message: string) => void }> = [];
  private readonly state = { connected: false };
  private connection: Connection;
  private readonly watch: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private firstReady: { resolve: () => void; reject: (err: unknown) => void } | undefined;

  private constructor(
    private readonly options: RedisConnectionOptions,
    readonly name: string,
  ) {
    this.timeoutMs = options.livenessTimeoutMs ?? REDIS_DEFAULTS.livenessTimeoutMs;
    this.connection = this.open();
    this.watch = setInterval(() => this.check(), WATCH_EVERY_MS);
    this.watch.unref();
  }

  /** Connects, waiting (and retrying) until Redis answers. */
  static async connect(options: RedisConnectionOptions, name: string): Promise<RedisLink> {
    const link = new RedisLink(options, name);
    try {
      await new Promise<void>((resolve, reject) => (link.firstReady = { resolve, reject }));
    } catch (err) {
      link.destroy();
      const reason = (err as Error).message.replace(/\.+$/, '');
      if (isAuthFailure(err))
        throw new ServeError(
          'CONFIG_INVALID',
          `Redis at ${redactRedisUrl(options.url)} refused to log in (${reason}). Check the password in --redis or --redis-password-file.`,
        );
      throw new ServeError('QUEUE_UNAVAILABLE', `Cannot connect to Redis at ${redactRedisUrl(options.url)} (${reason}).`);
    }
    link.state.connected = true;
    return link;
  }

  /** Another connection with the same settings (blocking reads need their own). */
  duplicate(name: string): Promise<RedisLink> {
    return RedisLink.connect(this.options, name);
  }

  get isReady(): boolean {
    return this.connection.client.isReady;
  }

  /** Called on every (re)connection after the first. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /** Subscribes this connection to a channel, again on every new connection (messages sent while it is down are lost). */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.subscriptions.push({ channel, listener });
    const { connection } = this;
    await connection.client.subscribe(channel, listener);
    connection.subscribed = true;
  }

  /** A raw command; bulk strings come back as Buffers. */
  send(args: readonly RedisArg[]): Promise<unknown> {
    const connection = this.connection;
    const reply = connection.client.sendCommand(args, { typeMapping: BUFFERS });
    if (connection.client.isReady) this.track(connection, reply, blockMsOf(args));
    return reply;
  }

  /** Runs a script by SHA, sending its source when Redis does not know it (first use, or after a restart). */
  async eval(script: LuaScript, keys: readonly RedisArg[], args: readonly RedisArg[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.send(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return this.send(['EVAL', script.source, ...tail]);
    }
  }

  /** Waits for the commands sent (at most the liveness timeout: a silent Redis would never answer them), then closes. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watch);
    const { client } = this.connection;
    if (!client.isOpen) return;
    const force = setTimeout(() => client.destroy(), this.timeoutMs);
    try {
      await client.close().catch(() => client.destroy());
    } finally {
      clearTimeout(force);
    }
  }

  destroy(): void {
    this.closed = true;
    clearInterval(this.watch);
    const { client } = this.connection;
    if (client.isOpen) client.destroy();
  }

  private open(): Connection {
    const client = makeClient(this.options, this.name, this.state);
    const connection: Connection = {
      client,
      pending: 0,
      heardAt: performance.now(),
      blocking: 0,
      blockedUntil: 0,
      handshakeSince: undefined,
      subscribed: false,
      replaced: false,
    };
    const stale = (): boolean => connection.replaced || this.closed;
    client.on('error', (err: unknown) => {
      connection.handshakeSince = undefined;
      // Log once per failure streak; node-redis reconnects by itself.
      if (stale() || this.failing) return;
      this.options.logger.warn(
        { err: String(err), connection: this.name },
        client.isReady || this.everReady ? 'Redis connection lost; reconnecting' : 'cannot connect to Redis yet; retrying',
      );
      this.failing = true;
    });
    client.on('connect', () => {
      // node-redis 6 may finish a connection attempt begun before destroy(): close it again.
      if (stale()) client.destroy();
      else connection.handshakeSince = performance.now();
    });
    client.on('ready', () => {
      if (stale()) {
        client.destroy();
        return;
      }
      connection.handshakeSince = undefined;
      connection.heardAt = performance.now();
      if (!connection.subscribed && this.subscriptions.length > 0) void this.resubscribe(connection);
      const first = this.firstReady;
      this.firstReady = undefined;
      first?.resolve();
      const again = this.everReady;
      this.everReady = true;
      if (this.failing) this.options.logger.info({ connection: this.name }, 'Redis connection back');
      this.failing = false;
      if (again) for (const listener of this.readyListeners) listener();
    });
    client.connect().catch((err: unknown) => {
      // Rejected when node-redis gives up (a refused password at start-up) or when the client is closed.
      if (stale()) return;
      const first = this.firstReady;
      this.firstReady = undefined;
      first?.reject(err);
    });
    return connection;
  }

  private async resubscribe(connection: Connection): Promise<void> {
    try {
      for (const { channel, listener } of this.subscriptions) await connection.client.subscribe(channel, listener);
      connection.subscribed = true;
    } catch {
      // The connection failed again; its next 'ready' tries again.
    }
  }

  private track(connection: Connection, reply: Promise<unknown>, blockMs: number): void {
    const now = performance.now();
    // Silence is counted from when a command starts waiting, not from the last reply of an idle connection.
    if (connection.pending === 0) connection.heardAt = now;
    connection.pending++;
    if (blockMs > 0) {
      connection.blocking++;
      connection.blockedUntil = Math.max(connection.blockedUntil, now) + blockMs;
    }
    const settled = (): void => {
      connection.pending--;
      connection.heardAt = performance.now();
      if (blockMs > 0 && --connection.blocking === 0) connection.blockedUntil = 0;
    };
    reply.then(settled, settled);
  }

  /** How long Redis has been silent beyond what it is allowed, if it has. */
  private overdue(connection: Connection, now: number): number | undefined {
    const { client } = connection;
    if (client.isReady) {
      if (connection.pending === 0) return undefined;
      return now > Math.max(connection.heardAt, connection.blockedUntil) + this.timeoutMs ? now - connection.heardAt : undefined;
    }
    const since = connection.handshakeSince;
    return since !== undefined && now > since + this.timeoutMs ? now - since : undefined;
  }

  private check(): void {
    const connection = this.connection;
    if (this.closed) return;
    const now = performance.now();
    if (connection.client.isReady && connection.pending === 0 && now - connection.heardAt >= PING_IDLE_MS) {
      this.send(['PING']).catch(() => undefined);
      return;
    }
    if (this.overdue(connection, now) === undefined) return;
    // After a stall of this process the replies may be read but not yet handled: judge again
    // after the event loop's I/O phase.
    setImmediate(() => {
      const silentMs = this.overdue(connection, performance.now());
      if (silentMs !== undefined && connection === this.connection && !this.closed) this.replace(connection, silentMs);
    });
  }

  private replace(connection: Connection, silentMs: number): void {
    if (!this.failing)
      this.options.logger.warn({ connection: this.name, timeoutMs: this.timeoutMs }, `Redis did not answer for ${Math.round(silentMs)} ms; reconnecting`);
    this.failing = true;
    connection.replaced = true;
    // Rejects what waits on it (callers answer QUEUE_UNAVAILABLE) and fails new commands until the new one is ready.
    connection.client.destroy();
    this.connection = this.open();
  }
}

/** Is this a Redis "out of memory" refusal (maxmemory reached with noeviction)? */
export function isOutOfMemory(err: unknown): boolean {
  return String((err as Error | undefined)?.message ?? err).startsWith('OOM');
}

/** Buffer/string reply → string. */
export function str(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return '';
}

/** A flat [field, value, …] reply → map of fields (values kept as Buffers). */
export function fieldMap(flat: unknown): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  if (!Array.isArray(flat)) return map;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const value: unknown = flat[i + 1];
    map.set(str(flat[i]), Buffer.isBuffer(value) ? value : Buffer.from(str(value)));
  }
  return map;
}

/** The millisecond part of a stream entry id ("1700000000000-3"): when Redis stored it, in Redis's clock. */
export function entryTimeMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

export function unavailable(): ServeError {
  return new ServeError('QUEUE_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
}

/** A failed Redis call, as the caller should see it. */
export function redisError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  if (isOutOfMemory(err))
    return new ServeError('QUEUE_FULL', 'The queue is out of memory (Redis maxmemory reached); retry later.', { headers: { 'retry-after': '1' } });
  return unavailable();
}

/** XREAD / XREADGROUP reply (RESP2) → [id, flat fields][] of its first stream. */
export function streamEntries(reply: unknown): Array<[string, unknown]> {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const stream: unknown = reply[0];
  if (!Array.isArray(stream)) return [];
  const entries: unknown = stream[1];
  if (!Array.isArray(entries)) return [];
  return entries.map((e: unknown) => {
    const pair = e as [unknown, unknown];
    return [str(pair[0]), pair[1]];
  });
}
