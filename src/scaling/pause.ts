// A sleep that an AbortSignal ends early, rejecting with the signal's own reason (node's
// timers/promises rejects with a generic AbortError instead, which loses why it stopped).
import { setTimeout as sleep } from 'node:timers/promises';

export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}
