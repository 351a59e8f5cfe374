// The in-process Queue of embedded mode: bounded FIFO per key, direct hand-off to waiting
// workers, cancellation by AbortSignal.
import { ServeError } from '../common/errors.js';
import { queueKey, type Delivery, type InferenceJob, type JobOutcome, type Queue, type SubmitOptions } from './contract.js';

class MemoryDelivery implements Delivery {
  cancelled = false;
  settled = false;
  constructor(
    readonly job: InferenceJob,
    readonly resolve: (outcome: JobOutcome) => void,
    readonly reject: (err: ServeError) => void,
    readonly detach: () => void,
  ) {}
  isCancelled(): boolean {
    return this.cancelled;
  }
}

interface Receiver {
  maxItems: number;
  resolve: (items: Delivery[]) => void;
}

export class MemoryQueue implements Queue {
  private readonly pending = new Map<string, MemoryDelivery[]>();
  private readonly receivers = new Map<string, Receiver[]>();
  private closed = false;

  static create(): Promise<MemoryQueue> {
    return Promise.resolve(new MemoryQueue());
  }

  submit(job: InferenceJob, options: SubmitOptions): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new ServeError('SHUTTING_DOWN'));
    const key = queueKey(job.model, job.version);
    const list = this.listFor(this.pending, key);
    if (list.length >= options.bound) {
      return Promise.reject(new ServeError('QUEUE_FULL', `The queue of ${key} holds ${list.length} jobs (bound ${options.bound}); retry later.`, { headers: { 'retry-after': '1' } }));
    }
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(new ServeError('CLIENT_CLOSED'));
    return new Promise<JobOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        // A job still queued is dropped; one already taken is marked so its worker skips
        // it if its batch has not started. Either way the caller stops waiting now.
        delivery.cancelled = true;
        const waiting = this.listFor(this.pending, key);
        const at = waiting.indexOf(delivery);
        if (at >= 0) waiting.splice(at, 1);
        const reason: unknown = signal?.reason;
        settle(delivery, () => reject(reason instanceof ServeError ? reason : new ServeError('CLIENT_CLOSED')));
      };
      const delivery = new MemoryDelivery(job, resolve, reject, () => signal?.removeEventListener('abort', onAbort));
      signal?.addEventListener('abort', onAbort, { once: true });
      list.push(delivery);
      this.dispatch(key);
    });
  }

  depth(key: string): number {
    return this.pending.get(key)?.length ?? 0;
  }

  receive(key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const ready = this.take(key, maxItems);
    if (ready.length > 0 || this.closed || waitMs <= 0 || signal?.aborted === true) return Promise.resolve(ready);
    return new Promise<Delivery[]>((resolve) => {
      const receivers = this.listFor(this.receivers, key);
      const finish = (items: Delivery[]): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = receivers.indexOf(receiver);
        if (at >= 0) receivers.splice(at, 1);
        resolve(items);
      };
      const receiver: Receiver = { maxItems, resolve: finish };
      const onAbort = (): void => finish([]);
      const timer = setTimeout(onAbort, waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      receivers.push(receiver);
    });
  }

  complete(delivery: Delivery, outcome: JobOutcome): Promise<void> {
    if (!(delivery instanceof MemoryDelivery)) throw new Error('delivery from another queue');
    settle(delivery, () => delivery.resolve(outcome));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const list of this.pending.values()) {
      for (const delivery of list.splice(0)) settle(delivery, () => delivery.reject(new ServeError('SHUTTING_DOWN')));
    }
    for (const list of this.receivers.values()) for (const receiver of [...list]) receiver.resolve([]);
    return Promise.resolve();
  }

  private dispatch(key: string): void {
    const receivers = this.receivers.get(key);
    while (receivers !== undefined && receivers.length > 0 && this.depth(key) > 0) {
      const receiver = receivers[0] as Receiver;
      receiver.resolve(this.take(key, receiver.maxItems));
    }
  }

  private take(key: string, maxItems: number): MemoryDelivery[] {
    const list = this.pending.get(key);
    return list === undefined ? [] : list.splice(0, maxItems);
  }

  private listFor<T>(map: Map<string, T[]>, key: string): T[] {
    let list = map.get(key);
    if (list === undefined) {
      list = [];
      map.set(key, list);
    }
    return list;
  }
}

function settle(delivery: MemoryDelivery, action: () => void): void {
  if (delivery.settled) return;
  delivery.settled = true;
  delivery.detach();
  action();
}
