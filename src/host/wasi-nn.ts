/**
 * `wasi_ephemeral_nn`: the standard WASI-NN witx ABI (docs/wasi-nn.md, sdk/c/wasi_nn.h) backed by ONNX
 * Runtime. Graph and context handles belong to one invocation: a new call on the instance starts with empty
 * tables. `load`, `load_by_name` and `compute` suspend the guest (JSPI) while the worker's inference thread
 * works; the other imports answer at once. A guest only ever sees an `nn_errno`; what went wrong goes to
 * the function's log.
 */
import { copyBytes } from '../data/payload.ts';
import { models, type Graph } from '../inference/models.ts';
import { inputMismatch, ortTypeOf, type TensorData } from '../inference/tensor.ts';
import { GuestMemory } from './guest-memory.ts';
import type { CallState, HostInterface, InstanceHandle, LogLevel } from '../engine/host-interface.ts';

/** witx `nn_errno` (u16), numbered as the upstream witx (sdk/c/wasi_nn.h names the revision). */
export const NnErrno = {
  success: 0,
  invalid_argument: 1,
  invalid_encoding: 2,
  missing_memory: 3,
  busy: 4,
  runtime_error: 5,
  unsupported_operation: 6,
  too_large: 7,
  not_found: 8,
} as const;

const ENCODING_ONNX = 1;
const ENCODING_AUTODETECT = 5;
const ENCODING_NAMES = ['openvino', 'onnx', 'tensorflow', 'pytorch', 'tensorflowlite', 'autodetect'];
const TARGET_TPU = 2;
/** witx tensor record: dims (ptr, len) at 0, type (u8) at 8, data (ptr, len) at 12; 20 bytes. */
const TENSOR_BYTES = 20;

const NAMES: ReadonlySet<string> = new Set(['load', 'load_by_name', 'init_execution_context', 'set_input', 'compute', 'get_output']);
const SUSPENDING: ReadonlySet<string> = new Set(['load', 'load_by_name', 'compute']);
const WARN: LogLevel = 2;
const ERROR: LogLevel = 3;
const decoder = new TextDecoder('utf-8', { fatal: true });

interface Context {
  readonly graph: Graph;
  /** In the model's input order; each a private copy of the guest's tensor (the one copy in). */
  readonly inputs: (TensorData | undefined)[];
  outputs: TensorData[] | undefined;
}

interface Handles {
  readonly graphs: Graph[];
  readonly contexts: Context[];
}

/**
 * Each invocation's handles, on its call state (as its futures and locks are): they go with the call, so an
 * idle pooled instance holds no tensors of its last call.
 */
const handlesOf = new WeakMap<CallState, Handles>();

