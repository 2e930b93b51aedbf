/**
 * Tensors as the wasi-nn witx ABI names them and as ONNX Runtime names them, and the checks a guest's
 * input passes before it reaches a session (so a wrong shape or type is an errno with a clear log line,
 * not an ONNX Runtime exception).
 */

/**
 * The ONNX Runtime element type of each witx `tensor_type` (u8, the index here; i64 = 4 is WasmEdge's
 * extension: ONNX models often take int64), and the typed array ONNX Runtime reads it as.
 */
const ELEMENTS: readonly { readonly ort: OrtType; readonly View: TypedArrayConstructor }[] = [
  { ort: 'float16', View: Uint16Array },
  { ort: 'float32', View: Float32Array },
  { ort: 'uint8', View: Uint8Array },
  { ort: 'int32', View: Int32Array },
  { ort: 'int64', View: BigInt64Array },
];

/** The element types this backend moves in and out of guests. */
export type OrtType = 'float16' | 'float32' | 'uint8' | 'int32' | 'int64';

type TypedArrayConstructor =
  Uint16ArrayConstructor | Float32ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor;

export function ortTypeOf(witx: number): OrtType | undefined {
  return ELEMENTS[witx]?.ort;
}

/** The typed array an ONNX Runtime tensor of `type` holds its data in, or undefined for a type guests cannot use. */
export function typedArrayOf(type: string): TypedArrayConstructor | undefined {
  return ELEMENTS.find((e) => e.ort === type)?.View;
}

function elementBytes(type: string): number | undefined {
  return typedArrayOf(type)?.BYTES_PER_ELEMENT;
}

/** One input or output of a model: dims are numbers, or names for dynamic dims (ONNX symbolic dims). */
export interface TensorInfo {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

/** What a loaded model looks like from outside. */
export interface ModelMeta {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
}

/** A model registered on a node (`Plume#addModel`), as `Plume#models()` lists it. */
export interface ModelInfo extends ModelMeta {
  readonly name: string;
  /** Size of the .onnx file. */
  readonly bytes: number;
}

/** A tensor travelling to or from a session: dims, ONNX Runtime type, and its bytes in a private ArrayBuffer. */
export interface TensorData {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Uint8Array<ArrayBuffer>;
}

/** Why `dims`/`type`/`byteLength` do not fit the model's input `info`, or undefined when they do. */
export function inputMismatch(info: TensorInfo, type: OrtType, dims: readonly number[], byteLength: number): string | undefined {
  // Built only on a mismatch: set_input checks every tensor a guest sends.
  const want = (): string => `${info.type}[${info.shape.map((d) => (isDynamic(d) ? '?' : d)).join(',')}]`;
  if (type !== info.type) return `input '${info.name}' is ${want()}, got ${type} data`;
  if (dims.length !== info.shape.length) return `input '${info.name}' is ${want()}, got dims [${dims.join(',')}]`;
  for (let i = 0; i < dims.length; i++) {
    const fixed = info.shape[i];
    if (typeof fixed === 'number' && fixed >= 0 && dims[i] !== fixed)
      return `input '${info.name}' is ${want()}, got dims [${dims.join(',')}]`;
  }
  const expected = dims.reduce((n, d) => n * d, 1) * elementBytes(type)!;
  if (byteLength !== expected) {
    return `input '${info.name}' with dims [${dims.join(',')}] needs ${expected} bytes of ${type}, got ${byteLength}`;
  }
  return undefined;
}

/** True when a dim is dynamic (ONNX Runtime reports those by their symbolic name, or -1 without one). */
export function isDynamic(dim: number | string | undefined): boolean {
  return typeof dim === 'string' || (typeof dim === 'number' && dim < 0);
}
