/**
 * Bounded queues in front of the runtime. A function runs at most `maxConcurrency` calls at once (the
 * executor enforces it and queues the rest); the gateway admits at most `queue` more per function on top,
 * and answers 429 with Retry-After beyond that. A request that was admitted always runs to the end: the
 * bound is checked once, at the door, so overload sheds new work instead of growing memory and latency
 * without limit.
 */
import { PlumeError } from '../errors.ts';

interface Door {
  outstanding: number;
  /** Mean service time in ms (exponentially weighted), for Retry-After. */
  meanMs: number;
}

/** Weight of the newest sample in the mean service time: about the last 10 calls count. */
const EWMA = 0.1;

export class Admission {
  readonly #doors = new Map<string, Door>();
  #total = 0;

  /** Admit a call at the door `name` or throw PLUME_EBUSY (with `retryAfterS` in its details); `label` names it in the message. */
  admit(name: string, concurrency: number, queue: number, label?: string): void {
    let door = this.#doors.get(name);
    if (!door) this.#doors.set(name, (door = { outstanding: 0, meanMs: 0 }));
    if (door.outstanding >= concurrency + queue) {
      // The backlog ahead drains at `concurrency` calls per mean service time.
      const retryAfterS = Math.max(1, Math.ceil((door.outstanding / concurrency) * (door.meanMs / 1000)));
      throw new PlumeError(
        'PLUME_EBUSY',
        `${label ?? `function '${name}'`} is overloaded: ${door.outstanding} calls are running or queued (limit ${concurrency} running + ${queue} queued); retry after ${retryAfterS} s`,
        { function: name, retryAfterS },
      );
    }
    door.outstanding++;
    this.#total++;
  }

  release(name: string, ms: number): void {
    const door = this.#doors.get(name);
    if (!door) return;
    door.outstanding--;
    this.#total--;
    door.meanMs = door.meanMs === 0 ? ms : door.meanMs + EWMA * (ms - door.meanMs);
    if (door.outstanding === 0 && this.#doors.size > 1024) this.#doors.delete(name);
  }

  /** Calls of `name` admitted and not yet finished (running or queued). */
  outstanding(name: string): number {
    return this.#doors.get(name)?.outstanding ?? 0;
  }

  /** Calls admitted at every door and not yet finished. */
  total(): number {
    return this.#total;
  }

  /** Would `admit` refuse a call at the door `name` now? */
  full(name: string, concurrency: number, queue: number): boolean {
    return this.outstanding(name) >= concurrency + queue;
  }
}
