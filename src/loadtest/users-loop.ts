// Users mode (Locust's model, a closed loop): `users` virtual users, started `spawnRate` a
// second; each sends a request, waits for the whole answer, waits a uniform random think time
// in [waitMinMs, waitMaxMs], and sends the next.

import type { RunContext, Scheduler } from './scheduler.js';

class User {
  timer: NodeJS.Timeout | undefined;
  /** Bound once, so scheduling the next request allocates nothing. */
  readonly sendNext: () => void;

  constructor(private readonly run: RunContext) {
    this.sendNext = () => {
      this.timer = undefined;
      if (this.run.canSend()) this.run.send(performance.now(), this);
    };
  }
}

export class UsersLoop implements Scheduler {
  private readonly users: User[] = [];
  private spawnTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly run: RunContext) {}

  start(): void {
    this.spawnDue();
  }

  /** Starts every user whose time has come (user i at t0 + i / spawnRate), then waits for the next. */
  private spawnDue(): void {
    this.spawnTimer = undefined;
    if (this.stopped) return;
    const { users, spawnRate } = this.run.options;
    const intervalMs = 1000 / spawnRate;
    const due = Math.min(users, Math.floor((performance.now() - this.run.t0) / intervalMs) + 1);
    const before = this.users.length;
    while (this.users.length < due) {
      const user = new User(this.run);
      this.users.push(user);
      user.sendNext();
    }
    if (this.users.length !== before) this.run.usersChanged(this.users.length);
    if (this.users.length < users) {
      const next = this.run.t0 + this.users.length * intervalMs;
      this.spawnTimer = setTimeout(() => this.spawnDue(), Math.max(0, next - performance.now()));
    }
  }

  afterCompletion(tag: unknown, failed = false): void {
    if (this.stopped || !(tag instanceof User)) return;
    const { waitMinMs, waitMaxMs } = this.run.options;
    const waitMs = waitMinMs + Math.random() * (waitMaxMs - waitMinMs);
    if (waitMs > 0) tag.timer = setTimeout(tag.sendNext, waitMs);
    // Never send from inside undici's callback: after an answer, as soon as the stack unwinds;
    // after a failure, on the next turn of the event loop, so instant failures cannot starve timers.
    else if (failed) setImmediate(tag.sendNext);
    else queueMicrotask(tag.sendNext);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.spawnTimer);
    for (const user of this.users) clearTimeout(user.timer);
  }
}
