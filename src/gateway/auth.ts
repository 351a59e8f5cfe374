// API keys: a file of keys (or their SHA-256 digests), checked on every route that is not
// open. Only digests are kept in memory, and a presented key is hashed and compared with
// every digest in constant time, so neither timing nor a heap dump gives a key away.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyRequest } from 'fastify';
import { ServeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { DASHBOARD_SHELL_ROUTES } from '../dashboard/contract.js';

const FLAG = '--api-keys-file / SWARMSERVE_API_KEYS_FILE';
const SHA256_LINE = /^sha256:([0-9a-fA-F]{64})$/;

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** Parses a key file: one key per line, or `sha256:<64 hex>`; blank lines and `#` comments skipped. */
export function parseKeyFile(text: string, file: string): Buffer[] {
  const digests: Buffer[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('sha256:')) {
      const hex = SHA256_LINE.exec(line)?.[1];
      // The line number, never the line: it may be a key someone mistyped.
      if (hex === undefined) throw new ServeError('CONFIG_INVALID', `${FLAG}: ${file} line ${index + 1}: a "sha256:" line needs 64 hex digits`);
      digests.push(Buffer.from(hex, 'hex'));
    } else {
      digests.push(digest(line));
    }
  });
  if (digests.length === 0) throw new ServeError('CONFIG_INVALID', `${FLAG}: ${file} holds no key`);
  return digests;
}

async function readKeyFile(file: string): Promise<Buffer[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ServeError('CONFIG_INVALID', `${FLAG}: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseKeyFile(text, file);
}

export class ApiKeys {
  private constructor(
    readonly file: string,
    private digests: Buffer[],
  ) {}

  /** Reads the file; throws CONFIG_INVALID when it is missing, unreadable, empty or has a bad line. */
  static async load(file: string): Promise<ApiKeys> {
    return new ApiKeys(file, await readKeyFile(file));
  }

  get count(): number {
    return this.digests.length;
  }

  /** Re-reads the file (SIGHUP). A bad file leaves the keys as they were. */
  async reload(logger: Logger): Promise<void> {
    try {
      this.digests = await readKeyFile(this.file);
      logger.info({ keys: this.digests.length, file: this.file }, `API keys reloaded: ${this.digests.length} key(s)`);
    } catch (err) {
      logger.error({ file: this.file, err: (err as Error).message }, `API keys not reloaded (keeping the ${this.digests.length} in use)`);
    }
  }

  /** Whether `key` is one of the keys. Compares against every digest, so timing does not tell which or how many matched. */
  accepts(key: string): boolean {
    const presented = digest(key);
    let found = false;
    for (const d of this.digests) found = timingSafeEqual(presented, d) || found;
    return found;
  }
}

/** Whether a route is open: listed, or under a listed path ("/" opens only itself). */
export function isOpenPath(route: string, openPaths: readonly string[]): boolean {
  return openPaths.some((p) => route === p || (p !== '/' && route.startsWith(p.endsWith('/') ? p : `${p}/`)));
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/**
 * Whether a request may go on: every route, present and future (e.g. /v2/…/infer), that is
 * not in `openPaths` needs a key — a route opts out by being listed, not in by remembering
 * to. The matched route decides, never the raw URL: an unmatched path (a 404) is protected
 * too, so `PUT /metrics/x` gets no further than `PUT /predict` without a key, and a client
 * without a key learns nothing of which routes exist. Returns the refusal, or undefined.
 */
export function authorize(request: FastifyRequest, keys: ApiKeys, openPaths: readonly string[]): ServeError | undefined {
  const route = request.routeOptions.url;
  if (route !== undefined && (isOpenPath(route, openPaths) || DASHBOARD_SHELL_ROUTES.includes(route))) return undefined;
  const token = bearerToken(request);
  if (token !== undefined && keys.accepts(token)) return undefined;
  const detail = token === undefined ? 'No API key: send "Authorization: Bearer <key>".' : 'The API key is not valid.';
  return new ServeError('UNAUTHORIZED', detail, { headers: { 'www-authenticate': token === undefined ? 'Bearer' : 'Bearer error="invalid_token"' } });
}

/** The keys of `--api-keys-file`, or undefined; logs once which it is (never a key). */
export async function loadApiKeys(config: { apiKeysFile?: string | undefined; openPaths: readonly string[] }, logger: Logger): Promise<ApiKeys | undefined> {
  if (config.apiKeysFile === undefined) {
    logger.warn('no --api-keys-file: the API is open, any client may call /predict');
    return undefined;
  }
  const keys = await ApiKeys.load(config.apiKeysFile);
  logger.info(
    { keys: keys.count, file: keys.file, openPaths: config.openPaths },
    `API keys on: ${keys.count} key(s); other routes need "Authorization: Bearer <key>"`,
  );
  return keys;
}
