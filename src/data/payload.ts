/**
 * Bytes that move between functions: the chunks a guest wrote, kept as written. A callee reads them by
 * range straight into its own memory, so a chained hop costs the one copy a reader must make and never a
 * concatenation; they are flattened only where they leave the thread.
 *
 * A large output is written into pooled 256 KiB chunks (`appendOutput`) instead of a fresh buffer per
 * write: fresh memory costs page faults and garbage collection, most of a fan-in's time. A payload is
 * reference counted; when its last holder releases it, its pooled chunks go back to the pool. Holders:
 * the receiver of a call's result (the worker that sends it on, or the future of the caller), and each
 * callee that reads it as its input. A payload nobody releases (an abandoned call) is simply collected.
 */

/** Outputs up to this size are kept as exact-size copies; past it they fill pooled chunks. */
const SMALL_OUTPUT = 16 * 1024;
export const CHUNK_BYTES = 256 * 1024;
/** Spare chunks are dropped once none has been taken for this long. */
const IDLE_MS = 5000;

/**
 * This thread's output chunks (each worker has its own: module state is per thread). Spare chunks are
 * kept up to `spareLimit` bytes and dropped when the pool has gone unused for a few seconds.
 */
class ChunkPool {
  readonly #mine = new WeakSet<ArrayBufferLike>();
  #spare: ArrayBuffer[] = [];
  #lastTake = 0;
  #timer: NodeJS.Timeout | undefined;
  spareLimit = 1024 * 1024 * 1024;

  get spareBytes(): number {
    return this.#spare.length * CHUNK_BYTES;
  }

  owns(buffer: ArrayBufferLike): boolean {
    return this.#mine.has(buffer);
  }

  take(): ArrayBuffer {
    this.#lastTake = performance.now();
    const spare = this.#spare.pop();
    if (spare) return spare;
    const buffer = new ArrayBuffer(CHUNK_BYTES);
    this.#mine.add(buffer);
    return buffer;
  }

  give(buffer: ArrayBuffer): void {
    if (this.spareBytes >= this.spareLimit) return;
    this.#spare.push(buffer);
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.#trim(), IDLE_MS).unref();
  }

  #trim(): void {
    this.#timer = undefined;
    const idle = performance.now() - this.#lastTake;
    if (idle >= IDLE_MS) this.#spare = [];
    else if (this.#spare.length > 0) this.#timer = setTimeout(() => this.#trim(), IDLE_MS - idle).unref();
  }
}

export const outputChunks = new ChunkPool();

export class Payload {
  #chunks: readonly Uint8Array[];
  readonly length: number;
  #flat: Uint8Array | undefined;
  /** Holders; counted only for payloads with pooled chunks (the others are left to the collector). */
  #refs = 1;
  readonly #pooled: boolean;
  /** Whether any chunk lies in a SharedArrayBuffer (see copyBytes), known once instead of per read. */
  readonly #shared: boolean;
  /** Where the last read ended: the chunk index and the payload offset at which that chunk starts. */
  #cursorIndex = 0;
  #cursorStart = 0;

