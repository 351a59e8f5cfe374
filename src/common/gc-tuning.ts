// V8 heap growth for the long-running servers (serve, gateway, worker).
//
// Under load every request waits in the queue for up to a second, so its objects outlive
// the young generation and are promoted: the old generation fills with short-lived garbage.
// V8 sets the next full-collection limit at live heap × a factor it picks from its own
// timings (~1.7 here); with a server's 20–30 MB live heap that left less room than the young
// generation, and V8 then starts the next incremental marking at once: three full
// collections a second at 70 requests/s, ~1 ms of CPU per request on a 2-core machine
// (measured, docs/configuration.md). A fixed factor of 3 cuts that to under one a second,
// for a heap of at most a few tens of MB more. The flag is read at every collection, so it
// can be set after start-up; `node --heap-growing-percent=N` on the command line wins.
import { setFlagsFromString } from 'node:v8';

export const SERVER_HEAP_GROWING_PERCENT = 200;

/** Sets V8's heap growing factor to 1 + percent/100 unless the node command line set one. */
export function tuneServerHeap(percent = SERVER_HEAP_GROWING_PERCENT, execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg))) return false;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}
