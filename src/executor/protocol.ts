/** Messages over postMessage between the executor (main thread) and its workers. Hot-path traffic uses the rings. */
import type { Transferable } from 'node:worker_threads';
import type { SerializedError } from '../errors.ts';
import type { FunctionDefinition, Snapshot } from '../engine/definition.ts';
import type { Hop } from '../engine/host-interface.ts';
import type { ModelMeta } from '../inference/tensor.ts';
import type { StateOp, StateOps } from '../state/service.ts';

/** The ArrayBuffer `view` covers whole, which postMessage can transfer instead of cloning; else undefined. */
export function wholeBuffer(view: Uint8Array): ArrayBuffer | undefined {
  const buffer = view.buffer;
  return buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength ? buffer : undefined;
}

/**
 * An input too big for the ring goes by postMessage. A caller that keeps its buffer gets it copied once into
 * one we own, which is transferred (postMessage would otherwise clone it, a second full copy: ~150 ms at
 * 100 MB); the executor keeps the caller's view (`keep`) to run the call again if its worker is replaced
 * before it started, as it does for inputs that went through the ring. (A copy into a SharedArrayBuffer,
 * kept for that instead, measured 356 against 429 req/s for `plume bench gateway`'s node-http+invoke 1 MiB
 * echo with 16 clients, one run each, same session.) A caller that gives it up
 * (`transfer`) pays no copy: a SharedArrayBuffer is shared as it is (a pooled receive buffer,
 * docs/dataplane.md), an ArrayBuffer the view covers whole is transferred (and cannot run again).
 */
export function handOver(
  input: Uint8Array,
  transfer: boolean,
): { input: Uint8Array; transfer: Transferable[]; keep: Uint8Array | undefined } {
  if (transfer && input.buffer instanceof SharedArrayBuffer) return { input, transfer: [], keep: input };
  const whole = transfer ? wholeBuffer(input) : undefined;
  if (whole) return { input, transfer: [whole], keep: undefined };
  const owned = input.slice();
  return { input: owned, transfer: [owned.buffer], keep: input };
}

export interface WorkerInit {
  /** main → worker invocations. */
  readonly requests: SharedArrayBuffer;
  /** worker → main results. */
  readonly results: SharedArrayBuffer;
  /** The calls this worker started (layout.ts, STARTED_SLOTS). */
  readonly started: SharedArrayBuffer;
  /** ONNX Runtime intra-op threads for this worker's sessions (docs/wasi-nn.md). */
  readonly inferenceThreads: number;
  /** Models registered on the node so far (a replacement worker starts with them). */
  readonly models: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  /** Functions that other nodes serve (name → their input limit), so far. */
  readonly remoteFunctions: readonly (readonly [string, number])[];
  /** Every version registered so far: a fresh worker has them all before it takes its first call. */
  readonly defs: readonly FunctionDefinition[];
}

/** How a chained call that ran on another node went: the transport's hop, for the caller's trace. */
export interface RemoteHop {
  readonly node: string;
  readonly mode: 'local' | 'networked';
  readonly bytesMoved: number;
  readonly bytesCopied: number;
}

/** One function version's instances on one worker. */
export interface WorkerPoolStats {
  readonly id: number;
  readonly idle: number;
  readonly busy: number;
  readonly coldStarts: number;
  readonly invocations: number;
  readonly instancesReplaced: number;
}

export type ToWorker =
  /** Answered by 'registered' when `requestId` is set. */
  | { readonly type: 'register'; readonly def: FunctionDefinition; readonly requestId?: number }
  | { readonly type: 'unregister'; readonly id: number }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly def: FunctionDefinition }
  | { readonly type: 'prewarm'; readonly requestId: number; readonly id: number; readonly count: number; readonly exercise: boolean }
  | { readonly type: 'trim'; readonly id: number; readonly keep: number }
  | { readonly type: 'stats'; readonly requestId: number }
  /** Answered by 'quiesced' once no model session is being created: the worker may then be terminated. */
  | { readonly type: 'quiesce'; readonly requestId: number }
  /** Register a model for wasi-nn `load_by_name`; answered by 'model-done' once its session exists. */
  | { readonly type: 'model-add'; readonly requestId: number; readonly name: string; readonly bytes: Uint8Array }
  | { readonly type: 'model-remove'; readonly requestId: number; readonly name: string }
  /** Fallback for inputs too big for the ring, or when it is full. */
  | { readonly type: 'invoke'; readonly callId: number; readonly id: number; readonly input: Uint8Array }
  /** The answer to a worker's 'state' or 'remote-call' request: a state result, or `{ output, hop }`. */
  | { readonly type: 'reply'; readonly requestId: number; readonly result?: unknown; readonly error?: SerializedError }
  /** The functions other nodes serve changed (docs/dataplane.md, Peers): chained calls may name these. */
  | { readonly type: 'remote-functions'; readonly functions: readonly (readonly [string, number])[] };

export type FromWorker =
  /** `tid`: the thread's id on Linux, so the executor can lower the priority of a call that runs long. */
  | { readonly type: 'ready'; readonly tid?: number }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly snapshot?: Snapshot; readonly error?: SerializedError }
  | { readonly type: 'prewarmed'; readonly requestId: number; readonly idle: number }
  | { readonly type: 'registered'; readonly requestId: number }
  | { readonly type: 'quiesced'; readonly requestId: number }
  | { readonly type: 'stats'; readonly requestId: number; readonly stats: readonly WorkerPoolStats[] }
  | { readonly type: 'model-done'; readonly requestId: number; readonly meta?: ModelMeta; readonly error?: string }
  | { readonly type: 'log'; readonly fn: string; readonly level: number; readonly message: string }
  | { readonly type: 'state'; readonly requestId: number; readonly op: StateOp; readonly args: StateOps[StateOp] }
  /** A chained call to a function another node serves: the main thread holds the peer links. */
  | { readonly type: 'remote-call'; readonly requestId: number; readonly name: string; readonly input: Uint8Array }
  /** Fallback for outputs too big for the ring, or when it is full; carries the call's trace too (one channel per call). */
  | {
      readonly type: 'result';
      readonly callId: number;
      readonly trace?: Hop[];
      readonly output?: Uint8Array;
      readonly exitCode?: number;
      /** As a ring record's flags: RecordFlag bits and the run time (RUN_US_SHIFT). */
      readonly flags: number;
      readonly error?: SerializedError;
    };
