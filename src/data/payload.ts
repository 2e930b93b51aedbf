/**
 * Bytes that move between functions: the chunks a guest wrote, kept as written. A callee reads them by
 * range straight into its own memory, so a chained hop costs the one copy a reader must make and never a
 * concatenation; they are flattened only where they leave the thread.
 */
export class Payload {
  readonly chunks: readonly Uint8Array[];
  readonly length: number;
  #flat: Uint8Array | undefined;
  /** Where the last read ended: the chunk index and the payload offset at which that chunk starts. */
  #cursorIndex = 0;
  #cursorStart = 0;

  constructor(chunks: readonly Uint8Array[], length = chunks.reduce((n, c) => n + c.length, 0)) {
    this.chunks = chunks;
    this.length = length;
    if (chunks.length === 1) this.#flat = chunks[0];
  }

  static of(bytes: Uint8Array): Payload {
    return new Payload([bytes], bytes.length);
  }

  static readonly empty = Payload.of(new Uint8Array(0));

  /** Copies up to `max` bytes starting at `offset` into `dst` at `at`; returns how many (0 past the end). */
  read(offset: number, dst: Uint8Array, at: number, max: number): number {
    // Readers go front to back: resume the chunk walk where the last read ended instead of at chunk 0,
    // so reading a payload of many chunks sequentially stays linear.
    let index = 0;
    let start = 0;
    if (offset >= this.#cursorStart) {
      index = this.#cursorIndex;
      start = this.#cursorStart;
    }
    let copied = 0;
    while (index < this.chunks.length && copied < max) {
      const chunk = this.chunks[index]!;
      const from = offset + copied - start;
      if (from >= chunk.length) {
        start += chunk.length;
        index++;
        continue;
      }
      const n = Math.min(chunk.length - from, max - copied);
      dst.set(from === 0 && n === chunk.length ? chunk : chunk.subarray(from, from + n), at + copied);
      copied += n;
      this.#cursorIndex = index;
      this.#cursorStart = start;
    }
    return copied;
  }

  /** One contiguous copy (made once, then cached). */
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
