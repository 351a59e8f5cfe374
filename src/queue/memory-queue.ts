// The in-process transport of embedded mode: a bounded FIFO per key, direct hand-off to
// waiting receivers, cancellation by flag. Same contract as the Redis transport.
import { randomUUID } from 'node:crypto';
import { ServeError } from '../common/errors.js';
import { queueKey, type CompleteResult, type Delivery, type InferenceJob, type JobConsumer, type JobOutcome, type JobProducer, type JobRequest, type SubmitOptions } from './contract.js';

class MemoryDelivery implements Delivery {
  cancelled = false;
  settled = false;
  deliveryCount = 0;
  /** The consumer holding it, while delivered and not completed. */
  holder: MemoryConsumer | undefined;
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
  consumer: MemoryConsumer;
  resolve: (items: Delivery[]) => void;
}

/** The producer side; `consumer()` makes worker-side views of the same queues. */
export class MemoryQueue implements JobProducer {
  private readonly pending = new Map<string, MemoryDelivery[]>();
  private readonly receivers = new Map<string, Receiver[]>();
  private closed = false;

  static create(): Promise<MemoryQueue> {
    return Promise.resolve(new MemoryQueue());
  }

  /** A worker's view: it receives and completes; closing it hands its unfinished jobs back. */
  consumer(): MemoryConsumer {
    return new MemoryConsumer(this);
  }

  submit(request: JobRequest, options: SubmitOptions): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new ServeError('SHUTTING_DOWN'));
    const key = queueKey(request.model, request.version);
    const list = listFor(this.pending, key);
    if (list.length >= options.bound) {
      return Promise.reject(new ServeError('QUEUE_FULL', `The queue of ${key} holds ${list.length} jobs (bound ${options.bound}); retry later.`, { headers: { 'retry-after': '1' } }));
    }
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    const now = Date.now();
    const job: InferenceJob = { ...request, id: randomUUID(), deadline: now + request.timeoutMs, enqueuedAt: now };
    return new Promise<JobOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        // A job still queued is dropped; one already taken is marked so its worker skips
        // it if its batch has not started. Either way the caller stops waiting now.
        delivery.cancelled = true;
        const waiting = listFor(this.pending, key);
        const at = waiting.indexOf(delivery);
        if (at >= 0) waiting.splice(at, 1);
        settle(delivery, () => reject(abortError(signal)));
      };
      const delivery = new MemoryDelivery(job, resolve, reject, () => signal?.removeEventListener('abort', onAbort));
      signal?.addEventListener('abort', onAbort, { once: true });
      list.push(delivery);
      this.dispatch(key);
    });
  }

  depth(key: string): Promise<number> {
    return Promise.resolve(this.pending.get(key)?.length ?? 0);
  }

  isAvailable(): boolean {
    return !this.closed;
  }

  close(): Promise<void> {
    this.closed = true;
    for (const list of this.pending.values()) {
      for (const delivery of list.splice(0)) settle(delivery, () => delivery.reject(new ServeError('SHUTTING_DOWN')));
    }
    for (const list of this.receivers.values()) for (const receiver of [...list]) receiver.resolve([]);
    return Promise.resolve();
  }

  /** @internal */
  receiveFor(consumer: MemoryConsumer, key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const ready = this.take(consumer, key, maxItems);
    if (ready.length > 0 || this.closed || waitMs <= 0 || signal?.aborted === true) return Promise.resolve(ready);
    return new Promise<Delivery[]>((resolve) => {
      const receivers = listFor(this.receivers, key);
      const finish = (items: Delivery[]): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = receivers.indexOf(receiver);
        if (at >= 0) receivers.splice(at, 1);
        resolve(items);
      };
      const receiver: Receiver = { maxItems, consumer, resolve: finish };
      const onAbort = (): void => finish([]);
      const timer = setTimeout(onAbort, waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      receivers.push(receiver);
    });
  }

  /** @internal Jobs a closing consumer had not completed go back to the front of their queue. */
  requeue(deliveries: MemoryDelivery[]): void {
    for (const delivery of deliveries.reverse()) {
      if (delivery.settled) continue;
      delivery.holder = undefined;
      const key = queueKey(delivery.job.model, delivery.job.version);
      listFor(this.pending, key).unshift(delivery);
      this.dispatch(key);
    }
  }

  /** @internal Receivers of a closing consumer stop waiting. */
  dropReceivers(consumer: MemoryConsumer): void {
    for (const list of this.receivers.values()) for (const receiver of list.filter((r) => r.consumer === consumer)) receiver.resolve([]);
  }

  private dispatch(key: string): void {
    const receivers = this.receivers.get(key);
    while (receivers !== undefined && receivers.length > 0 && (this.pending.get(key)?.length ?? 0) > 0) {
      const receiver = receivers[0] as Receiver;
      receiver.resolve(this.take(receiver.consumer, key, receiver.maxItems));
    }
  }

  private take(consumer: MemoryConsumer, key: string, maxItems: number): MemoryDelivery[] {
    const list = this.pending.get(key);
    const taken = list === undefined ? [] : list.splice(0, maxItems);
    for (const delivery of taken) {
      delivery.deliveryCount++;
      delivery.holder = consumer;
      consumer.held.add(delivery);
    }
    return taken;
  }
}

export class MemoryConsumer implements JobConsumer {
  /** @internal Delivered, not completed. */
  readonly held = new Set<MemoryDelivery>();
  private closed = false;

  constructor(private readonly queue: MemoryQueue) {}

  receive(key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    if (this.closed) return Promise.resolve([]);
    return this.queue.receiveFor(this, key, maxItems, waitMs, signal);
  }

  complete(delivery: Delivery, outcome: JobOutcome): Promise<CompleteResult> {
    if (!(delivery instanceof MemoryDelivery)) return Promise.reject(new ServeError('INTERNAL', 'a delivery from another transport was completed here'));
    this.held.delete(delivery);
    if (delivery.settled) return Promise.resolve('duplicate');
    settle(delivery, () => delivery.resolve(outcome));
    return Promise.resolve('completed');
  }

  close(): Promise<void> {
    this.closed = true;
    this.queue.dropReceivers(this);
    this.queue.requeue([...this.held]);
    this.held.clear();
    return Promise.resolve();
  }
}

function abortError(signal: AbortSignal | undefined): ServeError {
  const reason: unknown = signal?.reason;
  return reason instanceof ServeError ? reason : new ServeError('CLIENT_CLOSED');
}

function listFor<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}

function settle(delivery: MemoryDelivery, action: () => void): void {
  if (delivery.settled) return;
  delivery.settled = true;
  delivery.detach();
  action();
}
