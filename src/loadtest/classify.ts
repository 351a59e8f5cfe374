// Decides whether an answer is a success and, if not, names its kind of failure: the keys of
// `LoadSummary.failuresByKind` (see contract.ts).

import { RequestTimeoutError } from './closed-loop.js';

const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The `error.code` of a swarmserve error body (`{"success":false,"error":{"code":…}}`), if it is one. */
function errorCode(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { error } = json as { error?: unknown };
  if (typeof error !== 'object' || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && ERROR_CODE.test(code) ? code : undefined;
}

/**
 * The failure kind of a complete answer, or undefined for a success. `body` is what was kept of
 * it (undefined when not read). With `checkSuccess` a success is HTTP 200 + JSON `success: true`;
 * without, any 2xx.
 */
export function classifyAnswer(status: number, body: Buffer | undefined, checkSuccess: boolean): string | undefined {
  if (!checkSuccess) {
    if (status >= 200 && status < 300) return undefined;
  } else if (status === 200) {
    const json = body === undefined ? undefined : parseJson(body);
    if (typeof json !== 'object' || json === null) return 'not JSON';
    return (json as { success?: unknown }).success === true ? undefined : 'success:false';
  }
  const code = body === undefined ? undefined : errorCode(parseJson(body));
  return code === undefined ? `HTTP ${status}` : `HTTP ${status} ${code}`;
}

/** The failure kind of a request that got no complete answer. */
export function classifyError(err: Error): string {
  if (err instanceof RequestTimeoutError) return 'timeout';
  const { code } = err as Error & { code?: unknown };
  return typeof code === 'string' && code !== '' ? code : err.name || 'Error';
}
