// The zod schemas several option tables share (src/config/options.ts holds the tables' types and the resolver).
import { z } from 'zod';

/** A schema from a parser of the text that throws a ServeError (or returns undefined) on bad input: its message becomes the issue. */
export function parsedBy<T>(parse: (text: string) => T | undefined, expected?: string) {
  return z.union([z.string(), z.number()]).transform((raw, ctx): T => {
    try {
      const value = parse(String(raw));
      if (value !== undefined) return value;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
    ctx.addIssue({ code: 'custom', message: `expected ${expected ?? 'a valid value'}, got ${JSON.stringify(String(raw))}` });
    return z.NEVER;
  });
}

/** A boolean option: a flag, or true/false/1/0 from its env var. */
export const booleanFlag = (fallback: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
    .default(fallback)
    .transform((v) => v === true || v === 'true' || v === '1');

export const intFrom = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** A number in [min, max] (an integer if asked) from its text; undefined (the caller's "expected …") if not one. */
export function numberIn(min: number, max: number, integer: boolean) {
  return (text: string): number | undefined => {
    if (text.trim() === '') return undefined;
    const n = Number(text);
    return Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n)) ? n : undefined;
  };
}

/** One or more paths: repeated flag values (`--images A B`), or comma-separated in the env var. */
export const pathList = (what: string) =>
  z.union(
    [
      z.array(z.string().min(1)).min(1),
      z
        .string()
        .min(1)
        .transform((s) => s.split(',').map((p) => p.trim())),
    ],
    { error: `expected ${what}` },
  );

/** One of a fixed list of values (compared as text), or the fallback. */
export const oneOf = <T extends string | number>(values: readonly T[], fallback: T) =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((raw, ctx): T => {
      if (raw === undefined) return fallback;
      const found = values.find((v) => String(v) === String(raw));
      if (found !== undefined) return found;
      ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}, got ${JSON.stringify(String(raw))}` });
      return z.NEVER;
    });
