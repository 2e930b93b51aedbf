/**
 * The local tier (Faasm's): this node's copies of global values, in front of a StateBackend. Reads and
 * writes are local and synchronous; only pull and push talk to the global tier, so they alone fail when it
 * is away. A value is held in fixed-size chunks, each a growable SharedArrayBuffer: worker threads can map
 * a chunk without a copy, growing a value never moves its bytes, and push sends back only the chunks that
 * were written.
 */
import { checkBytes, checkIndex, checkSize, keyId, type StateBackend, type StateKey } from './backend.ts';

export interface LocalTierOptions {
  /** Bytes per chunk, the unit of dirty tracking and of push. Default 64 KiB (one Wasm page). */
  chunkBytes?: number;
}

export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** Bytes past `length` are always zero, so a value that grows reads zeros there, as setRange pads. */
interface LocalValue {
  chunks: SharedArrayBuffer[];
  length: number;
  dirty: Set<number>;
}

export class LocalTier {
  readonly chunkBytes: number;
  #backend: StateBackend;
  #values = new Map<string, LocalValue>();
  #shared = new Map<string, Promise<SharedArrayBuffer | undefined>>();

  constructor(backend: StateBackend, options: LocalTierOptions = {}) {
    const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1)
      throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
    this.chunkBytes = chunkBytes;
    this.#backend = backend;
  }

  /**
   * Replaces the local copy with the global value, unpushed writes included; resolves to the version
   * pulled, or undefined (and drops the local copy) when the key does not exist globally. Chunks are
   * rewritten in place, so views of them stay valid.
   */
  async pull(key: StateKey): Promise<number | undefined> {
    const got = await this.#backend.get(key);
    const id = keyId(key);
    if (!got) {
      this.#values.delete(id);
      return undefined;
    }
    let local = this.#values.get(id);
    if (!local) this.#values.set(id, (local = { chunks: [], length: 0, dirty: new Set() }));
    this.#resize(local, got.value.length);
    this.#copyIn(local, 0, got.value);
    local.dirty.clear();
    return got.version;
  }

  /**
   * Writes the dirty chunks back, one setRange per run of adjacent ones; resolves to the global version
   * after the last, or undefined when nothing was dirty. The bytes sent are those at the time of the call.
   * If a setRange fails, the chunks not known to be written are dirty again and the error is thrown.
   */
  async push(key: StateKey): Promise<number | undefined> {
    const local = this.#values.get(keyId(key));
    if (!local || local.dirty.size === 0) return undefined;
    const runs = this.#dirtyRuns(local).map(([first, last]) => {
      const start = first * this.chunkBytes;
      const end = Math.min((last + 1) * this.chunkBytes, local.length);
      return { first, last, start, bytes: this.#copyOut(local, start, end - start) };
    });
    local.dirty.clear();
    let version: number | undefined;
    for (const [i, run] of runs.entries()) {
      try {
        version = await this.#backend.setRange(key, run.start, run.bytes);
      } catch (e) {
        for (const { first, last } of runs.slice(i)) for (let c = first; c <= last; c++) local.dirty.add(c);
        throw e;
      }
    }
    return version;
  }

  /** Up to `length` bytes from `offset` of the local copy, cut at its end; undefined if none is held. */
  read(key: StateKey, offset: number, length: number): Uint8Array | undefined {
    checkIndex('offset', offset);
    checkIndex('length', length);
    const local = this.#values.get(keyId(key));
    if (!local) return undefined;
    const start = Math.min(offset, local.length);
    return this.#copyOut(local, start, Math.min(length, local.length - start));
  }

  /** Writes into the local copy (creating it, zero-padded, as needed) and marks the chunks written as dirty. */
  write(key: StateKey, offset: number, bytes: Uint8Array): void {
    checkIndex('offset', offset);
    checkBytes('bytes', bytes);
    if (bytes.length === 0) return;
    const end = offset + bytes.length;
    checkSize(key, end, this.#backend.maxValueBytes);
    const id = keyId(key);
    let local = this.#values.get(id);
    if (!local) this.#values.set(id, (local = { chunks: [], length: 0, dirty: new Set() }));
    if (end > local.length) this.#resize(local, end);
    this.#copyIn(local, offset, bytes);
    for (let c = Math.floor(offset / this.chunkBytes); c <= Math.floor((end - 1) / this.chunkBytes); c++) local.dirty.add(c);
  }

  /** The local copy's length in bytes; undefined if none is held. */
  size(key: StateKey): number | undefined {
    return this.#values.get(keyId(key))?.length;
  }

  /** The local copy's chunks, to map in another thread without copying; chunk i holds bytes [i·chunkBytes, …). */
  chunks(key: StateKey): readonly SharedArrayBuffer[] | undefined {
    return this.#values.get(keyId(key))?.chunks.slice();
  }

  /**
   * One shared copy per node of a value that nobody writes (model weights, dictionaries): the first call
   * fetches it, every later or concurrent one gets the same SharedArrayBuffer. Callers must not write to
   * it. A missing key or a failed fetch is not remembered, so a later call tries again; a fetched value is
   * kept, even if it changes globally, until `drop`.
   */
  readOnlyShared(key: StateKey): Promise<SharedArrayBuffer | undefined> {
    const id = keyId(key);
    let shared = this.#shared.get(id);
    if (!shared) {
      const loading = this.#loadShared(key);
      const forget = (): void => {
        if (this.#shared.get(id) === loading) this.#shared.delete(id);
      };
      loading.then((buffer) => {
        if (!buffer) forget();
      }, forget);
      this.#shared.set(id, (shared = loading));
    }
    return shared;
  }

  /** Forgets this node's copies of the key (unpushed writes included). */
  drop(key: StateKey): void {
    const id = keyId(key);
    this.#values.delete(id);
    this.#shared.delete(id);
  }

  async #loadShared(key: StateKey): Promise<SharedArrayBuffer | undefined> {
    const got = await this.#backend.get(key);
    if (!got) return undefined;
    const buffer = new SharedArrayBuffer(got.value.length);
    new Uint8Array(buffer).set(got.value);
    return buffer;
  }

  /** Grows chunks (in place, up to chunkBytes) or zeroes and drops them, keeping bytes past the end zero. */
  #resize(local: LocalValue, length: number): void {
    const size = this.chunkBytes;
    if (length < local.length) {
      for (let c = Math.floor(length / size); c < local.chunks.length; c++) {
        new Uint8Array(local.chunks[c]!).fill(0, Math.max(length - c * size, 0));
      }
      local.chunks.length = Math.ceil(length / size);
      for (const c of local.dirty) if (c >= local.chunks.length) local.dirty.delete(c);
    }
    for (let c = 0; c < Math.ceil(length / size); c++) {
      const needed = Math.min(size, length - c * size);
      const chunk = local.chunks[c];
      if (!chunk) local.chunks[c] = new SharedArrayBuffer(needed, { maxByteLength: size });
      else if (chunk.byteLength < needed) chunk.grow(needed);
    }
    local.length = length;
  }

  #copyIn(local: LocalValue, offset: number, bytes: Uint8Array): void {
    this.#eachSpan(local, offset, bytes.length, (chunk, at, done, n) => chunk.set(bytes.subarray(done, done + n), at));
  }

  #copyOut(local: LocalValue, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.#eachSpan(local, offset, length, (chunk, at, done, n) => out.set(chunk.subarray(at, at + n), done));
    return out;
  }

  /** Calls `span` for each chunk's share of [offset, offset + length): (chunk, offset in it, bytes before, count). */
  #eachSpan(
    local: LocalValue,
    offset: number,
    length: number,
    span: (chunk: Uint8Array, at: number, done: number, n: number) => void,
  ): void {
    for (let done = 0; done < length;) {
      const c = Math.floor((offset + done) / this.chunkBytes);
      const at = (offset + done) % this.chunkBytes;
      const n = Math.min(this.chunkBytes - at, length - done);
      span(new Uint8Array(local.chunks[c]!), at, done, n);
      done += n;
    }
  }

  /** Runs of adjacent dirty chunks, as [first, last] chunk indices. */
  #dirtyRuns(local: LocalValue): [number, number][] {
    const runs: [number, number][] = [];
    for (const c of [...local.dirty].sort((a, b) => a - b)) {
      const run = runs.at(-1);
      if (run && run[1] === c - 1) run[1] = c;
      else runs.push([c, c]);
    }
    return runs;
  }
}
