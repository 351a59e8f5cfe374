// The in-process transport of embedded mode: a bounded FIFO per key, direct hand-off to
// waiting receivers, cancellation by flag. Same contract as the Redis transport.
import { randomUUID } from 'node:crypto';
import { ServeError } from '../common/errors.js';
import { abortError, queueFull, queueOf, refuseAll } from './admission.js';
import {
  queueKey,
  type Backlog,
  type CompleteResult,
  type Delivery,
  type InferenceJob,
  type JobConsumer,
  type JobOutcome,
  type JobProducer,
  type JobRequest,
  type SubmitOptions,
} from './contract.js';

/** The jobs of one submitAll: they share one abort listener, removed when the last is settled. */
interface Group {
  open: number;
  detach: () => void;
}

class MemoryDelivery implements Delivery {
  cancelled = false;
  settled = false;
  deliveryCount = 0;
  /** The consumer holding it, while delivered and not completed. */
  holder: MemoryConsumer | undefined;
  constructor(
    readonly job: InferenceJob,
    readonly group: Group,
    readonly resolve: (outcome: JobOutcome) => void,
    readonly reject: (err: ServeError) => void,
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
    return this.submitAll([request], options)[0] as Promise<JobOutcome>;
  }

  submitAll(requests: readonly JobRequest[], options: SubmitOptions): Promise<JobOutcome>[] {
    if (requests.length === 0) return [];
    if (this.closed) return refuseAll(requests, new ServeError('SHUTTING_DOWN'));
    const key = queueOf(requests);
    if (key instanceof ServeError) return refuseAll(requests, key);
    const list = listFor(this.pending, key);
    // One synchronous check-and-push: nothing else runs in between, so this is atomic.
    if (list.length + requests.length > options.bound) return refuseAll(requests, queueFull(key, list.length, options.bound, requests.length));
    const { signal } = options;
    if (signal?.aborted === true) return refuseAll(requests, abortError(signal));
    const onAbort = (): void => {
      // Jobs still queued are dropped; those already taken are marked so their worker
      // skips them if their batch has not started. Either way the caller stops waiting now.
      const mine = deliveries.filter((d) => !d.settled);
      for (const delivery of mine) delivery.cancelled = true;
      removeWhere(listFor(this.pending, key), (d) => d.group === group);
      for (const delivery of mine) settle(delivery, () => delivery.reject(abortError(signal)));
    };
    const group: Group = { open: requests.length, detach: () => signal?.removeEventListener('abort', onAbort) };
    const now = Date.now();
    const deliveries: MemoryDelivery[] = [];
    // The executor runs at once: `deliveries` is complete when map returns.
    const outcomes = requests.map(
      (request) =>
        new Promise<JobOutcome>((resolve, reject) => {
          deliveries.push(new MemoryDelivery({ ...request, id: randomUUID(), deadline: now + request.timeoutMs, enqueuedAt: now }, group, resolve, reject));
        }),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    list.push(...deliveries);
    this.dispatch(key);
    return outcomes;
  }

  depth(key: string): Promise<number> {
    return Promise.resolve(this.pending.get(key)?.length ?? 0);
  }

  backlog(key: string): Promise<Backlog> {
    const list = this.pending.get(key) ?? [];
    const oldest = list[0];
    return Promise.resolve({ waiting: list.length, oldestWaitMs: oldest === undefined ? -1 : Math.max(0, Date.now() - oldest.job.enqueuedAt) });
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
  if (--delivery.group.open === 0) delivery.group.detach();
  action();
}

function removeWhere<T>(list: T[], drop: (item: T) => boolean): void {
  for (let i = list.length - 1; i >= 0; i--) if (drop(list[i] as T)) list.splice(i, 1);
}
