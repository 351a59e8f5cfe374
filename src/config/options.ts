// One declaration per option: its flag, its env var, its schema. The CLI builds its
// flags from it and every process validates the merged values at start-up. This module
// loads no zod (a schema is anything with zod's safeParse): `health`, the container
// HEALTHCHECK, runs every few seconds and keeps its start-up small (see main.ts); the zod
// helpers are in option-schemas.ts.
import { Option, type Command } from 'commander';
import { ServeError } from '../common/errors.js';

/** What the resolver needs of a schema: zod's `safeParse`. */
export interface OptionSchema<T = unknown> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ message: string }> } };
}

/** The value type a schema gives. */
export type SchemaOutput<S extends OptionSchema> = Extract<ReturnType<S['safeParse']>, { success: true }>['data'];

export interface OptionSpec {
  flag: string;
  env: string;
  description: string;
  schema: OptionSchema;
  /** Left out of --help (test-only knobs); still documented. */
  hidden?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

/** The validated values of a table, one property per option. */
export type OptionValues<T extends OptionTable> = { [K in keyof T]: SchemaOutput<T[K]['schema']> };

export function addOptions(command: Command, table: OptionTable): Command {
  for (const [key, spec] of Object.entries(table)) {
    const option = new Option(spec.flag, `${spec.description} [env: ${spec.env}]`);
    // The resolver finds a flag's value under the table's key: a key that is not commander's
    // name for the flag (`stabilizationMs` for --stabilization) would drop the flag silently.
    if (option.attributeName() !== key) throw new Error(`option table key "${key}" must be "${option.attributeName()}", commander's name for ${spec.flag}`);
    command.addOption(spec.hidden === true ? option.hideHelp() : option);
  }
  return command;
}

/** `--users` for `-u, --users <n>`: the long flag, as the messages name it. */
export function flagName(spec: OptionSpec): string {
  return spec.flag.split(/ [<[]/)[0]!.split(', ').at(-1)!;
}

/**
 * The one resolver of every command's options: flag beats env var beats the schema's default.
 * `flags` holds only what was given on the command line. Every value an option does not take
 * is named (by its flag, or its env var when it came from there) in one error, on one line:
 * USAGE (exit 2) when the command line holds one of them or a required option is missing,
 * else CONFIG_INVALID (exit 78: the environment is the configuration).
 */
export function resolveOptions<T extends OptionTable>(table: T, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): OptionValues<T> {
  const problems: string[] = [];
  let usage = false;
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const fromFlag = flags[key] !== undefined;
    const raw = fromFlag ? flags[key] : env[spec.env];
    const result = spec.schema.safeParse(raw);
    if (result.success) {
      values[key] = result.data;
      continue;
    }
    usage ||= fromFlag || raw === undefined;
    const name = fromFlag ? flagName(spec) : raw === undefined ? `${flagName(spec)} / ${spec.env}` : spec.env;
    problems.push(`${name}: ${result.error.issues.map((i) => i.message).join(', ')}`);
  }
  if (problems.length > 0) throw new ServeError(usage ? 'USAGE' : 'CONFIG_INVALID', problems.join('; '));
  return values as OptionValues<T>;
}

/** Which options were given at all (flag or env var): for checks of options that do not go together. */
export function givenOptions(table: OptionTable, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Set<string> {
  return new Set(Object.entries(table).flatMap(([key, spec]) => (flags[key] !== undefined || env[spec.env] !== undefined ? [key] : [])));
}

/**
 * A schema without zod, for the few options of a command that must start fast (`health`):
 * `parse` gets the raw value (undefined when not given) and returns the value or throws.
 */
export function plainSchema<T>(parse: (raw: unknown) => T): OptionSchema<T> {
  return {
    safeParse(value) {
      try {
        return { success: true, data: parse(value) };
      } catch (err) {
        return { success: false, error: { issues: [{ message: err instanceof Error ? err.message : String(err) }] } };
      }
    },
  };
}

/** A boolean option's value: the flag, or true/false/1/0 from its env var (booleanFlag in option-schemas.ts, without zod). */
export function switchValue(fallback: boolean) {
  return plainSchema((raw): boolean => {
    if (raw === undefined) return fallback;
    if (raw === true || raw === 'true' || raw === '1') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new Error(`expected true, false, 1 or 0, got ${JSON.stringify(raw)}`);
  });
}

/** A non-empty text option, or undefined when not given. */
export const optionalText = plainSchema((raw): string | undefined => {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '') throw new Error('expected a non-empty value');
  return raw;
});

/** The option values that came from the command line itself (not commander's defaults). */
export function cliFlags(command: Command): Record<string, unknown> {
  const opts = command.opts<Record<string, unknown>>();
  return Object.fromEntries(Object.entries(opts).filter(([key]) => command.getOptionValueSource(key) === 'cli'));
}
