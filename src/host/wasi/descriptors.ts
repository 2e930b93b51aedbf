/**
 * The guest's descriptor table. Numbers are Plume's, never the host's: 0/1/2 are the call's input, output
 * and log (virtual streams), 3… the preopened directories, then what the guest opens. A guest that closes,
 * renumbers or writes any of them changes only this table. Host descriptors the guest opened are closed
 * when the table is dropped, which happens after every call of a non-stateful function.
 */
import { closeSync } from 'node:fs';
import { DIR_RIGHTS, E, FILE_RIGHTS, FILETYPE, STDIN_RIGHTS, STDOUT_RIGHTS, fail } from './abi.ts';

export type DescriptorKind = 'stdin' | 'stdout' | 'stderr' | 'file' | 'dir';

export interface Descriptor {
  readonly kind: DescriptorKind;
  /** The host descriptor; -1 for the virtual streams. */
  readonly host: number;
  /** Whether this entry closes `host` when dropped (a preopen's host descriptor belongs to the instance). */
  readonly owned: boolean;
  readonly filetype: number;
  rightsBase: number;
  rightsInheriting: number;
  fdflags: number;
  /** The file offset (Node has no lseek: every read and write is positioned). */
  position: number;
  /** The guest name of a preopened directory. */
  readonly preopen?: string;
  /** The directory's listing, taken when a readdir starts from cookie 0. */
  listing?: DirEntry[];
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

function stream(kind: 'stdin' | 'stdout' | 'stderr'): Descriptor {
  return {
    kind,
    host: -1,
    owned: false,
    filetype: FILETYPE.UNKNOWN,
    rightsBase: kind === 'stdin' ? STDIN_RIGHTS : STDOUT_RIGHTS,
    rightsInheriting: 0,
    fdflags: 0,
    position: 0,
  };
}

export class DescriptorTable {
  readonly #entries: (Descriptor | undefined)[];

  constructor(preopens: readonly Preopen[]) {
    this.#entries = [stream('stdin'), stream('stdout'), stream('stderr')];
    for (const p of preopens) {
      this.#entries.push({
        kind: 'dir',
        host: p.host,
        owned: false,
        filetype: FILETYPE.DIRECTORY,
        rightsBase: DIR_RIGHTS,
        rightsInheriting: DIR_RIGHTS | FILE_RIGHTS,
        fdflags: 0,
        position: 0,
        preopen: p.guest,
      });
    }
  }

  /** The descriptor `fd` with all of `rights`: EBADF if it is not open, ENOTCAPABLE if a right is missing. */
  get(fd: number, rights = 0): Descriptor {
    const d = this.#entries[fd >>> 0];
    if (!d) return fail(E.BADF);
    if ((d.rightsBase & rights) !== rights) return fail(E.NOTCAPABLE);
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
  try {
    closeSync(d.host);
  } catch {
    // Closing can only fail for a descriptor already gone; nothing is left to release.
  }
}
