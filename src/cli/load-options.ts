// The options of `swarmserve load`: one declaration each (flag, env var, schema), as every
// command has; resolved into a checked config. A bad value is one line and exit 2, naming the
// flag (or env var) and what was expected — the way Locust users expect a CLI to fail.

import { z } from 'zod';
import type { OptionTable } from '../config/options.js';
import { MAX_IN_FLIGHT, MAX_RATE, MAX_USERS } from '../loadtest/run-options.js';
import { CliError, EXIT_USAGE } from './cli-error.js';
import { samplePhotoPath } from './predict-command.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as Locust's `-t` takes it — `20s`, `2m`, `1h30m`, `90` (seconds) — plus `500ms`; undefined if not one. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const parts = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(s);
  if (s === '' || parts === null) return undefined;
  const [, h, m, sec, ms] = parts;
  return Number(h ?? 0) * UNIT_MS.h! + Number(m ?? 0) * UNIT_MS.m! + Number(sec ?? 0) * UNIT_MS.s! + Number(ms ?? 0);
}

/** The think time in seconds: `0.5-5` (uniform between), `2` (always 2), `0` (none); undefined if not one. */
export function parseWait(text: string): { minMs: number; maxMs: number } | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?$/.exec(text);
  if (m === null) return undefined;
  const min = Number(m[1]) * 1000;
  const max = m[2] === undefined ? min : Number(m[2]) * 1000;
  return max >= min ? { minMs: min, maxMs: max } : undefined;
}

