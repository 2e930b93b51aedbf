/**
 * A single-producer single-consumer byte ring in a SharedArrayBuffer. Invocations and results cross the
 * thread boundary here without postMessage's per-message cost; a record that does not fit falls back to
 * postMessage (the caller's job).
 *
 * Memory ordering: the producer writes a record with plain stores, then publishes it with Atomics.store on
 * TAIL. Atomics are sequentially consistent, so a consumer that reads TAIL with Atomics.load sees every
 * byte written before it. Symmetrically the consumer releases space with Atomics.store on HEAD after it has
 * finished reading the record (its payload must be copied out before that).
 */
import { CONTROL_BYTES, HEAD, maxRecordPayload, RECORD_HEADER, RecordType, SLEEPING, TAIL, WAKE } from './layout.ts';

export type RecordHandler = (type: number, id: number, arg: number, payload: Uint8Array, flags: number) => void;

export class Ring {
  readonly buffer: SharedArrayBuffer;
  readonly control: Int32Array;
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #mask: number;

  /** `capacity` bytes of record space, a power of two. */
  static create(capacity: number): Ring {
    if (capacity < 4096 || (capacity & (capacity - 1)) !== 0)
      throw new RangeError(`ring capacity must be a power of two ≥ 4096, got ${capacity}`);
    return new Ring(new SharedArrayBuffer(CONTROL_BYTES + capacity));
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#data = new Uint8Array(buffer, CONTROL_BYTES);
    this.#view = new DataView(buffer, CONTROL_BYTES);
    this.#mask = this.#data.length - 1;
  }

