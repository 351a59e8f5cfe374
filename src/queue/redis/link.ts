// One Redis connection as the transport uses it: raw commands with binary-safe replies,
// Lua scripts by SHA (reloaded after a restart), TCP keepalive, fast failure while
// disconnected (no offline queue: a gateway answers 503 at once instead of waiting), and
// reconnection by itself.
import { createHash } from 'node:crypto';
import { RESP_TYPES, createClient } from 'redis';
import { ServeError } from '../../common/errors.js';
import { redactRedisUrl, type RedisConnectionOptions } from './options.js';

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

export class RedisLink {
  private failing = false;
  private everReady = false;
  private readonly readyListeners: Array<() => void> = [];

  private constructor(
    readonly client: Client,
    private readonly options: RedisConnectionOptions,
    readonly name: string,
  ) {
    client.on('error', (err: unknown) => {
      // Log once per failure streak; node-redis reconnects by itself.
      if (!this.failing)
        options.logger.warn(
          { err: String(err), connection: name },
          this.client.isReady || this.everReady ? 'Redis connection lost; reconnecting' : 'cannot connect to Redis yet; retrying',
        );
      this.failing = true;
    });
    client.on('ready', () => {
      this.everReady = true;
      if (this.failing) options.logger.info({ connection: name }, 'Redis connection back');
      this.failing = false;
      for (const listener of this.readyListeners) listener();
    });
  }

  /** Connects, waiting (and retrying) until Redis answers. */
  static async connect(options: RedisConnectionOptions, name: string): Promise<RedisLink> {
    const state = { connected: false };
    const link = new RedisLink(makeClient(options, name, state), options, name);
    try {
      await link.client.connect();
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
    state.connected = true;
    return link;
  }

  /** Another connection with the same settings (blocking reads need their own). */
  duplicate(name: string): Promise<RedisLink> {
    return RedisLink.connect(this.options, name);
  }

  get isReady(): boolean {
    return this.client.isReady;
  }

  /** Called on every (re)connection after the first. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /** A raw command; bulk strings come back as Buffers. */
  send(args: readonly RedisArg[]): Promise<unknown> {
    return this.client.sendCommand(args, { typeMapping: BUFFERS });
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

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }

  destroy(): void {
    if (this.client.isOpen) this.client.destroy();
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
