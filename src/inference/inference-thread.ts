/**
 * The calling side of an inference thread (session-thread.ts): started on first use, it holds this
 * thread's ONNX Runtime sessions. Tensor buffers are transferred both ways, never cloned.
 */
import { Worker, type Transferable } from 'node:worker_threads';
import { transferList, type FromInference, type InferenceInit, type ToInference } from './protocol.ts';
import type { ModelMeta, TensorData } from './tensor.ts';

const THREAD_URL = new URL('./session-thread.ts', import.meta.url);

export interface RunResult {
  readonly outputs: TensorData[];
  /** The run's inputs, handed back (their buffers were transferred to the inference thread). */
  readonly inputs: readonly TensorData[];
}

interface Waiting {
  readonly resolve: (msg: FromInference) => void;
  readonly reject: (err: Error) => void;
}

export class InferenceThread {
  readonly #init: InferenceInit;
  readonly #waiting = new Map<number, Waiting>();
  #worker: Worker | undefined;
  #nextId = 1;
  /** Called when the thread died: its sessions are gone and must be loaded again. */
  onLost: () => void = () => {};

  constructor(init: InferenceInit) {
    this.#init = init;
  }

  async load(key: string, bytes: Uint8Array<ArrayBuffer>): Promise<ModelMeta> {
    const reply = await this.#ask((id) => ({ type: 'load', id, key, bytes }), []);
    if (reply.type !== 'loaded') throw new Error(reply.type === 'failed' ? reply.message : 'unexpected reply');
    return reply.meta;
  }

  /** Rejects with ONNX Runtime's message; the inputs come back either way, on `inputs` of the error too. */
  async run(key: string, inputs: readonly TensorData[]): Promise<RunResult> {
    const reply = await this.#ask((id) => ({ type: 'run', id, key, inputs }), transferList(inputs));
    if (reply.type === 'ran') return { outputs: reply.outputs, inputs: reply.inputs };
    throw Object.assign(new Error(reply.type === 'failed' ? reply.message : 'unexpected reply'), {
      inputs: reply.type === 'failed' ? reply.inputs : undefined,
    });
  }

  drop(key: string): void {
    this.#worker?.postMessage({ type: 'drop', key } satisfies ToInference);
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #ask(make: (id: number) => ToInference, transfer: Transferable[]): Promise<FromInference> {
    const id = this.#nextId++;
    const worker = this.#start();
    return new Promise<FromInference>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      // Only outstanding requests keep the process alive; an idle inference thread never does.
      if (this.#waiting.size === 1) worker.ref();
      worker.postMessage(make(id), transfer);
    });
  }

  #settle(id: number): Waiting | undefined {
    const waiting = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#worker?.unref();
    return waiting;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD_URL, { workerData: this.#init });
    this.#worker = worker;
    worker.unref();
    worker.on('message', (msg: FromInference) => this.#settle(msg.id)?.resolve(msg));
    const lost = (reason: string): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const id of [...this.#waiting.keys()]) this.#settle(id)?.reject(new Error(`the inference thread stopped: ${reason}`));
      this.onLost();
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    return worker;
  }
}
