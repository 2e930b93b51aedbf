/**
 * The few Linux system calls Node does not expose and the WASI layer needs, called through koffi (an FFI
 * library with prebuilt binaries): `openat2` with RESOLVE_BENEATH, which has the kernel itself keep a path
 * under a directory descriptor in one call, and `getdents64`, which lists a directory with each entry's
 * inode and type in a few calls instead of one stat per entry. Every function answers a value ≥ 0 or
 * -errno; none throws for a failed call.
 */
import { createRequire } from 'node:module';
import { closeSync, constants } from 'node:fs';

interface Koffi {
  load(path: string | null): { func(name: string, result: string, params: string[]): (...args: unknown[]) => number };
  errno(): number;
}

/** x86-64 and AArch64 numbers: openat2 is 437 on both (one table since Linux 5.6); getdents64 differs. */
const SYS_OPENAT2 = 437;
const SYS_GETDENTS64 = process.arch === 'arm64' ? 61 : 217;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_BENEATH = 0x08;
const ENOSYS = 38;
/** Not in fs.constants (libuv adds it to every open of its own); the same on x86-64 and AArch64. */
export const O_CLOEXEC = 0o2000000;

interface Libc {
  openat2(dirfd: number, path: string, how: Uint8Array, size: number): number;
  openat(dirfd: number, path: string, flags: number, mode: number): number;
  getdents64(fd: number, buf: Uint8Array, size: number): number;
  close(fd: number): number;
  errno(): number;
}

function loadLibc(): Libc | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    // The C library the process itself is linked with (glibc or musl), not a file name that only one of them has.
    const lib = koffi.load(null);
    // syscall(2) is variadic; on x86-64 and AArch64 Linux fixed integer and pointer arguments are passed
    // exactly as variadic ones, so each use gets a prototype of its own (koffi's variadic calls are slower).
    const openat2 = lib.func('syscall', 'long', ['long', 'int', 'str', 'void *', 'size_t']);
    const getdents64 = lib.func('syscall', 'long', ['long', 'int', 'void *', 'size_t']);
    return {
      openat2: (dirfd, path, how, size) => ret(openat2(SYS_OPENAT2, dirfd, path, how, size), koffi),
      openat: lib.func('openat', 'int', ['int', 'str', 'int', 'int']) as Libc['openat'],
      getdents64: (fd, buf, size) => ret(getdents64(SYS_GETDENTS64, fd, buf, size), koffi),
      close: lib.func('close', 'int', ['int']) as Libc['close'],
      errno: () => koffi.errno(),
    };
  } catch {
    return undefined;
  }
}

const ret = (n: number, koffi: Koffi): number => (n < 0 ? -koffi.errno() : n);

const libc = loadLibc();
/** openat2 answered ENOSYS once (a kernel before 5.6, or a seccomp filter): callers take their own path. */
let noOpenat2 = libc === undefined;
/** struct open_how { u64 flags; u64 mode; u64 resolve; }, little-endian (as both architectures above). */
const how = new Uint8Array(24);
const howWords = new Uint32Array(how.buffer);
howWords[4] = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

/**
 * Opens `path` under the directory `dirfd` with the kernel's own confinement: `..` that would climb out,
 * an absolute path or symlink target, and /proc's magic links all fail (EXDEV, ELOOP) instead of escaping.
 * Answers the new descriptor, -errno, or undefined where openat2 is not available.
 */
export function openBeneath(dirfd: number, path: string, flags: number, mode: number): number | undefined {
  if (!libc) return undefined;
  // One name that is no symlink (O_NOFOLLOW refuses one) cannot leave the directory: plain openat, cheaper.
  if (path !== '' && path !== '.' && path !== '..' && !path.includes('/')) {
    const fd = libc.openat(dirfd, path, flags | constants.O_NOFOLLOW, (flags & constants.O_CREAT) !== 0 ? mode : 0);
    return fd < 0 ? -libc.errno() : fd;
  }
  if (noOpenat2) return undefined;
  howWords[0] = flags;
  howWords[2] = (flags & constants.O_CREAT) !== 0 ? mode : 0;
  const fd = libc!.openat2(dirfd, path, how, 24);
  if (fd === -ENOSYS) {
    noOpenat2 = true;
    return undefined;
  }
  return fd;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | O_CLOEXEC;
const buffer = new Uint8Array(64 * 1024);
const view = new DataView(buffer.buffer);

/** One directory entry as getdents64 reports it: d_type is Linux's DT_* (0 where the filesystem does not say). */
export interface RawDirent {
  readonly name: Uint8Array;
  readonly ino: bigint;
  readonly dtype: number;
}

/**
 * Every entry of the directory open as `dirfd` (`.` and `..` included), read through a descriptor of its
 * own so that the position of `dirfd`, which other instances of the function may share, never moves.
 * Answers -errno when the directory cannot be read, undefined where getdents64 is not available.
 */
export function listDirectory(dirfd: number): RawDirent[] | number | undefined {
  if (!libc) return undefined;
  const fd = libc.openat(dirfd, '.', DIR_FLAGS, 0);
  if (fd < 0) return -libc.errno();
  try {
    const entries: RawDirent[] = [];
    for (;;) {
      const n = libc.getdents64(fd, buffer, buffer.length);
      if (n < 0) return n;
      if (n === 0) return entries;
      for (let at = 0; at < n;) {
        const reclen = view.getUint16(at + 16, true);
        const name = buffer.subarray(at + 19, at + reclen);
        const end = name.indexOf(0);
        entries.push({ ino: view.getBigUint64(at, true), dtype: buffer[at + 18]!, name: name.slice(0, end < 0 ? name.length : end) });
        at += reclen;
      }
    }
  } finally {
    libc.close(fd);
  }
}

/** Closes a host descriptor (errors ignored: it can only fail for one already gone); cheaper than closeSync. */
export function closeHost(fd: number): void {
  if (libc) libc.close(fd);
  else {
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing is left to release.
    }
  }
}