/** A schema from a parser of the text: `expected` says what was wanted, for the error line. */
function parsed<T>(expected: string, parse: (text: string) => T | undefined) {
  return z.union([z.string(), z.number()]).transform((raw, ctx) => {
    const value = parse(String(raw));
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}, got ${JSON.stringify(String(raw))}` });
      return z.NEVER;
    }
    return value;
  });
}

function numberIn(min: number, max: number, integer: boolean) {
  return (text: string): number | undefined => {
    if (text.trim() === '') return undefined;
    const n = Number(text);
    return Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n)) ? n : undefined;
  };
}

const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');

export const LOAD_OPTIONS = {
  path: {
    flag: '--path <path>',
    env: 'SWARMSERVE_LOAD_PATH',
    description: 'path POSTed to, under BASE_URL (default /predict)',
    schema: parsed('a path starting with /', (s) => (s.startsWith('/') ? s : undefined)).optional(),
  },
  users: {
    flag: '-u, --users <n>',
    env: 'SWARMSERVE_LOAD_USERS',
    description: `virtual users, 1…${MAX_USERS} (default 1)`,
    schema: parsed(`an integer from 1 to ${MAX_USERS}`, numberIn(1, MAX_USERS, true)).optional(),
  },
  spawnRate: {
    flag: '-r, --spawn-rate <n>',
    env: 'SWARMSERVE_LOAD_SPAWN_RATE',
    description: 'users started per second (default 1)',
    schema: parsed('a number > 0 (users per second)', numberIn(Number.MIN_VALUE, 1e6, false)).optional(),
  },
  wait: {
    flag: '-w, --wait <seconds>',
    env: 'SWARMSERVE_LOAD_WAIT',
    description: "each user's think time after an answer: A-B seconds, uniform (e.g. 0.5-5), or one number; 0 = none (default)",
    schema: parsed('seconds as A-B with A <= B (e.g. 0.5-5), or one number (e.g. 0)', parseWait).optional(),
  },
  duration: {
    flag: '-t, --duration <time>',
    env: 'SWARMSERVE_LOAD_DURATION',
    description: 'stop after this long, e.g. 20s, 2m, 1h30m (a bare number is seconds)',
    schema: parsed('a duration such as 20s, 2m, 1h30m or 90', (s) => {
      const ms = parseDuration(s);
      return ms !== undefined && ms > 0 ? ms : undefined;
    }).optional(),
  },
  requests: {
    flag: '-n, --requests <n>',
    env: 'SWARMSERVE_LOAD_REQUESTS',
    description: 'stop after this many requests (with --duration: whichever comes first)',
    schema: parsed('an integer >= 1', numberIn(1, Number.MAX_SAFE_INTEGER, true)).optional(),
  },
  rate: {
    flag: '--rate <r>',
    env: 'SWARMSERVE_LOAD_RATE',
    description: 'open loop: requests per second at fixed intervals, instead of users',
    schema: parsed(`a number > 0 and <= ${MAX_RATE} (requests per second)`, numberIn(Number.MIN_VALUE, MAX_RATE, false)).optional(),
  },
  maxInFlight: {
    flag: '--max-in-flight <n>',
    env: 'SWARMSERVE_LOAD_MAX_IN_FLIGHT',
    description: 'open loop: most requests outstanding at once (default 1000)',
    schema: parsed(`an integer from 1 to ${MAX_IN_FLIGHT}`, numberIn(1, MAX_IN_FLIGHT, true)).optional(),
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
    schema: parsed('a model name', (s) => (s.trim() === '' ? undefined : s)).optional(),
  },
  version: {
    flag: '--version <v>',
    env: 'SWARMSERVE_LOAD_VERSION',
    description: "model version to ask for (?version=); default: the server's",
    schema: parsed('a model version', (s) => (s.trim() === '' ? undefined : s)).optional(),
  },
  timeout: {
    flag: '--timeout <time>',
    env: 'SWARMSERVE_LOAD_TIMEOUT',
    description: 'a request with no complete answer by then fails as "timeout" (default 30s)',
    schema: parsed('a duration such as 30s or 500ms', (s) => {
      const ms = parseDuration(s);
      return ms !== undefined && ms > 0 ? ms : undefined;
    }).default(30_000),
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
    schema: flag.default(false),
  },
  maxFailureRatio: {
    flag: '--max-failure-ratio <r>',
    env: 'SWARMSERVE_LOAD_MAX_FAILURE_RATIO',
    description: 'exit 1 when failures / requests is above this (default 0: any failure; 1: never)',
    schema: parsed('a number from 0 to 1', numberIn(0, 1, false)).default(0),
  },
} satisfies OptionTable;

type Key = keyof typeof LOAD_OPTIONS;
type Values = { [K in Key]: z.infer<(typeof LOAD_OPTIONS)[K]['schema']> };

export interface LoadCommandConfig {
  /** The URL every request goes to: BASE_URL + --path + ?model=&version=. */
  url: string;
  /** BASE_URL as given, checked for reachability before the load. */
  baseUrl: string;
  rate: number | undefined;
  users: number;
  spawnRate: number;
  wait: { minMs: number; maxMs: number };
  maxInFlight: number | undefined;
  durationMs: number | undefined;
  maxRequests: number | undefined;
  image: string;
  timeoutMs: number;
  csv: string | undefined;
  json: boolean;
  maxFailureRatio: number;
}

function usage(message: string): CliError {
  return new CliError(`load: ${message} (see swarmserve load --help)`, EXIT_USAGE);
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

/**
 * Flag beats env var beats default. `flags` holds what the command line gave. Throws a
 * CliError (exit 2) naming every bad option, on one line.
 */
export function resolveLoadConfig(baseUrl: string, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): LoadCommandConfig {
  const problems: string[] = [];
  const given = new Set<Key>();
  const values = {} as Values;
  for (const [key, spec] of Object.entries(LOAD_OPTIONS) as Array<[Key, (typeof LOAD_OPTIONS)[Key]]>) {
    const fromFlag = flags[key];
    const raw = fromFlag ?? env[spec.env];
    if (raw !== undefined) given.add(key);
    const result = spec.schema.safeParse(raw);
    const name = fromFlag !== undefined ? spec.flag.split(' <')[0]!.split(', ').pop()! : spec.env;
    if (result.success) (values as Record<Key, unknown>)[key] = result.data;
    else problems.push(`${name}: ${result.error.issues.map((i) => i.message).join(', ')}`);
  }
  if (problems.length > 0) throw usage(problems.join('; '));

  const { rate } = values;
  if (rate !== undefined) {
    const clash = (['users', 'spawnRate', 'wait'] as const).filter((k) => given.has(k)).map((k) => LOAD_OPTIONS[k].flag.split(' <')[0]!.split(', ').pop()!);
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
