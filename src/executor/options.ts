/** The executor's options and what it reports: per-call hints, per-version pool counts. */
import type { LogLevel } from '../engine/host-interface.ts';
import type { StateService } from '../state/service.ts';
import type { RemoteHop } from './protocol.ts';

/** Per-call hints for the scheduler. */
export interface InvokeOptions {
  /** Prefer this worker (the one that ran the previous step): same thread is the cheapest edge. */
  readonly near?: number;
  /**
   * The caller gives up `input`: it is handed to the worker without a copy (a SharedArrayBuffer is
   * shared, an ArrayBuffer the view covers whole is transferred and detached here). The caller must not
   * touch a shared one until the call settles. Default false: the input is copied when it goes to a worker.
   */
  readonly transfer?: boolean;
}

/** A function version's instances on all workers, and what waits for them. */
export interface PoolStats {
  readonly instances: { readonly idle: number; readonly busy: number };
  /** Calls that had to create an instance (no idle one). */
  readonly coldStarts: number;
  /** Calls the instances ran (a batch counts once; chained calls count too). */
  readonly invocations: number;
  /** Instances made off the call path, no call waiting for them: lean replacements of idle or grown ones. */
  readonly instancesReplaced: number;
  /** Calls waiting for a concurrency slot. */
  readonly queueDepth: number;
}

export interface ExecutorOptions {
  /** Worker threads; default one per core. */
  readonly workers?: number;
  /** Bytes of each ring (power of two); default 4 MiB. */
  readonly ringBytes?: number;
  readonly onLog?: (fn: string, level: LogLevel, message: string) => void;
  /** Answers the guests' state operations (the runtime always passes one). */
  readonly state?: StateService;
  /**
   * Memory a worker may hold (its instances' Wasm memories and its buffers) before placement stops giving it
   * calls while another worker has room, in MiB; default no limit (docs/scheduler.md, Memory).
   */
  readonly workerMemoryMb?: number;
  /** Runs a chained call to a function another node serves (the runtime passes its peer links). */
  readonly remote?: (name: string, input: Uint8Array) => Promise<{ output: Uint8Array; hop: RemoteHop }>;
}
