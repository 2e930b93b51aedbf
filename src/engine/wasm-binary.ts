// A minimal WebAssembly binary rewriter (the reader is wasm-reader.ts).
//
// The engine pools and snapshots instances, which needs three things a plain
// module does not give: a memory the host owns (so it can hand out pooled
// memories), JS access to every mutable global (so it can save and restore
// them), and control over when the start function runs (once at init, not on
// every instantiation). prepareModule rewrites the binary for that; it only
// touches the import, memory, export and start sections and copies every
// other section byte-for-byte, so code offsets, names and debug info survive.
//
// Everything here treats its input as hostile: every read is bounds-checked,
// every vector count is checked against the bytes left before looping, and
// every failure is a WasmFormatError naming the byte offset.
import {
  HEADER,
  SECTION_RANK,
  WasmFormatError,
  parse,
  sectionReader,
  utf8Encoder,
  type MemoryLimits,
  type ModuleInfo,
} from './wasm-reader.ts';

export {
  WasmFormatError,
  inspectModule,
  type ExportInfo,
  type ExternKind,
  type FuncType,
  type GlobalInfo,
  type ImportInfo,
  type MemoryInfo,
  type MemoryLimits,
  type ModuleInfo,
} from './wasm-reader.ts';

export interface MutableGlobalExport {
  index: number;
  exportName: string;
  type: string;
}
export interface PreparedInfo {
  original: ModuleInfo;
  memoryImport?: { module: string; name: string };
  memory?: MemoryLimits;
  /** True when a defined memory was turned into the plume:host import. */
  memoryMoved: boolean;
  mutableGlobals: MutableGlobalExport[];
  /** True when the start section was removed and exported as __plume_start. */
  start: boolean;
}

export const HOST_MEMORY_MODULE = 'plume:host';
export const HOST_MEMORY_NAME = 'memory';
export const START_EXPORT = '__plume_start';
export const GLOBAL_EXPORT_PREFIX = '__plume_global_';

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

function encodeName(s: string): number[] {
  const raw = utf8Encoder.encode(s);
  return [...uleb(raw.length), ...raw];
}

/**
 * Rewrite a module for pooling and snapshotting: defined memory becomes the
 * ("plume:host", "memory") import, defined mutable globals are exported as
 * __plume_global_<index>, and the start function becomes the __plume_start
 * export. Other sections are copied byte-for-byte.
 */
export function prepareModule(bytes: Uint8Array): { bytes: Uint8Array; info: PreparedInfo } {
  const { info: original, sections, memoryRanges } = parse(bytes);
  if (original.memories.length > 1) throw new WasmFormatError('multiple memories are not supported');

  const info: PreparedInfo = { original, memoryMoved: false, mutableGlobals: [], start: false };
  const memory = original.memories[0];
  if (memory !== undefined) {
    const { imported, ...limits } = memory;
    info.memory = limits;
    info.memoryMoved = !imported;
    const imp = original.imports.find((i) => i.kind === 'memory');
    info.memoryImport = imp ? { module: imp.module, name: imp.name } : { module: HOST_MEMORY_MODULE, name: HOST_MEMORY_NAME };
  }

  const newExports: number[][] = [];
  const taken = new Set(original.exports.map((e) => e.name));
  const addExport = (name: string, kind: number, index: number): void => {
    // Duplicate export names would make the module invalid.
    if (taken.has(name)) throw new WasmFormatError(`module already exports the reserved name "${name}"`);
    taken.add(name);
    newExports.push([...encodeName(name), kind, ...uleb(index)]);
  };
  for (const g of original.globals) {
    if (!g.mutable) continue;
    const exportName = `${GLOBAL_EXPORT_PREFIX}${g.index}`;
    addExport(exportName, 3, g.index);
    info.mutableGlobals.push({ index: g.index, exportName, type: g.type });
  }
  if (original.startFunction !== undefined) {
    addExport(START_EXPORT, 0, original.startFunction);
    info.start = true;
  }
  if (!info.memoryMoved && newExports.length === 0) return { bytes: bytes.slice(), info };

  // Rebuilt import/export payloads: the old entries verbatim plus the new ones.
  const rebuilt = new Map<number, number[]>();
  const extend = (id: number, extra: number[][]): void => {
    const s = sections.find((x) => x.id === id);
    let count = 0;
    let rest: ArrayLike<number> = [];
    if (s) {
      const r = sectionReader(bytes, s);
      count = r.u32();
      rest = bytes.subarray(r.pos, s.end);
    }
    rebuilt.set(id, [...uleb(count + extra.length), ...Array.from(rest), ...extra.flat()]);
  };
  if (info.memoryMoved) {
    // Copy the limits bytes verbatim, so flags we do not interpret survive.
    const [from, to] = memoryRanges[0]!;
    extend(2, [[...encodeName(HOST_MEMORY_MODULE), ...encodeName(HOST_MEMORY_NAME), 0x02, ...bytes.subarray(from, to)]]);
  }
  if (newExports.length > 0) extend(7, newExports);

  // A rebuilt section goes where the original was or, if there was none,
  // just before the first section that must follow it; custom sections stay
  // where they were relative to their neighbours.
  const chunks: ArrayLike<number>[] = [HEADER];
  const pending = new Map(rebuilt);
  const flush = (rank: number): void => {
    for (const [id, payload] of pending) {
      if (SECTION_RANK[id]! > rank) continue;
      chunks.push([id, ...uleb(payload.length)], payload);
      pending.delete(id);
    }
  };
  for (const s of sections) {
    if (s.id !== 0) flush(SECTION_RANK[s.id]!);
    const dropped = rebuilt.has(s.id) || s.id === 8 || (s.id === 5 && info.memoryMoved);
    if (!dropped) chunks.push(bytes.subarray(s.start, s.end));
  }
  flush(Infinity);

  const result = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    result.set(c, offset);
    offset += c.length;
  }
  return { bytes: result, info };
}
