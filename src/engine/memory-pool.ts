/**
 * Pre-faulted linear memories. Restoring a snapshot into a fresh `WebAssembly.Memory` is dominated by page
 * faults (~0.5 ms for 1 MiB) while copying into memory that was already touched costs far less, so memories
 * are faulted in ahead of need, off the invocation path, and handed out by shape. Memories of dropped
 * instances come back (`give`) and go out first: they are faulted in and likely still in cache, but dirty,
 * so their taker must overwrite them whole.
 */
import { faultIn } from '../data/fault-in.ts';

export interface MemoryShape {
  readonly initial: number;
  readonly maximum: number;
  readonly shared: boolean;
}

const keyOf = (s: MemoryShape): string => `${s.initial}:${s.maximum}:${s.shared ? 1 : 0}`;

export class MemoryPool {
  readonly #free = new Map<string, WebAssembly.Memory[]>();
  readonly #dirty = new Map<string, WebAssembly.Memory[]>();
  /** Dirty memories kept per shape; more are left to the garbage collector. */
  readonly #maxDirty = 64;
  readonly #target: number;
  #refillScheduled = false;
  readonly #wanted = new Map<string, MemoryShape>();

  /** `target`: how many spare memories to keep per shape. */
  constructor(target = 2) {
    this.#target = target;
  }

  /**
   * A memory of that shape: a returned one (`dirty`: holds old bytes), else a pre-faulted one, else a
   * fresh, lazily-faulted one. Only non-dirty memories are all zero; only the fresh one is not resident.
   */
  take(shape: MemoryShape): { memory: WebAssembly.Memory; dirty: boolean; resident: boolean } {
    const key = keyOf(shape);
    const recycled = this.#dirty.get(key)?.pop();
    if (recycled) return { memory: recycled, dirty: true, resident: true };
    this.#wanted.set(key, shape);
    const memory = this.#free.get(key)?.pop();
    this.#scheduleRefill();
    return memory ? { memory, dirty: false, resident: true } : { memory: create(shape, false), dirty: false, resident: false };
  }

  /** A lazily-faulted memory, none of it resident: for an instance that is to sit idle (see InstancePool). */
  fresh(shape: MemoryShape): WebAssembly.Memory {
    return create(shape, false);
  }

  /** Take back the memory of a dropped instance; it must still have the shape's size (no grow). */
  give(shape: MemoryShape, memory: WebAssembly.Memory): void {
    if (memory.buffer.byteLength !== shape.initial * 65536) return;
    const key = keyOf(shape);
    let list = this.#dirty.get(key);
    if (!list) this.#dirty.set(key, (list = []));
    if (list.length < this.#maxDirty) list.push(memory);
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
  if (prefault) faultIn(new Uint8Array(memory.buffer));
  return memory;
}
