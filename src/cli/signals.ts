// What every long-running command does on SIGTERM (docker stop, a Swarm update) or SIGINT:
// drain, then exit 0; a failed drain exits 1. A second signal while draining is ignored,
// so an impatient Ctrl-C does not cut the drain short (SIGKILL still does).
import type { Logger } from '../common/logger.js';

export function drainOnSignals(logger: Logger, close: () => Promise<void>, what = 'draining (no new requests; finishing those in flight)'): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: ${what}`);
    close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** SIGHUP re-reads the API key file (the usual "reload your config" signal); without keys it is ignored, not fatal. */
export function reloadKeysOnSighup(logger: Logger, keys: { reload(logger: Logger): Promise<void> } | undefined): void {
  process.on('SIGHUP', () => {
    if (keys === undefined) logger.info('SIGHUP: no --api-keys-file to reload');
    else void keys.reload(logger);
  });
}
