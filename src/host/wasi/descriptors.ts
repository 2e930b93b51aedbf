/**
 * The guest's descriptor table. Numbers are Plume's, never the host's: 0/1/2 are the call's input, output
 * and log (virtual streams), 3… the preopened directories, then what the guest opens. A guest that closes,
 * renumbers or writes any of them changes only this table. Host descriptors the guest opened are closed
 * when the table is dropped, which happens after every call of a non-stateful function.
 */
import { fstatSync } from 'node:fs';
import { DIR_RIGHTS, E, FILE_RIGHTS, FILETYPE, STDIN_RIGHTS, STDOUT_RIGHTS, fail } from './abi.ts';
import type { FileStat } from './context.ts';
import { closeHost } from './native.ts';
import type { HostStream } from './streams.ts';

export type DescriptorKind = 'stdin' | 'stdout' | 'stderr' | 'file' | 'dir';

/** The WASI filetype of a host stat. */
export function filetypeOf(
  st: Pick<FileStat, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'>,
): number {
  if (st.isFile()) return FILETYPE.REGULAR_FILE;
  if (st.isDirectory()) return FILETYPE.DIRECTORY;
  if (st.isSymbolicLink()) return FILETYPE.SYMBOLIC_LINK;
  if (st.isCharacterDevice()) return FILETYPE.CHARACTER_DEVICE;
  if (st.isBlockDevice()) return FILETYPE.BLOCK_DEVICE;
  if (st.isSocket()) return FILETYPE.SOCKET_STREAM;
  return FILETYPE.UNKNOWN;
}

/**
 * One entry of the table. Every entry is of this one class, so that the imports' reads of it stay
 * monomorphic. The type of one that path_open made, and so the rights it keeps (a file's or a
 * directory's), is read from the host (one fstat) only when something first asks: a read that succeeds
 * before that shows the descriptor is no directory (see fd_read), so an open-read-close makes no stat.
 */
export class Descriptor {
  /** The host descriptor; -1 for the virtual streams. */
  readonly host: number;
  /** Whether this entry closes `host` when dropped (a preopen's host descriptor belongs to the instance). */
  readonly owned: boolean;
  rightsInheriting: number;
  fdflags: number;
  /** The file offset (Node has no lseek: every read and write is positioned). */
  position = 0;
  /** The guest name of a preopened directory. */
  readonly preopen: string | undefined;
  /** The directory's listing, taken when a readdir starts from cookie 0. */
  listing: DirEntry[] | undefined;
  /** A pipe or socket whose reads wait without a thread, once one had nothing to give (./streams.ts). */
  stream: HostStream | undefined;
  /** The rights asked for, before they are cut to what a file or a directory can have. */
  readonly asked: number;
  #kind: DescriptorKind | undefined;
  #filetype: number | undefined;
  #rightsBase: number | undefined;

  private constructor(host: number, owned: boolean, asked: number, inheriting: number, fdflags: number, preopen?: string) {
    this.host = host;
    this.owned = owned;
    this.asked = asked;
    this.rightsInheriting = inheriting;
    this.fdflags = fdflags;
    this.preopen = preopen;
  }

  /** A virtual stream: 0, 1 or 2. */
  static stream(kind: 'stdin' | 'stdout' | 'stderr'): Descriptor {
    const rights = kind === 'stdin' ? STDIN_RIGHTS : STDOUT_RIGHTS;
    return new Descriptor(-1, false, rights, 0, 0).#typed(kind, FILETYPE.UNKNOWN);
  }

  /** A granted directory, open for as long as the instance lives. */
  static preopen(p: Preopen): Descriptor {
    return new Descriptor(p.host, false, DIR_RIGHTS, DIR_RIGHTS | FILE_RIGHTS, 0, p.guest).#typed('dir', FILETYPE.DIRECTORY);
  }

