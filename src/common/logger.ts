import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'swarmserve'): Logger {
  return pino({ name, level });
}
