/**
 * Tensors as the wasi-nn witx ABI names them and as ONNX Runtime names them, and the checks a guest's
 * input passes before it reaches a session (so a wrong shape or type is an errno with a clear log line,
 * not an ONNX Runtime exception).
 */

/** witx `tensor_type` (u8); i64 = 4 is WasmEdge's extension (ONNX models often take int64). */
export const TensorType = { f16: 0, f32: 1, u8: 2, i32: 3, i64: 4 } as const;

/** The ONNX Runtime element type of each witx tensor type, and its size in bytes. */
const ELEMENTS: readonly { readonly ort: OrtType; readonly bytes: number }[] = [
  { ort: 'float16', bytes: 2 },
  { ort: 'float32', bytes: 4 },
  { ort: 'uint8', bytes: 1 },
  { ort: 'int32', bytes: 4 },
  { ort: 'int64', bytes: 8 },
];

/** The element types this backend moves in and out of guests. */
export type OrtType = 'float16' | 'float32' | 'uint8' | 'int32' | 'int64';

export function ortTypeOf(witx: number): OrtType | undefined {
  return ELEMENTS[witx]?.ort;
}

export function elementBytes(type: string): number | undefined {
  return ELEMENTS.find((e) => e.ort === type)?.bytes;
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
  const want = `${info.type}[${info.shape.map((d) => (isDynamic(d) ? '?' : d)).join(',')}]`;
  if (type !== info.type) return `input '${info.name}' is ${want}, got ${type} data`;
  if (dims.length !== info.shape.length) return `input '${info.name}' is ${want}, got dims [${dims.join(',')}]`;
  for (let i = 0; i < dims.length; i++) {
    const fixed = info.shape[i];
    if (typeof fixed === 'number' && fixed >= 0 && dims[i] !== fixed)
      return `input '${info.name}' is ${want}, got dims [${dims.join(',')}]`;
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
