import type { z } from 'zod';
import { ServeError } from '../common/errors.js';

/** Turns zod issues into one message that names the source and each bad field. */
export function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return `  - ${field}: ${issue.message}`;
  });
  return `${source} is invalid:\n${lines.join('\n')}`;
}

export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, source: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ServeError('CONFIG_INVALID', describeIssues(source, result.error));
  return result.data;
}
