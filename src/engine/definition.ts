/** What a deployed function version is, as every worker receives it (structured-cloneable). */
import type { GuestConfig } from './host-interface.ts';

export const PAGE_BYTES = 65536;

/** How a function's calls are batched (src/scheduler/batcher.ts implements it; docs/scheduler.md). */
export type BatchMode = 'none' | 'fixed' | 'adaptive';

export interface BatchPolicy {
  readonly mode: BatchMode;
  /** Most items in one batch: default 10 (fixed, Ray Serve's max_batch_size) or 32 (adaptive). */
  readonly maxSize?: number;
  /** fixed: how long a forming batch waits for more items; default 10 ms (Ray Serve's batch_wait_timeout_s). */
  readonly maxWaitMs?: number;
  /** adaptive: the p90 latency objective in ms that caps batch size; default none (capped by maxSize only). */
  readonly targetP90Ms?: number;
  /** fixed and adaptive: batches that may run at once; default 1 (the runtime passes its worker count). */
  readonly capacity?: number;
}

export interface Limits {
  /** Linear memory ceiling; `memory.grow` past it fails in the guest. */
  readonly memoryMb: number;
  /** Wall-clock limit per invocation, queueing excluded. */
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** The largest input accepted, from a client or a chained call. */
  readonly maxInputBytes: number;
  /** Invocations of this function running at once; more wait in a queue. */
  readonly maxConcurrency: number;
}

/** How long an instance may stay idle before its worker drops it (scale down; see docs/scheduler.md). */
export const DEFAULT_IDLE_MS = 30_000;

/** How many calls of a function run at once: one for a stateful function (its one instance), else its limit. */
export function concurrencyOf(f: { readonly stateful: boolean; readonly limits: Pick<Limits, 'maxConcurrency'> }): number {
  return f.stateful ? 1 : f.limits.maxConcurrency;
}

/** Function, model and workflow names: letters, digits, '.', '_', '-', at most 63, not starting with a sign. */
export const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

export const DEFAULT_LIMITS: Limits = {
  memoryMb: 256,
  timeoutMs: 30_000,
  maxOutputBytes: 64 * 1024 * 1024,
  maxInputBytes: 256 * 1024 * 1024,
  maxConcurrency: 1024,
};

/** Linear memory and mutable globals right after init: every invocation starts here (Faasm's Proto-Faaslet). */
export interface Snapshot {
  readonly pages: number;
  /** The memory's bytes up to its last non-zero byte; the rest is zero. Shared read-only by all workers. */
  readonly data: SharedArrayBuffer;
  readonly globals: readonly (number | bigint)[];
  /**
   * Bytes past this offset are zero in a freshly instantiated memory (data segments end before it), so a
   * new instance writes the snapshot and zeroes only [data.length, freshEnd): a one-page function touches
   * one OS page, not 64 KiB.
   */
  readonly freshEnd: number;
}

export interface FunctionDefinition {
  /** Unique per version in this runtime; workers key instances by it. */
  readonly id: number;
  readonly name: string;
  readonly version: number;
  readonly module: WebAssembly.Module;
  readonly kind: 'reactor' | 'command';
  /** The export invoked per call: `run` (or the configured entry) for reactors, `_start` for commands. */
  readonly entry: string;
  /** Import modules the guest uses; only their host interfaces are bound. */
  readonly importModules: readonly string[];
  /** True when a guest import may suspend: the entry is then called through `WebAssembly.promising`. */
  readonly suspends: boolean;
  readonly stateful: boolean;
  readonly memoryImport: { readonly module: string; readonly name: string } | undefined;
  readonly memoryMinPages: number;
  /** Effective ceiling: the smaller of the module's own maximum and the memory limit. */
  readonly memoryMaxPages: number;
  readonly sharedMemory: boolean;
  /** Function exports of type `() -> i32`: the entries a chained call may name as `#export`. */
  readonly callableExports: readonly string[];
  /** Export names of the mutable globals (`__plume_global_N`), in snapshot order. */
  readonly globals: readonly string[];
  readonly hasStart: boolean;
  readonly limits: Limits;
  /** Each worker drops an instance that stayed idle this long (beyond `minWarm`); the snapshot stays. */
  readonly idleMs: number;
  /** Idle instances each worker keeps however long they stay unused (made at deploy). */
  readonly minWarm: number;
  readonly config: GuestConfig;
  readonly snapshot: Snapshot | undefined;
}
