/** Messages over postMessage between the executor (main thread) and its workers. Hot-path traffic uses the rings. */
import type { SerializedError } from '../errors.ts';
import type { FunctionDefinition, Snapshot } from '../engine/definition.ts';
import type { Hop } from '../host/interface.ts';
import type { StateOp, StateOps } from '../state/service.ts';

export interface WorkerInit {
  /** main → worker invocations. */
  readonly requests: SharedArrayBuffer;
  /** worker → main results. */
  readonly results: SharedArrayBuffer;
}

export type ToWorker =
  | { readonly type: 'register'; readonly def: FunctionDefinition }
  | { readonly type: 'unregister'; readonly id: number }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly def: FunctionDefinition }
  | { readonly type: 'prewarm'; readonly requestId: number; readonly id: number; readonly count: number; readonly exercise: boolean }
  | { readonly type: 'trim'; readonly id: number; readonly keep: number }
  /** Fallback for inputs too big for the ring, or when it is full. */
  | { readonly type: 'invoke'; readonly callId: number; readonly id: number; readonly input: Uint8Array }
  | { readonly type: 'state-reply'; readonly requestId: number; readonly result?: unknown; readonly error?: SerializedError };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'snapshot'; readonly requestId: number; readonly snapshot?: Snapshot; readonly error?: SerializedError }
  | { readonly type: 'prewarmed'; readonly requestId: number; readonly idle: number }
  | { readonly type: 'log'; readonly fn: string; readonly level: number; readonly message: string }
  | { readonly type: 'trace'; readonly callId: number; readonly trace: Hop[] }
  | { readonly type: 'state'; readonly requestId: number; readonly op: StateOp; readonly args: StateOps[StateOp] }
  /** Fallback for outputs too big for the ring, or when it is full. */
  | {
      readonly type: 'result';
      readonly callId: number;
      readonly output?: Uint8Array;
      readonly exitCode?: number;
      readonly error?: SerializedError;
    };