  constructor(chunks: readonly Uint8Array[], length = chunks.reduce((n, c) => n + c.length, 0)) {
    this.#chunks = chunks;
    this.length = length;
    let pooled = false;
    let shared = false;
    for (const c of chunks) {
      const buffer = c.buffer;
      pooled ||= outputChunks.owns(buffer);
      shared ||= buffer instanceof SharedArrayBuffer;
    }
    this.#pooled = pooled;
    this.#shared = shared;
    if (chunks.length === 1 && !this.#pooled) this.#flat = chunks[0];
  }

  static of(bytes: Uint8Array): Payload {
    return new Payload([bytes], bytes.length);
  }

  static readonly empty = Payload.of(new Uint8Array(0));

  get chunks(): readonly Uint8Array[] {
    if (this.#refs === 0) throw new Error('a payload was used after its last holder released it');
    return this.#chunks;
  }

  /** One more holder; each holder calls release() once. */
  retain(): this {
    if (this.#refs === 0) throw new Error('a payload was retained after its last holder released it');
    if (this.#pooled) this.#refs++;
    return this;
  }

  /** The last release gives its pooled chunks back (a no-op for payloads with none). */
  release(): void {
    if (!this.#pooled || this.#refs === 0 || --this.#refs > 0) return;
    let last: ArrayBufferLike | undefined;
    for (const chunk of this.#chunks) {
      // A chunk's views are consecutive, so each pooled buffer is given back once.
      if (chunk.buffer !== last && outputChunks.owns(chunk.buffer)) outputChunks.give(chunk.buffer as ArrayBuffer);
      last = chunk.buffer;
    }
    this.#chunks = [];
  }

  /**
   * Copies up to `max` bytes starting at `offset` into `dst` at `at`; returns how many (0 past the end).
   * `dstShared`: whether `dst` lies in a SharedArrayBuffer (a guest memory knows).
   */
  read(offset: number, dst: Uint8Array, at: number, max: number, dstShared = isShared(dst)): number {
    const shared = dstShared || this.#shared;
    const chunks = this.chunks;
    // Readers go front to back: resume the chunk walk where the last read ended instead of at chunk 0,
    // so reading a payload of many chunks sequentially stays linear.
    let index = 0;
    let start = 0;
    if (offset >= this.#cursorStart) {
      index = this.#cursorIndex;
      start = this.#cursorStart;
    }
    let copied = 0;
    while (index < chunks.length && copied < max) {
      const chunk = chunks[index]!;
      const from = offset + copied - start;
      if (from >= chunk.length) {
        start += chunk.length;
        index++;
        continue;
      }
      const n = Math.min(chunk.length - from, max - copied);
      copyRange(chunk, from, from + n, dst, at + copied, shared);
      copied += n;
      this.#cursorIndex = index;
      this.#cursorStart = start;
    }
    return copied;
  }

  /** One contiguous copy (made once, then cached); never a pooled chunk, so it may outlive the payload. */
  flatten(): Uint8Array {
    if (this.#flat) return this.#flat;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return (this.#flat = out);
  }
}

/**
 * The pooled chunk the last large write went to, and the view of it that write left at the end of its
 * output: the next write to that output resumes in it without asking the view for its buffer (a call into
 * the engine that cost more than the bookkeeping around it).
 */
let tailView: Uint8Array | undefined;
let tailFull: Uint8Array = new Uint8Array(0);

/**
 * Appends a copy of `src[from, to)` to a call's output (`output` holds `outputBytes` so far): small outputs
 * as exact-size copies, larger ones packed into pooled chunks, each chunk as one growing view at the end.
 * `srcShared`: whether `src` lies in a SharedArrayBuffer (a guest memory knows; pooled chunks never do).
 */
export function appendOutput(
  output: Uint8Array[],
  outputBytes: number,
  src: Uint8Array,
  from = 0,
  to = src.length,
  srcShared = isShared(src),
): void {
  if (outputBytes + (to - from) <= SMALL_OUTPUT) {
    output.push(src.slice(from, to));
    return;
  }
  for (let at = from; at < to;) {
    const last = output.at(-1);
    const full =
      last === undefined
        ? undefined
        : last === tailView
          ? tailFull
          : outputChunks.owns(last.buffer)
            ? new Uint8Array(last.buffer)
            : undefined;
    const start = full ? last!.byteOffset : 0;
    const end = full ? start + last!.length : CHUNK_BYTES;
    if (end === CHUNK_BYTES) {
      tailFull = new Uint8Array(outputChunks.take());
      output.push((tailView = tailFull.subarray(0, 0)));
      continue;
    }
    const n = Math.min(CHUNK_BYTES - end, to - at);
    copyRange(src, at, at + n, full!, end, srcShared);
    tailFull = full!;
    output[output.length - 1] = tailView = full!.subarray(start, end + n);
    at += n;
  }
}

const nativeCopy = Buffer.prototype.copy;

/**
 * `dst.set(src, at)`, except where either side lies in a SharedArrayBuffer (a pooled receive buffer, a
 * shared guest memory): V8 copies those with relaxed atomics, ~1.5× slower than memcpy at 100 MB, while
 * Buffer's copy is a plain memmove.
 */
export function copyBytes(src: Uint8Array, dst: Uint8Array, at: number): void {
  copyRange(src, 0, src.length, dst, at);
}

const isShared = (view: Uint8Array): boolean => view.buffer instanceof SharedArrayBuffer;

/**
 * `copyBytes` of `src[from, to)`; `shared`: whether either side lies in a SharedArrayBuffer, when the
 * caller knows (the `buffer` getter calls into the engine, more than a hot copy's bookkeeping costs).
 */
function copyRange(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number, shared = isShared(src) || isShared(dst)): void {
  if (shared) nativeCopy.call(src, dst, at, from, to);
  else dst.set(from === 0 && to === src.length ? src : src.subarray(from, to), at);
}
