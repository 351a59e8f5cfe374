import { pino, type Logger } from 'pino';

export type { Logger };

const DIAGNOSIS_LEVELS = new Set(['debug', 'trace']);

/**
 * JSON lines on stdout. At debug and trace (per-job lines, for diagnosis) every line is
 * written synchronously, so a process that is killed (kill -9, the OOM killer) loses none;
 * above that, pino's asynchronous writes, which cost the serving path less.
 */
export function createLogger(level: string, name = 'swarmserve'): Logger {
  const sync = DIAGNOSIS_LEVELS.has(level);
  // Request logging is off, but an error logged with its request must not carry a key.
  const redact = { paths: ['req.headers.authorization', 'headers.authorization', 'authorization'], censor: '[redacted]' };
  return pino({ name, level, redact }, pino.destination({ dest: 1, sync }));
}
