/**
 * The timeouts of one pool's running calls behind a single timer. Every call of a pool has the same timeout,
 * so deadlines arrive in order and a FIFO queue holds them sorted: adding and finishing one is O(1) and
 * allocates no timer (a `setTimeout` + `clearTimeout` per call cost a fan-out of 100 callees ~2 ms).
 */
export interface Deadline {
  /** performance.now() past which the call has timed out. */
  readonly at: number;
  /** False once the call finished or expired: then it is skipped. */
  running: boolean;
  readonly expire: () => void;
}

export class Deadlines {
  #queue: Deadline[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  add(deadline: Deadline): void {
    this.#queue.push(deadline);
    if (this.#timer === undefined) this.#arm(deadline.at);
  }

  /** The call finished first: it will not expire. */
  done(deadline: Deadline): void {
    deadline.running = false;
    this.#dropFinished();
  }

  /** The pool is gone: no timer outlives it. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get size(): number {
    return this.#queue.length - this.#head;
  }

  #dropFinished(): void {
    const q = this.#queue;
    while (this.#head < q.length && !q[this.#head]!.running) this.#head++;
    if (this.#head === q.length) {
      // The timer stays armed: the next call (a fan-out's callees run one after another) needs one too, and
      // an armed timer that finds nothing due costs one wake-up per timeout, not a timer per call.
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    // The timer was armed for a head that may have finished since: it then re-arms for the new head.
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.at <= now) {
      const deadline = this.#queue[this.#head++]!;
      if (!deadline.running) continue;
      deadline.running = false;
      deadline.expire();
    }
    this.#dropFinished();
    if (this.#head < this.#queue.length && this.#timer === undefined) this.#arm(this.#queue[this.#head]!.at);
  }
}
