// One declaration per option: its flag, its env var, its schema. The CLI builds its
// flags from it and every process validates the merged values at start-up.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { parseOrThrow } from './validation.js';

export interface OptionSpec {
  flag: string;
  env: string;
  description: string;
  schema: z.ZodType;
  /** Left out of --help (test-only knobs); still documented. */
  hidden?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

/** The validated values of a table, one property per option. */
export type OptionValues<T extends OptionTable> = { [K in keyof T]: z.infer<T[K]['schema']> };

export function addOptions(command: Command, table: OptionTable): Command {
  for (const spec of Object.values(table)) {
    const description = `${spec.description} [env: ${spec.env}]`;
    if (spec.hidden === true) command.addOption(new Option(spec.flag, description).hideHelp());
    else command.option(spec.flag, description);
  }
  return command;
}

/** Flag beats env beats the schema's default. `flags` holds only what was given on the command line. */
export function resolveOptions<T extends OptionTable>(table: T, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): OptionValues<T> {
  const raw: Record<string, unknown> = {};
  const shape: Record<string, z.ZodType> = {};
  for (const [key, spec] of Object.entries(table)) {
    raw[key] = flags[key] ?? env[spec.env];
    shape[key] = spec.schema;
  }
  const sources = Object.values(table).map((s) => `${s.flag.split(' ')[0] ?? s.flag} / ${s.env}`);
  return parseOrThrow(z.object(shape), raw, `Configuration (${sources.length} options: flags or env vars)`) as OptionValues<T>;
}

export const intFrom = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** The option values that came from the command line itself (not commander's defaults). */
export function cliFlags(command: Command): Record<string, unknown> {
  const opts = command.opts<Record<string, unknown>>();
  return Object.fromEntries(Object.entries(opts).filter(([key]) => command.getOptionValueSource(key) === 'cli'));
}
