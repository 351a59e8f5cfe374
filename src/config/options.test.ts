import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { intFrom } from './option-schemas.js';
import { Command } from 'commander';
import { addOptions, flagName, resolveOptions, switchValue, type OptionTable } from './options.js';

const TABLE = {
  port: { flag: '-p, --port <port>', env: 'T_PORT', description: 'port', schema: intFrom(0, 65535, 8080) },
  url: { flag: '--url <url>', env: 'T_URL', description: 'required', schema: z.string().min(1) },
  json: { flag: '--json', env: 'T_JSON', description: 'a switch', schema: switchValue(false) },
} satisfies OptionTable;

function failure(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ServeError {
  try {
    resolveOptions(TABLE, flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ServeError);
    return err as ServeError;
  }
  throw new Error('expected the options to be refused');
}

describe('resolveOptions, the one resolver of every command', () => {
  it('flag beats env var beats the default', () => {
    expect(resolveOptions(TABLE, { url: 'u' }, {})).toEqual({ port: 8080, url: 'u', json: false });
    expect(resolveOptions(TABLE, {}, { T_URL: 'e', T_PORT: '81', T_JSON: '1' })).toEqual({ port: 81, url: 'e', json: true });
    expect(resolveOptions(TABLE, { port: '82', url: 'f' }, { T_URL: 'e', T_PORT: '81' })).toMatchObject({ port: 82, url: 'f' });
  });

  it('a bad flag value is USAGE (exit 2), a bad env var CONFIG_INVALID (exit 78), a missing required option USAGE; all named on one line', () => {
    const flag = failure({ port: 'eighty', url: 'u' }, {});
    expect(flag.code).toBe('USAGE');
    expect(flag.message).toMatch(/^--port: /);
    const env = failure({ url: 'u' }, { T_PORT: 'eighty' });
    expect(env.code).toBe('CONFIG_INVALID');
    expect(env.message).toMatch(/^T_PORT: /);
    const missing = failure({}, {});
    expect(missing.code).toBe('USAGE');
    expect(missing.message).toMatch(/^--url \/ T_URL: /);
    const both = failure({ port: 'x' }, { T_JSON: 'maybe' });
    expect(both.code).toBe('USAGE');
    expect(both.message).not.toContain('\n');
    expect(both.message.split('; ').map((p) => p.split(':')[0])).toEqual(['--port', '--url / T_URL', 'T_JSON']);
  });

  it('names an option by its long flag', () => {
    expect(flagName(TABLE.port)).toBe('--port');
    expect(flagName(TABLE.json)).toBe('--json');
    expect(flagName({ ...TABLE.json, flag: '--no-restore' })).toBe('--no-restore');
  });
});

describe('addOptions', () => {
  it('refuses a table key that is not commander’s name for its flag (the flag would be dropped silently)', () => {
    const spec = { flag: '--stabilization <duration>', env: 'X_STABILIZATION', description: 'd', schema: z.string().optional() };
    expect(() => addOptions(new Command('x'), { stabilizationMs: spec })).toThrow(/must be "stabilization"/);
    expect(() => addOptions(new Command('x'), { stabilization: spec })).not.toThrow();
  });
});
