/**
 * Pooled receive buffers for payloads that arrive from another process (docs/dataplane.md, Payload store).
 * Each buffer is a SharedArrayBuffer, so a worker thread reads it without a copy, and it is faulted in once
 * and then reused, so a received payload never pays for fresh pages (~0.6 ms per MB on our machines). The
 * store is bounded: the buffers it holds, in use and spare together, never pass `maxBytes`; an `acquire`
 * that does not fit waits until enough is released (backpressure), dropping spare buffers of other sizes
 * first.
 */
import { faultIn } from './fault-in.ts';
import { PlumeError } from '../errors.ts';

export interface PayloadStoreOptions {
  /** Bytes of buffers held at most, in use and spare together (default 1 GiB); past it, acquire waits. */
  readonly maxBytes?: number;
  /** Bytes of spare buffers kept for reuse (default 256 MiB); a buffer released beyond it is dropped. */
  readonly spareBytes?: number;
}

export interface PayloadStoreStats {
  /** Bytes of all buffers the store accounts for (in use + spare). */
  readonly heldBytes: number;
  readonly inUseBytes: number;
  readonly spareBytes: number;
  /** Acquires waiting for room. */
  readonly waiting: number;
}

/** Buffers come in powers of two from 64 KiB, so a freed buffer fits the next payload of similar size. */
const MIN_CLASS = 64 * 1024;

interface Waiter {
  readonly length: number;
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class PayloadStore {
  readonly maxBytes: number;
  readonly spareLimit: number;
  /** Spare buffers by size class, most recently released last. */
  readonly #spare = new Map<number, SharedArrayBuffer[]>();
  readonly #waiting: Waiter[] = [];
  #held = 0;
  #spareBytes = 0;

  constructor(options: PayloadStoreOptions = {}) {
    const { maxBytes = 1024 ** 3, spareBytes = 256 * 1024 ** 2 } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_CLASS)
      throw new RangeError(`maxBytes must be an integer of at least ${MIN_CLASS}, got ${String(maxBytes)}`);
    if (!Number.isSafeInteger(spareBytes) || spareBytes < 0)
      throw new RangeError(`spareBytes must be a non-negative integer, got ${String(spareBytes)}`);
    this.maxBytes = maxBytes;
    this.spareLimit = spareBytes;
  }

  get stats(): PayloadStoreStats {
    return {
      heldBytes: this.#held,
      inUseBytes: this.#held - this.#spareBytes,
      spareBytes: this.#spareBytes,
      waiting: this.#waiting.length,
    };
  }

  /**
   * A lease on `length` bytes, at once when they fit, else once enough has been released (in the order
   * asked). Rejects with `PLUME_EINPUT` if `length` can never fit, and with the signal's reason if aborted.
   */
  acquire(length: number, signal?: AbortSignal): Promise<Lease> {
    if (!Number.isSafeInteger(length) || length < 0)
      return Promise.reject(new RangeError(`length must be a non-negative integer, got ${length}`));
    if (classOf(length) > this.maxBytes)
      return Promise.reject(
        new PlumeError('PLUME_EINPUT', `a payload of ${length} bytes cannot fit the payload store (maxBytes ${this.maxBytes})`),
      );
    if (signal?.aborted) return Promise.reject(signal.reason);
    const lease = this.#waiting.length === 0 ? this.#take(length) : undefined;
    if (lease) return Promise.resolve(lease);
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        length,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(signal!.reason);
          this.#grant(); // the next one in line may fit now
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Drops every spare buffer (the memory goes back to the system once nothing refers to it). */
  trim(): void {
    this.#held -= this.#spareBytes;
    this.#spareBytes = 0;
    this.#spare.clear();
    this.#grant();
  }

  /** @internal A lease ended: its buffer is spare again (`reuse`), or leaves the store. */
  end(buffer: SharedArrayBuffer, reuse: boolean): void {
    const size = buffer.byteLength;
    if (reuse && this.#spareBytes + size <= this.spareLimit) {
      let list = this.#spare.get(size);
      if (!list) this.#spare.set(size, (list = []));
      list.push(buffer);
      this.#spareBytes += size;
    } else this.#held -= size;
    this.#grant();
  }

  #grant(): void {
    while (this.#waiting.length > 0) {
      const head = this.#waiting[0]!;
      const lease = this.#take(head.length);
      if (!lease) return;
      this.#waiting.shift();
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(lease);
    }
  }

  /** A spare buffer of the right class, or a new one if the budget allows (dropping other spares first). */
  #take(length: number): Lease | undefined {
    const size = classOf(length);
    const reused = this.#spare.get(size)?.pop();
    if (reused) {
      this.#spareBytes -= size;
      return new Lease(this, reused, length);
    }
    if (this.#held + size > this.maxBytes) this.#dropSpares(this.#held + size - this.maxBytes);
    if (this.#held + size > this.maxBytes) return undefined;
    this.#held += size;
    return new Lease(this, prefaulted(size), length);
  }

  #dropSpares(bytes: number): void {
    for (const [size, list] of this.#spare) {
      while (bytes > 0 && list.length > 0) {
        list.shift();
        this.#spareBytes -= size;
        this.#held -= size;
        bytes -= size;
      }
      if (bytes <= 0) return;
    }
  }
}

/**
 * One payload's buffer, owned by whoever holds the lease. `release()` gives it back for reuse; `forget()`
 * takes it out of the store instead (its bytes leave the budget and the garbage collector frees it): use
 * that when something may still read or write the buffer after you are done, so it is never handed to the
 * next payload.
 */
export class Lease {
  /** Exactly the leased length, over a SharedArrayBuffer. */
  readonly bytes: Uint8Array;
  readonly #store: PayloadStore;
  readonly #buffer: SharedArrayBuffer;
  #ended = false;

  constructor(store: PayloadStore, buffer: SharedArrayBuffer, length: number) {
    this.#store = store;
    this.#buffer = buffer;
    this.bytes = new Uint8Array(buffer, 0, length);
  }

  release(): void {
    this.#end(true);
  }

  forget(): void {
    this.#end(false);
  }

  #end(reuse: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#store.end(this.#buffer, reuse);
  }
}

function classOf(length: number): number {
  return Math.max(MIN_CLASS, 2 ** Math.ceil(Math.log2(Math.max(1, length))));
}

/** A buffer faulted in now, not on the receive path. */
function prefaulted(size: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(size);
  faultIn(new Uint8Array(buffer));
  return buffer;
}
