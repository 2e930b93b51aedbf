/**
 * The inference thread: owns the ONNX Runtime sessions of one executor worker (or of the main thread).
 * onnxruntime-node's `session.run` returns a promise but runs the whole inference synchronously on the
 * calling thread (its binding is synchronous; the promise only defers it by a setImmediate). Run on an
 * executor worker, a 55 ms detection would freeze every other guest of that worker, so sessions live here
 * and the worker's guests wait suspended (JSPI) with their event loop free.
 */
import { parentPort, workerData, type Transferable } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { transferList, type FromInference, type InferenceInit, type ToInference } from './protocol.ts';
import { typedArrayOf, type ModelMeta, type TensorData, type TensorInfo } from './tensor.ts';

const port = parentPort!;
const init = workerData as InferenceInit;
/** Sessions by content key; a promise, so two loads of one model racing create it once. */
const sessions = new Map<string, Promise<ort.InferenceSession>>();
/** Runs in progress per session: a dropped session is released only after them. */
const running = new WeakMap<ort.InferenceSession, Set<Promise<unknown>>>();
const post = (msg: FromInference, transfer: Transferable[] = []): void => port.postMessage(msg, transfer);

// ONNX Runtime would print failed runs on the process's stderr; their message reaches the guest's log instead.
ort.env.logLevel = 'fatal';

/**
 * One intra-op thread per core this worker may use, and no spinning: ORT's pool threads otherwise spin
 * between runs, taking cores from the Wasm workers that run beside them (ARCHITECTURE's facts table).
 */
const options: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: init.intraOpThreads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 4,
  extra: { 'session.intra_op.allow_spinning': '0' },
};

function infos(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) =>
    m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

function feed(t: TensorData): ort.Tensor {
  const View = typedArrayOf(t.type);
  if (!View) throw new Error(`tensor type ${t.type} is not supported`);
  const { buffer, byteOffset, byteLength } = t.data;
  return new ort.Tensor(t.type as 'float32', new View(buffer, byteOffset, byteLength / View.BYTES_PER_ELEMENT) as Float32Array, [
    ...t.dims,
  ]);
}

function result(name: string, value: ort.OnnxValue): TensorData {
  const tensor = value as ort.Tensor;
  if (!ArrayBuffer.isView(tensor.data)) throw new Error(`output '${name}' is a ${tensor.type} tensor, which has no byte form`);
  const view = tensor.data;
  // ORT allocates each output in a buffer of its own; a view over part of one is copied so it can be transferred.
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
  const data = whole ? new Uint8Array(view.buffer as ArrayBuffer) : new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
  return { type: tensor.type, dims: [...tensor.dims], data };
}

async function handle(msg: ToInference): Promise<void> {
  switch (msg.type) {
    case 'load': {
      let pending = sessions.get(msg.key);
      if (!pending) sessions.set(msg.key, (pending = ort.InferenceSession.create(msg.bytes, options)));
      try {
        const session = await pending;
        const meta: ModelMeta = { inputs: infos(session.inputMetadata), outputs: infos(session.outputMetadata) };
        post({ type: 'loaded', id: msg.id, meta });
      } catch (err) {
        if (sessions.get(msg.key) === pending) sessions.delete(msg.key);
        post({ type: 'failed', id: msg.id, message: oneLine(err) });
      }
      break;
    }
    case 'run': {
      try {
        const session = await sessions.get(msg.key);
        if (!session) throw new Error('the model is not loaded on this worker');
        const feeds: Record<string, ort.Tensor> = {};
        msg.inputs.forEach((t, i) => (feeds[session.inputNames[i]!] = feed(t)));
        const pending = session.run(feeds);
        const runs = running.get(session) ?? new Set();
        running.set(session, runs.add(pending));
        const out = await pending.finally(() => runs.delete(pending));
        const outputs = session.outputNames.map((name) => result(name, out[name]!));
        post({ type: 'ran', id: msg.id, outputs, inputs: msg.inputs }, transferList([...outputs, ...msg.inputs]));
      } catch (err) {
        post({ type: 'failed', id: msg.id, message: oneLine(err), inputs: msg.inputs }, transferList(msg.inputs));
      }
      break;
    }
    case 'drop': {
      const pending = sessions.get(msg.key);
      sessions.delete(msg.key);
      const session = await pending?.catch(() => undefined);
      if (!session) break;
      await Promise.allSettled(running.get(session) ?? []);
      await session.release();
      break;
    }
  }
}

function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .trim();
}

port.on('message', (msg: ToInference) => void handle(msg));
