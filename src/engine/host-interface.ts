import type { PlumeError } from '../errors.ts';
import type { Payload } from '../data/payload.ts';
import type { LockLease } from '../state/backend.ts';
import type { StateOp, StateOps } from '../state/service.ts';

/**
 * Host interfaces are plugins (Spin/wasmtime style): the engine knows only this file. Each plugin names the
 * import module it serves and the functions in it, and binds a fresh set of import functions to every
 * instance. The engine never imports a plugin; the executor hands it the list.
 */

/** The state of the invocation an instance is running now. One instance runs one invocation at a time. */
export interface CallState {
  readonly input: Payload;
  readonly output: Uint8Array[];
  outputBytes: number;
  readonly maxOutputBytes: number;
  /** Set by a guest through `plume_v1.fail`, or by a host call that failed fatally. */
  failMessage: string | undefined;
  /** Set by `plume_v1.refuse_input`: the failure is the input's fault, reported with this code. */
  failCode?: 'PLUME_EINPUT' | 'PLUME_ETOOBIG';
  /**
   * Set by a host call that failed for a reason that is not the guest's (the global state tier could not be
   * reached): if the call then fails, this is the error its caller gets, not the guest's own message.
   */
  hostFailure?: PlumeError;
  /** Set when a WASI command calls `proc_exit`. */
  exitCode: number | undefined;
  /** Set when a write was refused for passing `maxOutputBytes`: the invocation fails even if the guest goes on. */
  overflowed: boolean;
  /** Futures of the chained calls this invocation made (created on first use). */
  futures?: FutureTable;
  /** The executor's id of the outermost invocation this call serves (chained calls inherit it). */
  readonly root: number;
  /** Input bytes the guest copied into its memory (input_read, stdin): the hop's copy cost. */
  inputCopied: number;
  /** Hops of the whole call tree, shared by a call and its chained calls; created on the first hop. */
  trace?: Hop[];
  /** Locks this invocation holds; a guest refers to them by index + 1. */
  locks?: (LockLease | undefined)[];
}

/** What the executor provides to the instances of a thread (absent for a bare engine). */
export interface GuestServices {
  readonly calls?: CallService;
  readonly state?: StateClient;
}

/** Sends a state operation to the node's StateService (docs/state.md); the executor provides it. */
export interface StateClient {
  call<K extends StateOp>(op: K, args: StateOps[K]): Promise<unknown>;
}

/** One payload hand-off between functions, as the invocation's trace records it. */
export interface Hop {
  readonly from: string;
  readonly to: string;
  readonly mode: 'embedded' | 'local' | 'networked';
  readonly bytesMoved: number;
  readonly bytesCopied: number;
  readonly ms: number;
}

/** Starts chained calls for a guest; the executor provides it (the engine and the plugins only see this). */
export interface CallService {
  /** The callee's input limit in bytes, or undefined if `name` does not resolve (so `call` answers at once). */
  inputLimit(caller: InstanceHandle, name: string): number | undefined;
  /**
   * Run `name` (a deployed function, or `#export` of the caller's own module) on `input`, which may be a
   * pending output of another call. The input is handed over: the callee releases it once when done (a
   * caller passing on a payload it keeps retains it first). Rejects with a PlumeError (PLUME_ENOFUNC for an
   * unknown name).
   */
  start(caller: InstanceHandle, name: string, input: Payload | Promise<Payload>): Promise<Payload>;
}

/** A settled or pending chained call, as the guest's future handle refers to it. */
export interface Future {
  readonly promise: Promise<Payload>;
  output?: Payload | undefined;
  error?: { code: string; message: string };
  canceled?: boolean;
}

/** Future handles of one invocation: small integers, valid until it ends. */
export class FutureTable {
  readonly #entries: Future[] = [];

  add(promise: Promise<Payload>): number {
    const future: Future = { promise };
    // Record the outcome as soon as it is known, so future_read/future_error need no await; the handler
    // also keeps an unawaited failing call from becoming an unhandled rejection.
    promise.then(
      (output) => (future.output = output),
      (err: { code?: string; message?: string }) =>
        (future.error = { code: err?.code ?? 'PLUME_EFAILED', message: err?.message ?? String(err) }),
    );
    this.#entries.push(future);
    return this.#entries.length;
  }

  get(handle: number): Future | undefined {
    return this.#entries[handle - 1];
  }

  /**
   * `cancel`: the guest is done with this future. An output that is already there is let go of at once, so
   * a reader that cancels each future after reading it gives its pooled chunks back to the next producer
   * while they are still in cache; a pending one is released with the others when the invocation ends.
   */
  cancel(handle: number): boolean {
    const future = this.get(handle);
    if (!future) return false;
    future.canceled = true;
    future.output?.release();
    future.output = undefined;
    return true;
  }

  /** The invocation ended: it lets go of the outputs it holds (pooled chunks go back for reuse). */
  releaseAll(): void {
    for (const future of this.#entries) future.output?.release();
  }
}

export type LogLevel = 0 | 1 | 2 | 3;
export const LogLevelNames = ['debug', 'info', 'warn', 'error'] as const;

/** Per-function settings a host interface may read (capabilities are deny-by-default). */
export interface GuestConfig {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  /** Guest path → host directory; nothing is reachable unless listed. */
  readonly dirs: Readonly<Record<string, string>>;
}

/** What a plugin sees of one instance. */
export interface InstanceHandle {
  readonly memory: WebAssembly.Memory;
  readonly config: GuestConfig;
  readonly kind: 'reactor' | 'command';
  /** A stateful function keeps its instance, and what its host interfaces hold for it, between calls. */
  readonly stateful: boolean;
  /** The running invocation; undefined between invocations (init runs with an empty call). */
  readonly call: CallState;
  /** Chained calls; undefined where no executor is attached (snapshots, benchmarks of the bare engine). */
  readonly calls: CallService | undefined;
  /** The state tiers; undefined where no executor is attached. */
  readonly state: StateClient | undefined;
  log(level: LogLevel, message: string): void;
}

export type ImportFunction = (...args: never[]) => unknown;

export interface HostInterface {
  /** The import module name, for example `plume_v1`. */
  readonly module: string;
  /** Whether this plugin provides `name`; deploy uses it to refuse unknown imports by name. */
  provides(name: string): boolean;
  /**
   * Whether `name` may suspend the guest (JSPI) for a function deployed with `config`; a module importing
   * one is called through `promising`. `bind` must wrap exactly those in `WebAssembly.Suspending`.
   */
  suspends(name: string, config: GuestConfig): boolean;
  /** Import functions for one instance. Suspending ones must already be wrapped in `WebAssembly.Suspending`. */
  bind(instance: InstanceHandle): Record<string, unknown>;
  /** Called once the instance exists (for plugins that need its exports). */
  attach?(instance: InstanceHandle, exports: WebAssembly.Exports): void;
  /** Called when an invocation of the instance ended, so per-call state (open descriptors) can be dropped. */
  end?(instance: InstanceHandle): void;
}

/** Thrown through the guest's stack when a WASI command calls `proc_exit`; the engine turns it into an exit code. */
export class GuestExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`guest exited with code ${exitCode}`);
    this.exitCode = exitCode;
  }
}
