/** Messages between a thread (an executor worker, or the main thread) and its inference thread. */
import type { ModelMeta, TensorData } from './tensor.ts';

export interface InferenceInit {
  /** ONNX Runtime's intra-op threads per session (docs/wasi-nn.md: threads). */
  readonly intraOpThreads: number;
}

export type ToInference =
  /** Create the session of `key` from `bytes` (a copy this thread owns; transferred). */
  | { readonly type: 'load'; readonly id: number; readonly key: string; readonly bytes: Uint8Array<ArrayBuffer> }
  /** Inputs in the model's input order; their buffers are transferred and come back with the reply. */
  | { readonly type: 'run'; readonly id: number; readonly key: string; readonly inputs: readonly TensorData[] }
  | { readonly type: 'drop'; readonly key: string };

export type FromInference =
  | { readonly type: 'loaded'; readonly id: number; readonly meta: ModelMeta }
  /** Outputs in the model's output order; `inputs` are the run's input buffers, handed back. */
  | { readonly type: 'ran'; readonly id: number; readonly outputs: TensorData[]; readonly inputs: readonly TensorData[] }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly inputs?: readonly TensorData[] };

/** The buffers of `tensors` to transfer, each once (a detached buffer in the list twice is a DataCloneError). */
export function transferList(tensors: readonly TensorData[]): ArrayBuffer[] {
  return [...new Set(tensors.map((t) => t.data.buffer))];
}
