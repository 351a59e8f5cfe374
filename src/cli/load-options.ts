// The options of `swarmserve load`: one declaration each (flag, env var, schema), as every
// command has, by the one resolver; then checked together. A bad value is one line naming the
// flag (exit 2) or env var (exit 78) and what was expected — the way Locust users expect a CLI to fail.

import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { parseDuration, parseWaitRange, type WaitRange } from '../config/durations.js';
import { booleanFlag, numberIn, parsedBy } from '../config/option-schemas.js';
import { flagName, givenOptions, resolveOptions, type OptionTable } from '../config/options.js';
import { MAX_IN_FLIGHT, MAX_RATE, MAX_USERS } from '../loadtest/run-options.js';
import { samplePhotoPath } from './predict-command.js';

/** A duration > 0. */
function positiveDuration(text: string): number | undefined {
  const ms = parseDuration(text);
  return ms > 0 ? ms : undefined;
}

export const LOAD_OPTIONS = {
  path: {
    flag: '--path <path>',
    env: 'SWARMSERVE_LOAD_PATH',
    description: 'path POSTed to, under BASE_URL (default /predict)',
    schema: parsedBy((s) => (s.startsWith('/') ? s : undefined), 'a path starting with /').optional(),
  },
  users: {
    flag: '-u, --users <n>',
    env: 'SWARMSERVE_LOAD_USERS',
    description: `virtual users, 1…${MAX_USERS} (default 1)`,
    schema: parsedBy(numberIn(1, MAX_USERS, true), `an integer from 1 to ${MAX_USERS}`).optional(),
  },
  spawnRate: {
    flag: '-r, --spawn-rate <n>',
    env: 'SWARMSERVE_LOAD_SPAWN_RATE',
    description: 'users started per second (default 1)',
    schema: parsedBy(numberIn(Number.MIN_VALUE, 1e6, false), 'a number > 0 (users per second)').optional(),
  },
  wait: {
    flag: '-w, --wait <seconds>',
    env: 'SWARMSERVE_LOAD_WAIT',
    description: "each user's think time after an answer: A-B seconds, uniform (e.g. 0.5-5, or 500ms-2s), or one duration; 0 = none (default)",
    schema: parsedBy(parseWaitRange).optional(),
  },
  duration: {
    flag: '-t, --duration <time>',
    env: 'SWARMSERVE_LOAD_DURATION',
    description: 'stop after this long, e.g. 20s, 2m, 1h30m (a bare number is seconds)',
    schema: parsedBy(positiveDuration, 'a duration > 0').optional(),
  },
  requests: {
    flag: '-n, --requests <n>',
    env: 'SWARMSERVE_LOAD_REQUESTS',
    description: 'stop after this many requests (with --duration: whichever comes first)',
    schema: parsedBy(numberIn(1, Number.MAX_SAFE_INTEGER, true), 'an integer >= 1').optional(),
  },
  rate: {
    flag: '--rate <r>',
    env: 'SWARMSERVE_LOAD_RATE',
    description: 'open loop: requests per second at fixed intervals, instead of users',
    schema: parsedBy(numberIn(Number.MIN_VALUE, MAX_RATE, false), `a number > 0 and <= ${MAX_RATE} (requests per second)`).optional(),
  },
  maxInFlight: {
    flag: '--max-in-flight <n>',
    env: 'SWARMSERVE_LOAD_MAX_IN_FLIGHT',
    description: 'open loop: most requests outstanding at once (default 1000)',
    schema: parsedBy(numberIn(1, MAX_IN_FLIGHT, true), `an integer from 1 to ${MAX_IN_FLIGHT}`).optional(),
  },
  image: {
    flag: '--image <file>',
    env: 'SWARMSERVE_LOAD_IMAGE',
    description: 'the photo to send (default: the bundled sample photo)',
    schema: z.string().min(1).default(samplePhotoPath()),
  },
  model: {
    flag: '--model <name>',
    env: 'SWARMSERVE_LOAD_MODEL',
    description: "model to ask for (?model=); default: the server's",
    schema: parsedBy((s) => (s.trim() === '' ? undefined : s), 'a model name').optional(),
  },
  version: {
    flag: '--version <v>',
    env: 'SWARMSERVE_LOAD_VERSION',
    description: "model version to ask for (?version=); default: the server's",
    schema: parsedBy((s) => (s.trim() === '' ? undefined : s), 'a model version').optional(),
  },
  timeout: {
    flag: '--timeout <time>',
    env: 'SWARMSERVE_LOAD_TIMEOUT',
    description: 'a request with no complete answer by then fails as "timeout" (default 30s)',
    schema: parsedBy(positiveDuration, 'a duration > 0').default(30_000),
  },
  csv: {
    flag: '--csv <prefix>',
    env: 'SWARMSERVE_LOAD_CSV',
    description: "write PREFIX_stats.csv, PREFIX_stats_history.csv and PREFIX_failures.csv, with Locust's columns",
    schema: z.string().min(1).optional(),
  },
  json: {
    flag: '--json',
    env: 'SWARMSERVE_LOAD_JSON',
    description: 'print the summary as one JSON object on stdout (times in ms) instead of the table',
    schema: booleanFlag(false),
  },
  maxFailureRatio: {
    flag: '--max-failure-ratio <r>',
    env: 'SWARMSERVE_LOAD_MAX_FAILURE_RATIO',
    description: 'exit 1 when failures / requests is above this (default 0: any failure; 1: never)',
    schema: parsedBy(numberIn(0, 1, false), 'a number from 0 to 1').default(0),
  },
} satisfies OptionTable;

