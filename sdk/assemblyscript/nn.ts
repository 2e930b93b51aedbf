// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
// plume-sdk/nn: AssemblyScript bindings for WASI-NN, the standard witx ABI (import module "wasi_ephemeral_nn").
// Numbering follows WebAssembly/wasi-nn's wasi-nn.witx at 419a209846489ff86c4ff557789b813933c924ac, as
// sdk/c/wasi_nn.h does; see docs/wasi-nn.md. Needs nothing from index.ts: a bare wasi-nn guest can use it alone.

// ---- nn_errno ----
export const NN_SUCCESS: u32 = 0;
export const NN_INVALID_ARGUMENT: u32 = 1;
export const NN_INVALID_ENCODING: u32 = 2;
export const NN_MISSING_MEMORY: u32 = 3;
export const NN_BUSY: u32 = 4;
export const NN_RUNTIME_ERROR: u32 = 5;
export const NN_UNSUPPORTED_OPERATION: u32 = 6;
export const NN_TOO_LARGE: u32 = 7;
export const NN_NOT_FOUND: u32 = 8;

// ---- tensor_type, graph_encoding, execution_target ----
export const TENSOR_F16: u8 = 0;
export const TENSOR_F32: u8 = 1;
export const TENSOR_U8: u8 = 2;
export const TENSOR_I32: u8 = 3;
/** WasmEdge's extension, not in the witx: ONNX int64 tensors. */
export const TENSOR_I64: u8 = 4;
export const ENCODING_OPENVINO: u32 = 0;
export const ENCODING_ONNX: u32 = 1;
export const ENCODING_TENSORFLOW: u32 = 2;
export const ENCODING_PYTORCH: u32 = 3;
export const ENCODING_TENSORFLOWLITE: u32 = 4;
export const ENCODING_AUTODETECT: u32 = 5;
export const TARGET_CPU: u32 = 0;
export const TARGET_GPU: u32 = 1;
export const TARGET_TPU: u32 = 2;

// ---- raw imports: lists are (pointer, length); a tensor is a 20-byte record passed by pointer ----
export namespace nnRaw {
  @external('wasi_ephemeral_nn', 'load')
  export declare function load(builders: usize, builders_len: u32, encoding: u32, target: u32, out_graph: usize): u32;
  @external('wasi_ephemeral_nn', 'load_by_name')
  export declare function load_by_name(name: usize, name_len: u32, out_graph: usize): u32;
  @external('wasi_ephemeral_nn', 'init_execution_context')
  export declare function init_execution_context(graph: u32, out_context: usize): u32;
  @external('wasi_ephemeral_nn', 'set_input')
  export declare function set_input(context: u32, index: u32, tensor: usize): u32;
  @external('wasi_ephemeral_nn', 'compute')
  export declare function compute(context: u32): u32;
  @external('wasi_ephemeral_nn', 'get_output')
  export declare function get_output(context: u32, index: u32, buf: usize, buf_len: u32, out_written: usize): u32;
}

// ---- wrappers: the errno of the last call is nnErrno() ----
let lastErrno: u32 = NN_SUCCESS;
const scratch = memory.data(8);

/** The nn_errno of the last wrapper call that failed (NN_SUCCESS after one that did not). */
export function nnErrno(): u32 {
  return lastErrno;
}

export class Graph {
  constructor(public readonly handle: u32) {}

  /** A model registered on the node (`plume model add NAME FILE.onnx`); null with NN_NOT_FOUND if none. */
  static byName(name: string): Graph | null {
    const bytes = String.UTF8.encode(name, false);
    lastErrno = nnRaw.load_by_name(changetype<usize>(bytes), <u32>bytes.byteLength, scratch);
    return lastErrno == NN_SUCCESS ? new Graph(load<u32>(scratch)) : null;
  }

  /** A model from its bytes (one builder: ONNX). */
  static fromBytes(model: Uint8Array, encoding: u32 = ENCODING_ONNX, target: u32 = TARGET_CPU): Graph | null {
    const builder = memory.data(8);
    store<u32>(builder, <u32>model.dataStart);
    store<u32>(builder, <u32>model.byteLength, 4);
    lastErrno = nnRaw.load(builder, 1, encoding, target, scratch);
    return lastErrno == NN_SUCCESS ? new Graph(load<u32>(scratch)) : null;
  }

  context(): ExecutionContext | null {
    lastErrno = nnRaw.init_execution_context(this.handle, scratch);
    return lastErrno == NN_SUCCESS ? new ExecutionContext(load<u32>(scratch)) : null;
  }
}

export class ExecutionContext {
  constructor(public readonly handle: u32) {}

  /** Input `index` from its dims and raw bytes; returns the errno. */
  setInput(index: u32, type: u8, dims: u32[], data: Uint8Array): u32 {
    const tensor = memory.data(20);
    store<u32>(tensor, <u32>dims.dataStart);
    store<u32>(tensor, <u32>dims.length, 4);
    store<u32>(tensor, type, 8);
    store<u32>(tensor, <u32>data.dataStart, 12);
    store<u32>(tensor, <u32>data.byteLength, 16);
    return (lastErrno = nnRaw.set_input(this.handle, index, tensor));
  }

  setInputF32(index: u32, dims: u32[], data: Float32Array): u32 {
    return this.setInput(index, TENSOR_F32, dims, Uint8Array.wrap(data.buffer, data.byteOffset, data.byteLength));
  }

  /** Runs the model (the guest waits suspended meanwhile); returns the errno. */
  compute(): u32 {
    return (lastErrno = nnRaw.compute(this.handle));
  }

  /** Output `index` as bytes, however large (a first try of `guess` bytes, then the size the host asked for). */
  output(index: u32, guess: i32 = 4096): Uint8Array | null {
    let buf = new Uint8Array(guess);
    lastErrno = nnRaw.get_output(this.handle, index, buf.dataStart, <u32>buf.byteLength, scratch);
    if (lastErrno == NN_TOO_LARGE) {
      buf = new Uint8Array(<i32>load<u32>(scratch));
      lastErrno = nnRaw.get_output(this.handle, index, buf.dataStart, <u32>buf.byteLength, scratch);
    }
    return lastErrno == NN_SUCCESS ? buf.subarray(0, <i32>load<u32>(scratch)) : null;
  }

  outputF32(index: u32, guess: i32 = 4096): Float32Array | null {
    const bytes = this.output(index, guess);
    return bytes ? Float32Array.wrap(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
  }
}
