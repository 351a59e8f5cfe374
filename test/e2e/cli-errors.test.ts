// One bad invocation of every command, run as users run the CLI: one coded line on stderr,
// no stack trace, and the exit code of the convention in docs/errors.md (2 usage, 78
// configuration, 1 failure).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt } from '../helpers/process.js';

interface Case {
  args: string[];
  env?: Record<string, string>;
  code: string;
  exit: number;
  message?: RegExp;
}

const CASES: Case[] = [
  { args: ['nope'], code: 'USAGE', exit: 2, message: /unknown command 'nope'/ },
  { args: ['serve', '--nope'], code: 'USAGE', exit: 2, message: /unknown option '--nope'/ },
  { args: ['serve', '--port', 'eighty'], code: 'USAGE', exit: 2, message: /--port: / },
  { args: ['serve'], env: { SWARMSERVE_PORT: 'eighty' }, code: 'CONFIG_INVALID', exit: 78, message: /SWARMSERVE_PORT: / },
  { args: ['gateway', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['worker', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['models'], code: 'USAGE', exit: 2, message: /swarmserve models needs a command/ },
  { args: ['models', 'prepare', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['models', 'import-tfjs', '/nonexistent', 'out'], code: 'IMPORT_FAILED', exit: 1, message: /\/nonexistent: not a TF\.js layers model directory/ },
  { args: ['models', 'import-tfjs', '/nonexistent'], code: 'USAGE', exit: 2, message: /missing required argument 'out'/ },
  { args: ['models', 'build', 'vgg16'], code: 'USAGE', exit: 2, message: /unknown architecture "vgg16"/ },
  { args: ['models', 'build', 'resnet50', '--seed', 'x'], code: 'USAGE', exit: 2, message: /--seed: expected an integer, got "x"/ },
  {
    args: ['models', 'quantize', 'moderation', '--method', 'entropy', '--calibration', '/tmp'],
    code: 'USAGE',
    exit: 2,
    message: /--method: must be one of minmax, percentile, mse/,
  },
  {
    args: ['models', 'quantize', 'moderation'],
    code: 'USAGE',
    exit: 2,
    message: /--calibration \/ SWARMSERVE_QUANTIZE_CALIBRATION: expected one or more directories/,
  },
  {
    args: ['models', 'evaluate', 'moderation', '--versions', '1,1', '--images', '/tmp'],
    code: 'USAGE',
    exit: 2,
    message: /--versions: expected two different version numbers/,
  },
  { args: ['models', 'list', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['models', 'list', '--models', '/nonexistent'], code: 'CONFIG_INVALID', exit: 78, message: /Model repository \/nonexistent cannot be read/ },
  { args: ['predict', '--nope'], code: 'USAGE', exit: 2, message: /unknown option '--nope' \(see swarmserve predict --help\)/ },
  { args: ['predict', '/nonexistent.jpg'], code: 'USAGE', exit: 2, message: /cannot read \/nonexistent\.jpg \(ENOENT\)/ },
  { args: ['plan', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['health', 'http://127.0.0.1:1/', '--timeout-ms', 'soon'], code: 'USAGE', exit: 2, message: /--timeout-ms: expected milliseconds/ },
  { args: ['load', 'http://127.0.0.1:1', '--nope'], code: 'USAGE', exit: 2 },
  { args: ['experiment', '--local', '--step', 'ten'], code: 'USAGE', exit: 2, message: /--step: expected a duration such as 20s/ },
];

async function run(c: Case): Promise<{ exit: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...c.args], { env: { ...process.env, ...c.env }, timeout: 60_000 });
    return { exit: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { exit: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(() => ensureBuilt());

describe('every CLI command: a bad invocation is one coded line and the documented exit code', () => {
  it.each(CASES)('swarmserve $args.0 … → $code, exit $exit', async (c) => {
    const { exit, stderr } = await run(c);
    expect(stderr, stderr).not.toMatch(/^ {4}at /m);
    // The one coded line (after the subcommands' list, for a command that needs one).
    const coded = stderr.split('\n').find((line) => line.startsWith('swarmserve: ')) ?? '';
    expect(coded, stderr).toMatch(new RegExp(`^swarmserve: ${c.code}: `));
    if (c.message !== undefined) expect(coded).toMatch(c.message);
    expect(exit, `${c.args.join(' ')}\n${stderr}`).toBe(c.exit);
  });
});

describe('health, the container HEALTHCHECK', () => {
  it('loads no zod: its options use plain schemas (it runs every few seconds in every container)', async () => {
    const hook = `data:text/javascript,${encodeURIComponent("export async function resolve(s, c, n) { if (s.includes('zod')) process.stderr.write('LOADS ' + s + '\\n'); return n(s, c); }")}`;
    const { stderr } = await promisify(execFile)(process.execPath, [
      '--no-warnings',
      '--experimental-loader',
      hook,
      CLI,
      'health',
      '--timeout-ms',
      '500',
      'http://127.0.0.1:1/',
    ]).catch((err: { stderr: string }) => err);
    expect(stderr).toMatch(/ECONNREFUSED|connect/);
    expect(stderr).not.toContain('LOADS');
  });
});