export interface LoadCommandConfig {
  /** The URL every request goes to: BASE_URL + --path + ?model=&version=. */
  url: string;
  /** BASE_URL as given, checked for reachability before the load. */
  baseUrl: string;
  rate: number | undefined;
  users: number;
  spawnRate: number;
  wait: WaitRange;
  maxInFlight: number | undefined;
  durationMs: number | undefined;
  maxRequests: number | undefined;
  image: string;
  timeoutMs: number;
  csv: string | undefined;
  json: boolean;
  maxFailureRatio: number;
}

function usage(message: string, code: 'USAGE' | 'CONFIG_INVALID' = 'USAGE'): ServeError {
  return new ServeError(code, `load: ${message} (see swarmserve load --help)`);
}

/** BASE_URL + path (a path prefix in BASE_URL is kept) + the model and version query parameters. */
export function targetUrl(baseUrl: string, path: string, model: string | undefined, version: string | undefined): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw usage(`BASE_URL must be an http(s) URL such as http://localhost:8080, got ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`BASE_URL must be http: or https:, got ${JSON.stringify(baseUrl)}`);
  if (url.username !== '' || url.password !== '') throw usage('BASE_URL must not carry credentials');
  const [pathname = '', query] = path.split('?', 2);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${pathname}`;
  url.search = query ?? '';
  url.hash = '';
  if (model !== undefined) url.searchParams.set('model', model);
  if (version !== undefined) url.searchParams.set('version', version);
  return url.toString();
}

/** The options, resolved as every command's are, then checked together: a USAGE error (exit 2), or CONFIG_INVALID (78) for a bad env var. */
export function loadCommandConfig(baseUrl: string, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): LoadCommandConfig {
  let values;
  try {
    values = resolveOptions(LOAD_OPTIONS, flags, env);
  } catch (err) {
    throw err instanceof ServeError && (err.code === 'USAGE' || err.code === 'CONFIG_INVALID') ? usage(err.message, err.code) : err;
  }
  const given = givenOptions(LOAD_OPTIONS, flags, env);

  const { rate } = values;
  if (rate !== undefined) {
    const clash = (['users', 'spawnRate', 'wait'] as const).filter((k) => given.has(k)).map((k) => flagName(LOAD_OPTIONS[k]));
    if (clash.length > 0) throw usage(`--rate (open loop) cannot be combined with ${clash.join(', ')} (users mode)`);
  } else if (given.has('maxInFlight')) {
    throw usage('--max-in-flight is for the open loop: it needs --rate');
  }

  return {
    url: targetUrl(baseUrl, values.path ?? '/predict', values.model, values.version),
    baseUrl,
    rate,
    users: values.users ?? 1,
    spawnRate: values.spawnRate ?? 1,
    wait: values.wait ?? { minMs: 0, maxMs: 0 },
    maxInFlight: values.maxInFlight,
    durationMs: values.duration,
    maxRequests: values.requests,
    image: values.image,
    timeoutMs: values.timeout,
    csv: values.csv,
    json: values.json,
    maxFailureRatio: values.maxFailureRatio,
  };
}
