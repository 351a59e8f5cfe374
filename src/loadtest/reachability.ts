// Before applying load, one request to the target: a wrong host or port, or a server that is
// not up yet, should be one clear line, not thousands of counted connection failures.

import { request } from 'undici';
import { classifyError } from './classify.js';

const HINTS: Partial<Record<string, string>> = {
  ECONNREFUSED: 'connection refused: is the server running, on that port?',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved (DNS)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  ECONNRESET: 'the connection was reset',
};

/**
 * GETs `url` and resolves if any HTTP answer comes back within `timeoutMs` (its status does
 * not matter: only that something answers HTTP there); otherwise resolves with one line saying why.
 */
export async function unreachableReason(url: string, timeoutMs = 5_000): Promise<string | undefined> {
  try {
    const response = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    return undefined;
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
    const code = classifyError(error);
    const hint = HINTS[code];
    return hint === undefined ? `${error.message} (${code})` : `${hint} (${code})`;
  }
}