  /** The largest payload a record may carry; bigger ones go by postMessage. */
  get maxPayload(): number {
    return maxRecordPayload(this.#data.length);
  }

  isEmpty(): boolean {
    return Atomics.load(this.control, HEAD) === Atomics.load(this.control, TAIL);
  }

  /**
   * Producer side: whether a record of `len` payload bytes, then one of `then` bytes if given, written now,
   * both fit. Only the producer adds records, so what fits now still fits when it writes them (the consumer
   * only frees space): a worker checks a call's trace and result together and sends both by one channel.
   */
  fits(len: number, then?: number): boolean {
    const head = Atomics.load(this.control, HEAD) >>> 0;
    const tail = Atomics.load(this.control, TAIL) >>> 0;
    const first = this.#needed(tail, len);
    if (first < 0 || ((tail - head) >>> 0) + first > this.#data.length) return false;
    if (then === undefined) return true;
    const second = this.#needed((tail + first) >>> 0, then);
    return second >= 0 && ((tail - head) >>> 0) + first + second <= this.#data.length;
  }

  /** Bytes a record of `len` payload bytes takes at `tail`, the padding to the end included; -1 if it can never fit. */
  #needed(tail: number, len: number): number {
    if (len > this.maxPayload) return -1;
    const size = (RECORD_HEADER + len + 7) & ~7;
    const untilEnd = this.#data.length - (tail & this.#mask);
    return size <= untilEnd ? size : untilEnd + size;
  }

  /** Producer side. False when the ring lacks room (the caller then uses postMessage). Does not wake the consumer. */
  write(type: number, id: number, arg: number, payload: Uint8Array | readonly Uint8Array[] | undefined, flags = 0): boolean {
    const chunks = payload === undefined ? [] : payload instanceof Uint8Array ? [payload] : payload;
    let len = 0;
    for (const c of chunks) len += c.length;
    const head = Atomics.load(this.control, HEAD) >>> 0;
    let tail = Atomics.load(this.control, TAIL) >>> 0;
    const needed = this.#needed(tail, len);
    if (needed < 0 || ((tail - head) >>> 0) + needed > this.#data.length) return false;
    const size = (RECORD_HEADER + len + 7) & ~7;
    const at = tail & this.#mask;
    const untilEnd = this.#data.length - at;
    if (size > untilEnd) {
      // A record never straddles the end: pad to the end and start at offset 0. A gap too small for a
      // header carries none; the consumer skips any gap shorter than a header the same way.
      if (untilEnd >= RECORD_HEADER) this.#header(at, untilEnd, RecordType.pad, 0, 0, 0, 0);
      tail = (tail + untilEnd) >>> 0;
    }
    const start = tail & this.#mask;
    this.#header(start, size, type, id, arg, len, flags);
    let to = start + RECORD_HEADER;
    for (const c of chunks) {
      this.#data.set(c, to);
      to += c.length;
    }
    // Publish: everything above happens-before a consumer's Atomics.load(TAIL) that sees this value.
    Atomics.store(this.control, TAIL, (tail + size) | 0);
    Atomics.add(this.control, WAKE, 1);
    return true;
  }

  /** Wake the consumer if it sleeps. Read after the TAIL store, so a consumer going to sleep cannot be missed (see wait). */
  wake(): void {
    if (Atomics.load(this.control, SLEEPING) === 1) Atomics.notify(this.control, WAKE);
  }

  /** Consumer side: hand every published record to `handle`, freeing each after it returns. */
  drain(handle: RecordHandler): number {
    let head = Atomics.load(this.control, HEAD) >>> 0;
    const tail = Atomics.load(this.control, TAIL) >>> 0;
    let count = 0;
    while (head !== tail) {
      const at = head & this.#mask;
      if (this.#data.length - at < RECORD_HEADER) {
        head = (head + this.#data.length - at) >>> 0;
        Atomics.store(this.control, HEAD, head | 0);
        continue;
      }
      const size = this.#view.getUint32(at, true);
      const type = this.#view.getUint32(at + 4, true);
      if (type !== RecordType.pad) {
        const id = this.#view.getUint32(at + 8, true);
        const arg = this.#view.getUint32(at + 12, true);
        const payloadLen = this.#view.getUint32(at + 16, true);
        const flags = this.#view.getUint32(at + 20, true);
        handle(type, id, arg, this.#data.subarray(at + RECORD_HEADER, at + RECORD_HEADER + payloadLen), flags);
        count++;
      }
      head = (head + size) >>> 0;
      // Release the space only after the handler copied what it needs.
      Atomics.store(this.control, HEAD, head | 0);
    }
    return count;
  }

  /**
   * Sleep until a record is published. Ordering: read WAKE, then announce SLEEPING, then re-check the ring.
   * A producer publishes TAIL, bumps WAKE, then reads SLEEPING. In the single total order of these atomics
   * either we see its TAIL (and do not sleep) or it sees SLEEPING = 1 (and notifies); if it bumped WAKE
   * between our read and waitAsync, waitAsync returns at once ('not-equal').
   */
  async wait(): Promise<void> {
    const seq = Atomics.load(this.control, WAKE);
    Atomics.store(this.control, SLEEPING, 1);
    if (this.isEmpty()) {
      const result = Atomics.waitAsync(this.control, WAKE, seq);
      if (result.async) await result.value;
    }
    Atomics.store(this.control, SLEEPING, 0);
  }

  /**
   * Like wait, but blocks the thread (futex; a few µs to wake instead of an event-loop turn). Only for a
   * consumer whose event loop has nothing to do meanwhile: a worker with no suspended guest. `timeoutMs`
   * bounds the block so housekeeping still runs.
   */
  block(timeoutMs: number): void {
    const seq = Atomics.load(this.control, WAKE);
    Atomics.store(this.control, SLEEPING, 1);
    if (this.isEmpty()) Atomics.wait(this.control, WAKE, seq, timeoutMs);
    Atomics.store(this.control, SLEEPING, 0);
  }

  /** Wake a sleeping consumer without publishing (to stop its loop, or to make it read its messages). */
  interrupt(): void {
    Atomics.add(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
  }

  #header(at: number, size: number, type: number, id: number, arg: number, len: number, flags: number): void {
    this.#view.setUint32(at + 16, len, true);
    this.#view.setUint32(at + 20, flags, true);
    this.#view.setUint32(at, size, true);
    this.#view.setUint32(at + 4, type, true);
    this.#view.setUint32(at + 8, id, true);
    this.#view.setUint32(at + 12, arg, true);
  }
}