export const wasiNn: HostInterface = {
  module: 'wasi_ephemeral_nn',
  provides: (name) => NAMES.has(name),
  suspends: (name) => SUSPENDING.has(name),
  bind(instance: InstanceHandle) {
    const mem = new GuestMemory(instance.memory);
    const table = (): Handles => {
      let handles = handlesOf.get(instance.call);
      if (!handles) handlesOf.set(instance.call, (handles = { graphs: [], contexts: [] }));
      return handles;
    };
    const fail = (errno: number, level: LogLevel, message: string): number => {
      instance.log(level, `wasi-nn: ${message}`);
      return errno;
    };
    const inBounds = (ptr: number, len: number): boolean => mem.inBounds(ptr >>> 0, len >>> 0);
    const setU32 = (ptr: number, value: number): void => mem.view.setUint32(ptr >>> 0, value, true);
    const context = (handle: number): Context | undefined => table().contexts[handle >>> 0];
    const addGraph = (graph: Graph, outGraph: number): number => {
      const graphs = table().graphs;
      graphs.push(graph);
      setU32(outGraph, graphs.length - 1);
      return NnErrno.success;
    };

    return {
      load: suspending(async (builders: number, count: number, encoding: number, target: number, outGraph: number) => {
        if (!inBounds(builders, (count >>> 0) * 8) || !inBounds(outGraph, 4)) return NnErrno.invalid_argument;
        if (encoding !== ENCODING_ONNX && encoding !== ENCODING_AUTODETECT) {
          const name = ENCODING_NAMES[encoding] ?? `#${encoding}`;
          return fail(NnErrno.invalid_encoding, WARN, `graph encoding ${name} is not supported: this node runs ONNX models only`);
        }
        if (target >>> 0 > TARGET_TPU) return fail(NnErrno.invalid_argument, WARN, `execution target ${target >>> 0} does not exist`);
        if (count >>> 0 !== 1) return fail(NnErrno.invalid_argument, WARN, `an ONNX graph is one builder, got ${count >>> 0}`);
        const ptr = mem.view.getUint32(builders >>> 0, true);
        const len = mem.view.getUint32((builders >>> 0) + 4, true);
        if (!inBounds(ptr, len)) return NnErrno.invalid_argument;
        try {
          // GPU and TPU targets run on the CPU: the node has no other execution provider.
          return addGraph(await models.fromBytes(mem.u8.subarray(ptr, ptr + len)), outGraph);
        } catch (err) {
          return fail(NnErrno.runtime_error, ERROR, `cannot load the model (${len} bytes): ${message(err)}`);
        }
      }),

      load_by_name: suspending(async (namePtr: number, nameLen: number, outGraph: number) => {
        if (!inBounds(namePtr, nameLen) || !inBounds(outGraph, 4)) return NnErrno.invalid_argument;
        let name: string;
        try {
          name = decoder.decode(mem.u8.subarray(namePtr >>> 0, (namePtr >>> 0) + (nameLen >>> 0)));
        } catch {
          return fail(NnErrno.invalid_argument, WARN, 'the model name is not valid UTF-8');
        }
        try {
          const graph = await models.byName(name);
          if (!graph) return fail(NnErrno.not_found, WARN, `no model named '${name}' is registered on this node`);
          return addGraph(graph, outGraph);
        } catch (err) {
          return fail(NnErrno.runtime_error, ERROR, `cannot load model '${name}': ${message(err)}`);
        }
      }),

      init_execution_context: answering((graph: number, outContext: number): number => {
        const g = table().graphs[graph >>> 0];
        if (!g) return fail(NnErrno.invalid_argument, WARN, `graph handle ${graph >>> 0} does not exist`);
        if (!inBounds(outContext, 4)) return NnErrno.invalid_argument;
        const contexts = table().contexts;
        contexts.push({ graph: g, inputs: new Array<TensorData | undefined>(g.meta.inputs.length).fill(undefined), outputs: undefined });
        setU32(outContext, contexts.length - 1);
        return NnErrno.success;
      }),

      set_input: answering((handle: number, index: number, tensor: number): number => {
        const ctx = context(handle);
        if (!ctx) return fail(NnErrno.invalid_argument, WARN, `execution context ${handle >>> 0} does not exist`);
        if (!inBounds(tensor, TENSOR_BYTES)) return NnErrno.invalid_argument;
        const at = tensor >>> 0;
        const [dimsPtr, rank] = [mem.view.getUint32(at, true), mem.view.getUint32(at + 4, true)];
        const witxType = mem.view.getUint8(at + 8);
        const [dataPtr, dataLen] = [mem.view.getUint32(at + 12, true), mem.view.getUint32(at + 16, true)];
        if (!inBounds(dimsPtr, rank * 4) || !inBounds(dataPtr, dataLen)) return NnErrno.invalid_argument;
        const model = ctx.graph.name;
        const info = ctx.graph.meta.inputs[index >>> 0];
        if (!info)
          return fail(NnErrno.invalid_argument, WARN, `model '${model}' has ${ctx.inputs.length} input(s), no input ${index >>> 0}`);
        const type = ortTypeOf(witxType);
        if (!type) return fail(NnErrno.invalid_argument, WARN, `tensor type ${witxType} is not one of f16=0, f32=1, u8=2, i32=3, i64=4`);
        const dims = Array.from({ length: rank }, (_, i) => mem.view.getUint32(dimsPtr + i * 4, true));
        const mismatch = inputMismatch(info, type, dims, dataLen);
        if (mismatch) return fail(NnErrno.invalid_argument, WARN, `model '${model}': ${mismatch}`);
        ctx.inputs[index >>> 0] = { type, dims, data: mem.u8.slice(dataPtr, dataPtr + dataLen) };
        return NnErrno.success;
      }),

      compute: suspending(async (handle: number) => {
        const ctx = context(handle);
        if (!ctx) return fail(NnErrno.invalid_argument, WARN, `execution context ${handle >>> 0} does not exist`);
        const model = ctx.graph.name;
        const missing = ctx.inputs.findIndex((t) => !t);
        if (missing >= 0) {
          return fail(
            NnErrno.invalid_argument,
            WARN,
            `model '${model}': input ${missing} ('${ctx.graph.meta.inputs[missing]!.name}') was not set`,
          );
        }
        const inputs = ctx.inputs as TensorData[];
        try {
          const result = await models.run(ctx.graph, inputs);
          ctx.outputs = result.outputs;
          result.inputs.forEach((t, i) => (ctx.inputs[i] = t));
          return NnErrno.success;
        } catch (err) {
          // The input buffers travelled to the inference thread: take them back, or forget them if lost.
          const back = (err as { inputs?: TensorData[] }).inputs;
          ctx.inputs.forEach((_, i) => (ctx.inputs[i] = back?.[i]));
          ctx.outputs = undefined;
          return fail(NnErrno.runtime_error, ERROR, `compute on model '${model}' failed: ${message(err)}`);
        }
      }),

      get_output: answering((handle: number, index: number, buf: number, bufLen: number, outWritten: number): number => {
        const ctx = context(handle);
        if (!ctx) return fail(NnErrno.invalid_argument, WARN, `execution context ${handle >>> 0} does not exist`);
        if (!inBounds(buf, bufLen) || !inBounds(outWritten, 4)) return NnErrno.invalid_argument;
        if (!ctx.outputs) return fail(NnErrno.invalid_argument, WARN, `model '${ctx.graph.name}': get_output before a successful compute`);
        const output = ctx.outputs[index >>> 0];
        if (!output) {
          return fail(
            NnErrno.invalid_argument,
            WARN,
            `model '${ctx.graph.name}' has ${ctx.outputs.length} output(s), no output ${index >>> 0}`,
          );
        }
        // Too small a buffer: the size needed goes to out_written (an extension: the witx leaves it unset).
        setU32(outWritten, output.data.length);
        if (output.data.length > bufLen >>> 0) return NnErrno.too_large;
        copyBytes(output.data, mem.u8, buf >>> 0);
        return NnErrno.success;
      }),
    };
  },
};

/** An import that never throws into the guest: an unexpected host error is a runtime_error. */
function answering<A extends unknown[]>(fn: (...args: A) => number): (...args: A) => number {
  return (...args) => {
    try {
      return fn(...args);
    } catch {
      return NnErrno.runtime_error;
    }
  };
}

/** The same for an import that suspends the guest. */
function suspending(fn: (...args: never[]) => Promise<number>): WebAssembly.Suspending {
  return new WebAssembly.Suspending(async (...args: never[]) => {
    try {
      return await fn(...args);
    } catch {
      return NnErrno.runtime_error;
    }
  });
}

function message(err: unknown): string {
  return String((err as Error)?.message ?? err);
}
