/**
 * Pre-faulted linear memories. Restoring a snapshot into a fresh `WebAssembly.Memory` is dominated by page
 * faults (~0.5 ms for 1 MiB) while copying into memory that was already touched costs ~0.02 ms, so memories
 * are faulted in ahead of need, off the invocation path, and handed out by shape.
 */
export interface MemoryShape {
  readonly initial: number;
  readonly maximum: number;
  readonly shared: boolean;
}

const keyOf = (s: MemoryShape): string => `${s.initial}:${s.maximum}:${s.shared ? 1 : 0}`;

export class MemoryPool {
  readonly #free = new Map<string, WebAssembly.Memory[]>();
  readonly #target: number;
  #refillScheduled = false;
  readonly #wanted = new Map<string, MemoryShape>();

  /** `target`: how many spare memories to keep per shape. */
  constructor(target = 2) {
    this.#target = target;
  }

  /** A memory of that shape, pre-faulted when the pool had one; a fresh, lazily-faulted one otherwise. */
  take(shape: MemoryShape): WebAssembly.Memory {
    const key = keyOf(shape);
    this.#wanted.set(key, shape);
    const memory = this.#free.get(key)?.pop();
    this.#scheduleRefill();
    return memory ?? create(shape, false);
  }

  /** Fault in spares now (for benchmarks and start-up); normally refills happen on an idle tick. */
  fill(shape: MemoryShape, count = this.#target): void {
    const key = keyOf(shape);
    this.#wanted.set(key, shape);
    const list = this.#free.get(key) ?? [];
    this.#free.set(key, list);
    while (list.length < count) list.push(create(shape, true));
  }

  get spare(): number {
    let n = 0;
    for (const list of this.#free.values()) n += list.length;
    return n;
  }

  #scheduleRefill(): void {
    if (this.#refillScheduled || this.#target === 0) return;
    this.#refillScheduled = true;
    // setImmediate runs after pending I/O, so refills do not delay the invocations that triggered them.
    setImmediate(() => {
      this.#refillScheduled = false;
      for (const [key, shape] of this.#wanted) {
        if ((this.#free.get(key)?.length ?? 0) < this.#target) this.fill(shape);
      }
    }).unref();
  }
}

function create(shape: MemoryShape, prefault: boolean): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: shape.initial, maximum: shape.maximum, shared: shape.shared });
  // Writing one byte per 4 KiB OS page faults it in; the values stay zero.
  if (prefault) {
    const u8 = new Uint8Array(memory.buffer);
    for (let i = 0; i < u8.length; i += 4096) u8[i] = 0;
  }
  return memory;
}
