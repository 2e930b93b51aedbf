/**
 * Waiting for a lock, shared by both backends: a waiter sleeps until the lock is released (a signal) or
 * until the holder's lease runs out (one timer), then tries once more. Nothing polls.
 */
import { PlumeError } from '../errors.ts';
import { describeKey, type LockLease, type StateKey } from './backend.ts';

/** One non-blocking try: the lease, or who holds the lock and for how much longer. */
export type LockAttempt = { lease: LockLease } | { holder: string; remainingMs: number };

interface Waiter {
  wake: () => void;
  fail: (error: Error) => void;
}

/** Wakes this process's waiters for a lock when it is released (here, or elsewhere via Redis pub/sub). */
export class ReleaseSignals {
  #waiters = new Map<string, Set<Waiter>>();
  #closed: Error | undefined;

  /**
   * A promise that settles at the next release of `id`. Take it *before* trying the lock: a release that
   * lands between a failed try and the wait would otherwise be missed until the lease runs out.
   */
  next(id: string): { released: Promise<void>; cancel: () => void } {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    // A waiter may be busy trying the lock when close() fails it; the rejection is seen by its next wait.
    promise.catch(() => {});
    if (this.#closed) {
      reject(this.#closed);
      return { released: promise, cancel: () => {} };
    }
    const waiter: Waiter = { wake: resolve, fail: reject };
    let set = this.#waiters.get(id);
    if (!set) this.#waiters.set(id, (set = new Set()));
    set.add(waiter);
    const cancel = (): void => {
      set.delete(waiter);
      if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
    };
    return { released: promise, cancel };
  }

  /** Wakes every waiter of `id`; they race for the lock, in the order they started waiting. */
  release(id: string): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    this.#waiters.delete(id);
    for (const waiter of set) waiter.wake();
  }

  close(error: Error): void {
    this.#closed = error;
    for (const set of this.#waiters.values()) for (const waiter of set) waiter.fail(error);
    this.#waiters.clear();
  }
}

/** Tries `attempt` until it gets the lease, sleeping between tries until a release or the holder's lease ends. */
export async function waitForLock(
  key: StateKey,
  id: string,
  signals: ReleaseSignals,
  attempt: () => Promise<LockAttempt>,
  timeoutMs: number,
): Promise<LockLease> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { released, cancel } = signals.next(id);
    try {
      const result = await attempt();
      if ('lease' in result) return result.lease;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new PlumeError(
          'PLUME_ELOCKED',
          `lock ${describeKey(key)} is still held by ${JSON.stringify(result.holder)} after ${timeoutMs} ms`,
          {
            holder: result.holder,
          },
        );
      }
      // +1: the holder's lease has certainly run out when the timer fires, so the retry cannot lose to it.
      await untilOrTimeout(released, Math.min(result.remainingMs + 1, left));
    } finally {
      cancel();
    }
  }
}

async function untilOrTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
