/**
 * One instance's WASI state: its descriptor table (a fresh one for every call of a non-stateful function),
 * where stdin stands, and bounds-checked access to guest memory (EFAULT, never a host exception).
 */
import type { InstanceHandle } from '../../engine/host-interface.ts';
import { GuestMemory } from '../guest-memory.ts';
import { E, FILETYPE, SIZE, fail } from './abi.ts';
import { DescriptorTable, filetypeOf, type Preopen } from './descriptors.ts';
import { decodePath } from './paths.ts';

export class WasiContext {
  readonly instance: InstanceHandle;
  readonly mem: GuestMemory;
  readonly #preopens: readonly Preopen[];
  #table: DescriptorTable | undefined;
  #stdinCall: object | undefined;
  #stdin = 0;
  #lastPath = new Uint8Array(0);
  #lastPathText = '';
  /** Text written to the log streams since their last newline: a log record is one whole line. */
  readonly #partial = { stdout: '', stderr: '' };

  constructor(instance: InstanceHandle, preopens: readonly Preopen[]) {
    this.instance = instance;
    this.mem = new GuestMemory(instance.memory);
    this.#preopens = preopens;
  }

  get table(): DescriptorTable {
    return (this.#table ??= new DescriptorTable(this.#preopens));
  }

  /** The call ended: a non-stateful function's next call starts from a fresh table, as from its snapshot. */
  end(): void {
    this.#flushLog('stdout');
    this.#flushLog('stderr');
    if (this.instance.stateful) return;
    this.#table?.drop();
    this.#table = undefined;
  }

  /** Log `text` written to stdout (reactors) or stderr, one record per whole line. */
  logText(kind: 'stdout' | 'stderr', text: string): void {
    const lines = (this.#partial[kind] + text).split('\n');
    this.#partial[kind] = lines.pop()!;
    for (const line of lines) this.instance.log(kind === 'stderr' ? 2 : 1, line);
  }

  #flushLog(kind: 'stdout' | 'stderr'): void {
    if (this.#partial[kind] !== '') this.instance.log(kind === 'stderr' ? 2 : 1, this.#partial[kind]);
    this.#partial[kind] = '';
  }

  /** Where stdin stands in the current call's input (each call reads its own input from the start). */
  get stdin(): number {
    if (this.instance.call !== this.#stdinCall) {
      this.#stdinCall = this.instance.call;
      this.#stdin = 0;
    }
    return this.#stdin;
  }

  set stdin(pos: number) {
    this.#stdin = pos;
  }

  /** Guest bytes [ptr, ptr+len) as a view (no copy); EFAULT when outside memory. */
  bytes(ptr: number, len: number): Uint8Array {
    const p = ptr >>> 0;
    const n = len >>> 0;
    if (!this.mem.inBounds(p, n)) return fail(E.FAULT);
    return this.mem.u8.subarray(p, p + n);
  }

  /** The (ptr, len) pairs of an iovec array, each checked against memory. */
  iovecs(ptr: number, count: number): [number, number][] {
    const n = count >>> 0;
    const base = ptr >>> 0;
    if (!this.mem.inBounds(base, n * SIZE.IOVEC)) return fail(E.FAULT);
    const view = this.mem.view;
    const out: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const p = view.getUint32(base + i * SIZE.IOVEC, true);
      const len = view.getUint32(base + i * SIZE.IOVEC + 4, true);
      if (!this.mem.inBounds(p, len)) return fail(E.FAULT);
      out.push([p, len]);
    }
    return out;
  }

  /**
   * The guest path at [ptr, ptr+len), decoded and checked (decodePath). The last short one is kept with its
   * bytes: a guest naming the same path again gets the very same string back, already flat for the system
   * call, after a compare of at most 64 bytes.
   */
  path(ptr: number, len: number): string {
    const bytes = this.bytes(ptr, len);
    const last = this.#lastPath;
    if (last.length === bytes.length && bytes.length <= 64) {
      let same = true;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== last[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#lastPathText;
    }
    const text = decodePath(bytes);
    if (bytes.length <= 64) {
      this.#lastPath = bytes.slice();
      this.#lastPathText = text;
    }
    return text;
  }

  /** A view checked for `len` bytes at `ptr`, for writing a result struct. */
  out(ptr: number, len: number): DataView {
    if (!this.mem.inBounds(ptr >>> 0, len)) return fail(E.FAULT);
    return this.mem.view;
  }

  setU32(ptr: number, value: number): void {
    this.out(ptr, 4).setUint32(ptr >>> 0, value, true);
  }

  setU64(ptr: number, value: bigint): void {
    this.out(ptr, 8).setBigUint64(ptr >>> 0, BigInt.asUintN(64, value), true);
  }
}

export interface FileStat {
  dev: bigint;
  ino: bigint;
  nlink: bigint;
  size: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

/** Writes a witx `filestat` (64 bytes) at `ptr`. */
export function writeFilestat(ctx: WasiContext, ptr: number, st: FileStat | undefined, filetype?: number): void {
  const view = ctx.out(ptr, SIZE.FILESTAT);
  const p = ptr >>> 0;
  view.setBigUint64(p, st?.dev ?? 0n, true);
  view.setBigUint64(p + 8, st?.ino ?? 0n, true);
  view.setUint8(p + 16, filetype ?? (st ? filetypeOf(st) : FILETYPE.UNKNOWN));
  for (let i = 17; i < 24; i++) view.setUint8(p + i, 0);
  view.setBigUint64(p + 24, st?.nlink ?? 0n, true);
  view.setBigUint64(p + 32, st?.size ?? 0n, true);
  view.setBigUint64(p + 40, st?.atimeNs ?? 0n, true);
  view.setBigUint64(p + 48, st?.mtimeNs ?? 0n, true);
  view.setBigUint64(p + 56, st?.ctimeNs ?? 0n, true);
}
