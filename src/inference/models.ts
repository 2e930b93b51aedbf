/**
 * The models of one thread (each executor worker has its own): models registered on the node by name, and
 * models guests loaded from bytes, both keyed by content hash so one set of bytes makes one session per
 * worker, shared by every instance on it. Sessions live on this thread's inference thread.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { batchable, TensorBatcher } from './batching.ts';
import { InferenceThread, type RunResult } from './inference-thread.ts';
import type { ModelMeta, TensorData } from './tensor.ts';

/** A loaded model as a guest's graph handle refers to it. */
export interface Graph {
  readonly key: string;
  /** The registered name, or `sha256:<prefix>` for a model loaded from bytes. */
  readonly name: string;
  readonly meta: ModelMeta;
  /** Every input and output has a dynamic first dim, so concurrent computes are batched (batching.ts). */
  readonly batchable: boolean;
}

/** What a session's creation tells about its model, worked out once per session. */
type Loaded = Pick<Graph, 'meta' | 'batchable'>;

interface Entry {
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Set while (or once) the session of this entry exists on the inference thread. */
  loading: Promise<Loaded> | undefined;
}

/**
 * Models guests loaded from bytes stay cached (session and bytes) up to this many per worker, least recently
 * loaded out first: a guest that loads its model on every call pays the hash, not a new session.
 */
const BYTES_CACHE = 8;

export class ModelRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #names = new Map<string, string>();
  /** Keys of models loaded from bytes, least recently loaded first. */
  readonly #loadedFromBytes: string[] = [];
  /** Batchers of the models whose first dim is dynamic, by key (created on first compute). */
  readonly #batchers = new Map<string, TensorBatcher>();
  #thread: InferenceThread | undefined;
  #threads = Math.max(1, availableParallelism());

  /** ONNX Runtime's intra-op threads for sessions created from now on (the executor sizes it per worker). */
  configure(options: { threads: number }): void {
    this.#threads = Math.max(1, Math.floor(options.threads));
    if (!this.#thread) return;
    void this.#thread.close();
    this.#thread = undefined;
    this.#sessionsGone();
  }

  /** Sessions died with the inference thread: every entry loads again on its next use. */
  #sessionsGone(): void {
    this.#entries.forEach((e) => (e.loading = undefined));
  }

  /**
   * Names the model and creates its session, rejecting with ONNX Runtime's message if it cannot (the name
   * then goes back to what it was). The name resolves at once: a guest asking meanwhile waits for the session.
   */
  async register(name: string, bytes: Uint8Array): Promise<ModelMeta> {
    const key = hash(bytes);
    const previous = this.#names.get(name);
    const loading = this.#load(key, bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice());
    this.#names.set(name, key);
    let meta: ModelMeta;
    try {
      ({ meta } = await loading);
    } catch (err) {
      if (this.#names.get(name) === key) {
        if (previous === undefined) this.#names.delete(name);
        else this.#names.set(name, previous);
      }
      throw err;
    }
    if (previous !== undefined && previous !== key) this.#forgetIfUnused(previous);
    return meta;
  }

  /** Resolves once no session is being created (terminating a thread mid-creation aborts the process). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#entries.values()].map((e) => e.loading));
  }

  unregister(name: string): void {
    const key = this.#names.get(name);
    this.#names.delete(name);
    if (key !== undefined) this.#forgetIfUnused(key);
  }

  /** The graph of a registered model, or undefined if no model has that name here. */
  async byName(name: string): Promise<Graph | undefined> {
    const key = this.#names.get(name);
    if (key === undefined) return undefined;
    return { key, name, ...(await this.#load(key, this.#entries.get(key)!.bytes)) };
  }

  /** The graph of a model given as bytes (a view into guest memory: copied only if not cached yet). */
  async fromBytes(view: Uint8Array): Promise<Graph> {
    const key = hash(view);
    const at = this.#loadedFromBytes.indexOf(key);
    if (at >= 0) this.#loadedFromBytes.splice(at, 1);
    this.#loadedFromBytes.push(key);
    if (this.#loadedFromBytes.length > BYTES_CACHE) this.#forgetIfUnused(this.#loadedFromBytes.shift()!);
    const bytes = this.#entries.get(key)?.bytes ?? view.slice();
    return { key, name: `sha256:${key.slice(0, 12)}`, ...(await this.#load(key, bytes)) };
  }

  /** One compute; concurrent ones on a model with a dynamic first dim are batched (batching.ts). */
  run(graph: Graph, inputs: readonly TensorData[]): Promise<RunResult> {
    const run = (batch: readonly TensorData[]): Promise<RunResult> => this.#inference().run(graph.key, batch);
    if (!graph.batchable) return run(inputs);
    let batcher = this.#batchers.get(graph.key);
    if (!batcher) this.#batchers.set(graph.key, (batcher = new TensorBatcher(graph.name, run)));
    return batcher.submit(inputs);
  }

  #load(key: string, bytes: Uint8Array<ArrayBuffer>): Promise<Loaded> {
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, (entry = { bytes, loading: undefined }));
    if (!entry.loading) {
      const loading = this.#inference()
        .load(key, bytes)
        .then((meta) => ({ meta, batchable: batchable(meta) }));
      entry.loading = loading;
      // A model that failed to load is not kept: the next attempt tries again (and fails again, loudly).
      loading.catch(() => {
        if (this.#entries.get(key)?.loading === loading) this.#entries.delete(key);
      });
    }
    return entry.loading;
  }

  /** Drops a session once neither a name nor the bytes cache refers to it. */
  #forgetIfUnused(key: string): void {
    if ([...this.#names.values()].includes(key) || this.#loadedFromBytes.includes(key)) return;
    this.#entries.delete(key);
    this.#batchers.get(key)?.close();
    this.#batchers.delete(key);
    this.#thread?.drop(key);
  }

  #inference(): InferenceThread {
    if (!this.#thread) {
      this.#thread = new InferenceThread({ intraOpThreads: this.#threads });
      this.#thread.onLost = () => this.#sessionsGone();
    }
    return this.#thread;
  }
}

function hash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** This thread's models: each executor worker (and the main thread) has its own. */
export const models = new ModelRegistry();
