// A minimal WebAssembly binary reader: sections, imports, exports, memories, globals, start.
//
// Everything here treats its input as hostile: every read is bounds-checked,
// every vector count is checked against the bytes left before looping, and
// every failure is a WasmFormatError naming the byte offset.

export class WasmFormatError extends Error {
  readonly code = 'PLUME_EMODULE' as const;
  readonly offset: number | undefined;
  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte offset ${offset})`);
    this.name = 'WasmFormatError';
    this.offset = offset;
  }
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
export interface FuncType {
  params: string[];
  results: string[];
}
/** `funcTypeIndex` and `signature` are present for function imports. */
export interface ImportInfo {
  module: string;
  name: string;
  kind: ExternKind;
  funcTypeIndex?: number;
  signature?: FuncType;
}
/** `signature` is present for function exports. */
export interface ExportInfo {
  name: string;
  kind: ExternKind;
  index: number;
  signature?: FuncType;
}
export interface MemoryLimits {
  min: number;
  max?: number;
  shared: boolean;
  memory64: boolean;
}
export interface MemoryInfo extends MemoryLimits {
  imported: boolean;
}
export interface GlobalInfo {
  index: number;
  type: string;
  mutable: boolean;
}
export interface ModuleInfo {
  imports: ImportInfo[];
  exports: ExportInfo[];
  /** Imported memories first, then defined ones: the memory index space. */
  memories: MemoryInfo[];
  /** Defined globals only; `index` is in the global index space. */
  globals: GlobalInfo[];
  importedGlobalCount: number;
  startFunction?: number;
  types: FuncType[];
  /** Type index of every function in the function index space (imports first). */
  functionTypes: number[];
}
const KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const SECTION_NAMES: Record<number, string> = {
  0: 'custom',
  1: 'type',
  2: 'import',
  3: 'function',
  4: 'table',
  5: 'memory',
  6: 'global',
  7: 'export',
  8: 'start',
  9: 'element',
  10: 'code',
  11: 'data',
  12: 'datacount',
  13: 'tag',
};
// Position of each known section in the required order; ids are not ordered
// (datacount precedes code, tag sits between memory and global).
export const SECTION_RANK: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};
const VALTYPES: Record<number, string> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
  0x6e: 'anyref',
  0x6d: 'eqref',
  0x6c: 'i31ref',
  0x6b: 'structref',
  0x6a: 'arrayref',
  0x69: 'exnref',
  0x71: 'nullref',
  0x72: 'nullexternref',
  0x73: 'nullfuncref',
  0x74: 'nullexnref',
};
export const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const utf8 = new TextDecoder('utf-8', { fatal: true });
export const utf8Encoder = new TextEncoder();

class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;
  readonly what: string;
  constructor(bytes: Uint8Array, pos: number, end: number, what: string) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    this.what = what;
  }

  fail(message: string, at = this.pos): WasmFormatError {
    return new WasmFormatError(`${this.what}: ${message}`, at);
  }

  get left(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw this.fail('unexpected end of data');
    return this.bytes[this.pos++]!;
  }

  take(n: number): Uint8Array {
    if (n > this.left) throw this.fail(`needs ${n} bytes but only ${this.left} remain`);
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }

  // LEB128 with a hard byte limit (ceil(bits/7)), so a run of continuation
  // bytes is rejected instead of read forever. Arithmetic uses doubles rather
  // than bit ops because 32-bit shifts would wrap.
  leb(bits: number, signed: boolean): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let shift = 0; ; shift += 7) {
      if (shift >= bits) throw this.fail(`LEB128 integer longer than ${Math.ceil(bits / 7)} bytes`, start);
      const byte = this.u8();
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) !== 0) continue;
      const spare = shift + 7 - bits; // bits of the last byte beyond the integer's width
      if (signed) {
        if (byte & 0x40) result -= scale;
        // The spare bits and the sign bit below them must all be equal.
        const top = (byte & 0x7f) >> (6 - spare);
        if (spare > 0 && top !== 0 && top !== (1 << (spare + 1)) - 1) throw this.fail('LEB128 integer out of range', start);
      } else if (spare > 0 && (byte & 0x7f) >> (7 - spare) !== 0) {
        throw this.fail('LEB128 integer out of range', start);
      }
      return result;
    }
  }

  u32(): number {
    return this.leb(32, false);
  }

  // Every vector element takes at least one byte, so a count larger than the
  // bytes left is malformed; checking it up front bounds loops and allocations.
  count(what: string): number {
    const at = this.pos;
    const n = this.u32();
    if (n > this.left) throw this.fail(`${what} count ${n} exceeds the ${this.left} bytes left`, at);
    return n;
  }

  name(): string {
    const at = this.pos;
    const raw = this.take(this.u32());
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail('name is not valid UTF-8', at);
    }
  }

  valtype(): string {
    const at = this.pos;
    const byte = this.u8();
    const simple = VALTYPES[byte];
    if (simple !== undefined) return simple;
    if (byte === 0x63 || byte === 0x64) return `(ref ${byte === 0x63 ? 'null ' : ''}${this.heaptype()})`;
    throw this.fail(`unknown value type 0x${byte.toString(16)}`, at);
  }

  heaptype(): string {
    const at = this.pos;
    const ht = this.leb(33, true);
    if (ht >= 0) return String(ht);
    const name = VALTYPES[ht & 0x7f];
    if (name === undefined || !name.endsWith('ref')) throw this.fail(`unknown heap type ${ht}`, at);
    return name.slice(0, -3);
  }

  limits(): MemoryLimits {
    const at = this.pos;
    const flags = this.u8();
    if (flags > 7) throw this.fail(`unsupported limits flags 0x${flags.toString(16)}`, at);
    const memory64 = (flags & 4) !== 0;
    const bits = memory64 ? 64 : 32;
    const min = this.leb(bits, false);
    const max = flags & 1 ? this.leb(bits, false) : undefined;
    if (min > Number.MAX_SAFE_INTEGER || (max ?? 0) > Number.MAX_SAFE_INTEGER) throw this.fail('limit too large', at);
    const out: MemoryLimits = { min, shared: (flags & 2) !== 0, memory64 };
    if (max !== undefined) out.max = max;
    return out;
  }

  // Constant expressions are skipped, not evaluated: only their length
  // matters, to reach the next global.
  skipConstExpr(): void {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x0b) return; // end
      if (op === 0x41 || op === 0x23 || op === 0xd2)
        this.leb(32, op === 0x41); // i32.const, global.get, ref.func
      else if (op === 0x42)
        this.leb(64, true); // i64.const
      else if (op === 0x43)
        this.take(4); // f32.const
      else if (op === 0x44)
        this.take(8); // f64.const
      else if (op === 0xd0)
        this.heaptype(); // ref.null
      else if (op === 0xfd && this.u32() === 12)
        this.take(16); // v128.const
      else if ((op >= 0x6a && op <= 0x6c) || (op >= 0x7c && op <= 0x7e))
        continue; // extended-const add/sub/mul
      else throw this.fail(`unsupported instruction 0x${op.toString(16)} in constant expression`, at);
    }
  }
}

export interface RawSection {
  id: number;
  start: number;
  payloadStart: number;
  end: number;
}

function splitSections(bytes: Uint8Array): RawSection[] {
  if (bytes.length < 8) throw new WasmFormatError(`module is ${bytes.length} bytes, shorter than the 8-byte header`, 0);
  if (HEADER.slice(0, 4).some((b, i) => bytes[i] !== b)) throw new WasmFormatError('bad magic number: not a WebAssembly module', 0);
  const version = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  if (version !== 1) throw new WasmFormatError(`unsupported WebAssembly version ${version}, expected 1`, 4);

  const sections: RawSection[] = [];
  const r = new Reader(bytes, 8, bytes.length, 'module');
  let lastRank = 0;
  while (r.pos < r.end) {
    const start = r.pos;
    const id = r.u8();
    const name = SECTION_NAMES[id];
    if (name === undefined) throw r.fail(`unknown section id ${id}`, start);
    const size = r.u32();
    if (size > r.left) throw r.fail(`${name} section size ${size} runs past the end of the module (${r.left} bytes left)`, start);
    if (id !== 0) {
      const rank = SECTION_RANK[id]!;
      if (rank <= lastRank) throw r.fail(`${name} section is duplicated or out of order`, start);
      lastRank = rank;
    }
    sections.push({ id, start, payloadStart: r.pos, end: r.pos + size });
    r.pos += size;
  }
  return sections;
}

export function sectionReader(bytes: Uint8Array, s: RawSection): Reader {
  return new Reader(bytes, s.payloadStart, s.end, `${SECTION_NAMES[s.id]} section`);
}

export function parse(bytes: Uint8Array): { info: ModuleInfo; sections: RawSection[]; memoryRanges: [number, number][] } {
  const sections = splitSections(bytes);
  const info: ModuleInfo = { imports: [], exports: [], memories: [], globals: [], importedGlobalCount: 0, types: [], functionTypes: [] };
  const memoryRanges: [number, number][] = []; // each defined memory's limits bytes, to copy into an import
  const signature = (typeIndex: number, r: Reader, at: number): FuncType => {
    const t = info.types[typeIndex];
    if (t === undefined) throw r.fail(`type index ${typeIndex} out of range`, at);
    return t;
  };

  for (const s of sections) {
    const r = sectionReader(bytes, s);
    switch (s.id) {
      case 1: // type
        for (let n = r.count('type'); n > 0; n--) {
          const at = r.pos;
          const form = r.u8();
          // GC type forms (rec/sub/struct/array) would shift type indices in
          // ways this reader does not model, so refuse them outright.
          if (form !== 0x60) throw r.fail(`unsupported type form 0x${form.toString(16)} (only function types)`, at);
          const params = Array.from({ length: r.count('parameter') }, () => r.valtype());
          const results = Array.from({ length: r.count('result') }, () => r.valtype());
          info.types.push({ params, results });
        }
        break;
      case 2: // import
        for (let n = r.count('import'); n > 0; n--) {
          const module = r.name();
          const name = r.name();
          const at = r.pos;
          const kind = KINDS[r.u8()];
          if (kind === undefined) throw r.fail(`unknown import kind 0x${r.bytes[at]!.toString(16)}`, at);
          const imp: ImportInfo = { module, name, kind };
          if (kind === 'function') {
            const typeAt = r.pos;
            imp.funcTypeIndex = r.u32();
            imp.signature = signature(imp.funcTypeIndex, r, typeAt);
            info.functionTypes.push(imp.funcTypeIndex);
          } else if (kind === 'table') {
            r.valtype();
            r.limits();
          } else if (kind === 'memory') {
            info.memories.push({ imported: true, ...r.limits() });
          } else if (kind === 'global') {
            r.valtype();
            r.u8();
            info.importedGlobalCount++;
          } else {
            r.u8(); // tag attribute
            r.u32();
          }
          info.imports.push(imp);
        }
        break;
      case 3: // function
        for (let n = r.count('function'); n > 0; n--) {
          const at = r.pos;
          const t = r.u32();
          signature(t, r, at);
          info.functionTypes.push(t);
        }
        break;
      case 5: // memory
        for (let n = r.count('memory'); n > 0; n--) {
          const at = r.pos;
          info.memories.push({ imported: false, ...r.limits() });
          memoryRanges.push([at, r.pos]);
        }
        break;
      case 6: // global
        for (let n = r.count('global'); n > 0; n--) {
          const type = r.valtype();
          const at = r.pos;
          const mut = r.u8();
          if (mut > 1) throw r.fail(`invalid global mutability flag ${mut}`, at);
          r.skipConstExpr();
          info.globals.push({ index: info.importedGlobalCount + info.globals.length, type, mutable: mut === 1 });
        }
        break;
      case 7: // export
        for (let n = r.count('export'); n > 0; n--) {
          const name = r.name();
          const at = r.pos;
          const kind = KINDS[r.u8()];
          if (kind === undefined) throw r.fail(`unknown export kind 0x${r.bytes[at]!.toString(16)}`, at);
          info.exports.push({ name, kind, index: r.u32() });
        }
        break;
      case 8: // start
        info.startFunction = r.u32();
        break;
      default: // custom, table, element, code, data, datacount, tag: not needed
        r.pos = r.end;
    }
    if (r.pos !== r.end) throw r.fail(`${r.left} unexpected bytes at the end of the section`);
  }

  for (const e of info.exports) {
    if (e.kind !== 'function') continue;
    const t = info.functionTypes[e.index];
    if (t === undefined) throw new WasmFormatError(`export "${e.name}" refers to missing function ${e.index}`);
    e.signature = info.types[t]!;
  }
  if (info.startFunction !== undefined && info.functionTypes[info.startFunction] === undefined) {
    throw new WasmFormatError(`start function ${info.startFunction} does not exist`);
  }
  return { info, sections, memoryRanges };
}

/** Parse a module's structure; throws WasmFormatError on malformed input. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  return parse(bytes).info;
}
