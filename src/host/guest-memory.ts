/**
 * Views over a guest's linear memory. A `memory.grow` detaches the old ArrayBuffer, so views are rebuilt
 * whenever the buffer changed; between grows the cached views are reused (host calls are hot).
 */
export class GuestMemory {
  readonly memory: WebAssembly.Memory;
  #buffer: ArrayBuffer | undefined;
  #u8 = new Uint8Array(0);
  #view = new DataView(new ArrayBuffer(0));

  /** Whether the memory is a SharedArrayBuffer (its views are copied with Buffer's memmove, see copyBytes). */
  readonly shared: boolean;

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
    this.shared = memory.buffer instanceof SharedArrayBuffer;
  }

  #refresh(): void {
    // A grow detaches a private buffer (its length reads 0), so a live one needs no call into the engine;
    // a shared memory's buffer never detaches, so it is asked every time.
    const cached = this.#buffer;
    if (cached !== undefined && cached.byteLength !== 0 && !this.shared) return;
    const buffer = this.memory.buffer as ArrayBuffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#u8 = new Uint8Array(buffer);
      this.#view = new DataView(buffer);
    }
  }

  get u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }

  get view(): DataView {
    this.#refresh();
    return this.#view;
  }

  /** True when [ptr, ptr+len) lies inside memory. Pointers arrive as signed i32: callers pass `>>> 0`. */
  inBounds(ptr: number, len: number): boolean {
    return ptr + len <= this.u8.length;
  }
}
