// A command-line error that is not one of the coded service errors (src/common/errors.ts):
// one clear line and the exit code it deserves, e.g. 2 for bad arguments (the usual Unix
// convention), so scripts can tell "you called me wrong" from "the run failed".
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Bad arguments or options. */
export const EXIT_USAGE = 2;