  /** What path_open opened; `directory`: opened with O_DIRECTORY, so the kernel has said what it is. */
  static opened(host: number, asked: number, inheriting: number, fdflags: number, directory: boolean): Descriptor {
    const d = new Descriptor(host, true, asked, inheriting, fdflags);
    return directory ? d.#typed('dir', FILETYPE.DIRECTORY) : d;
  }

  #typed(kind: DescriptorKind, filetype: number): this {
    this.#kind = kind;
    this.#filetype = filetype;
    return this;
  }

  get kind(): DescriptorKind {
    if (this.#kind === undefined) this.#stat();
    return this.#kind!;
  }

  get filetype(): number {
    if (this.#filetype === undefined) this.#stat();
    return this.#filetype!;
  }

  get rightsBase(): number {
    return (this.#rightsBase ??= this.asked & (this.kind === 'dir' ? DIR_RIGHTS : this.kind === 'file' ? FILE_RIGHTS : ~0));
  }

  set rightsBase(rights: number) {
    this.#rightsBase = rights;
  }

  /** Neither the type nor the rights are known yet: nothing has asked. */
  get untyped(): boolean {
    return this.#kind === undefined;
  }

  /** A read through the descriptor succeeded: it is a file (reading a directory fails with EISDIR). */
  readSucceeded(): void {
    this.#kind ??= 'file';
  }

  #stat(): void {
    const st = fstatSync(this.host);
    this.#filetype ??= filetypeOf(st);
    this.#kind ??= st.isDirectory() ? 'dir' : 'file';
  }
}

export interface DirEntry {
  readonly name: Uint8Array;
  readonly ino: bigint;
  readonly type: number;
}

export interface Preopen {
  readonly guest: string;
  readonly host: number;
}

export class DescriptorTable {
  readonly #entries: (Descriptor | undefined)[];

  constructor(preopens: readonly Preopen[]) {
    this.#entries = [Descriptor.stream('stdin'), Descriptor.stream('stdout'), Descriptor.stream('stderr')];
    for (const p of preopens) this.#entries.push(Descriptor.preopen(p));
  }

  /** The descriptor `fd` with all of `rights`: EBADF if it is not open, ENOTCAPABLE if a right is missing. */
  get(fd: number, rights = 0): Descriptor {
    const d = this.#entries[fd >>> 0];
    if (!d) return fail(E.BADF);
    // No rights asked, none read: an untyped descriptor stays so (closing one needs no fstat).
    if (rights !== 0 && (d.rightsBase & rights) !== rights) return fail(E.NOTCAPABLE);
    return d;
  }

  /** A directory descriptor for a path call: ENOTDIR when `fd` is open but not a directory. */
  dir(fd: number, rights: number): Descriptor {
    const d = this.get(fd);
    if (d.kind !== 'dir') return fail(E.NOTDIR);
    if ((d.rightsBase & rights) !== rights) return fail(E.NOTCAPABLE);
    return d;
  }

  /** The lowest free number, as POSIX open does. */
  add(d: Descriptor): number {
    let fd = 0;
    while (this.#entries[fd] !== undefined) fd++;
    this.#entries[fd] = d;
    return fd;
  }

  close(fd: number): void {
    const d = this.get(fd);
    this.#entries[fd >>> 0] = undefined;
    release(d);
  }

  /** fd_renumber: `to` must be open; it is closed and `from` takes its number. */
  renumber(from: number, to: number): void {
    const d = this.get(from);
    const old = this.get(to);
    if (from >>> 0 === to >>> 0) return;
    this.#entries[to >>> 0] = d;
    this.#entries[from >>> 0] = undefined;
    release(old);
  }

  /** Closes every host descriptor this table opened. */
  drop(): void {
    for (const d of this.#entries) if (d) release(d);
    this.#entries.length = 0;
  }
}

function release(d: Descriptor): void {
  if (!d.owned) return;
  if (d.stream) d.stream.close();
  else closeHost(d.host);
}
