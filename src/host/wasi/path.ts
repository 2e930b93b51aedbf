/** The `path_*` imports. Every path is resolved by ./paths.ts under the directory descriptor it names. */
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { DIR_RIGHTS, E, FDFLAGS, FILE_RIGHTS, LOOKUP_SYMLINK_FOLLOW, OFLAGS, R, fail, rightsArg } from './abi.ts';
import { writeFilestat, type WasiContext } from './context.ts';
import { Descriptor } from './descriptors.ts';
import { O_CLOEXEC, openBeneath } from './native.ts';
import { hostPath, namePath, openPathNoFollow, resolve, type Resolved } from './paths.ts';
import { setTimes } from './times.ts';

type Imports = Record<string, (...args: never[]) => number>;

const READ_RIGHTS = R.FD_READ | R.FD_READDIR;
const WRITE_RIGHTS = R.FD_WRITE | R.FD_DATASYNC | R.FD_ALLOCATE | R.FD_FILESTAT_SET_SIZE;

export function pathImports(ctx: WasiContext): Imports {
  /** Resolve `path` under directory `fd` (which needs `rights`), run `op`, release what resolution opened. */
  const within = <T>(fd: number, rights: number, ptr: number, len: number, follow: boolean, op: (r: Resolved) => T): T => {
    const dir = ctx.table.dir(fd, rights);
    const r = resolve(dir.host, ctx.path(ptr, len), follow);
    try {
      return op(r);
    } finally {
      r.release();
    }
  };
  const follows = (flags: number): boolean => (flags & LOOKUP_SYMLINK_FOLLOW) !== 0;

  return {
    path_open(
      fd: number,
      dirflags: number,
      path: number,
      pathLen: number,
      oflags: number,
      baseArg: bigint,
      inheritingArg: bigint,
      fdflags: number,
      opened: number,
    ) {
      const dir = ctx.table.get(fd);
      let needed = R.PATH_OPEN;
      if (oflags & OFLAGS.CREAT) needed |= R.PATH_CREATE_FILE;
      if (oflags & OFLAGS.TRUNC) needed |= R.PATH_FILESTAT_SET_SIZE;
      ctx.table.dir(fd, needed);
      // Rights that apply to no file or directory (the socket ones) are dropped, as the spec allows; any
      // other right the directory may not pass on is refused before anything is created.
      const base = rightsArg(baseArg);
      const inheriting = rightsArg(inheritingArg);
      const applicable = FILE_RIGHTS | DIR_RIGHTS;
      if ((base & applicable & ~dir.rightsInheriting) !== 0 || (inheriting & applicable & ~dir.rightsInheriting) !== 0) {
        return fail(E.NOTCAPABLE);
      }
      const name = ctx.path(path, pathLen);
      const host =
        openFast(dir.host, name, follows(dirflags), oflags, base, fdflags) ??
        within(fd, 0, path, pathLen, follows(dirflags), (r) => openResolved(r, oflags, base, fdflags));
      const flags = fdflags & (FDFLAGS.APPEND | FDFLAGS.NONBLOCK | FDFLAGS.DSYNC | FDFLAGS.RSYNC | FDFLAGS.SYNC);
      const entry = Descriptor.opened(host, base, inheriting, flags, (oflags & OFLAGS.DIRECTORY) !== 0);
      try {
        ctx.setU32(opened, ctx.table.add(entry));
      } catch (err) {
        ctx.table.close(ctx.table.add(entry));
        throw err;
      }
      return E.SUCCESS;
    },
    path_create_directory(fd: number, path: number, pathLen: number) {
      within(fd, R.PATH_CREATE_DIRECTORY, path, pathLen, false, (r) => mkdirSync(hostPath(r)));
      return E.SUCCESS;
    },
    path_remove_directory(fd: number, path: number, pathLen: number) {
      within(fd, R.PATH_REMOVE_DIRECTORY, path, pathLen, false, (r) => {
        if (r.name === '.') return fail(E.INVAL);
        rmdirSync(hostPath(r));
      });
      return E.SUCCESS;
    },
    path_unlink_file(fd: number, path: number, pathLen: number) {
      within(fd, R.PATH_UNLINK_FILE, path, pathLen, false, (r) => {
        if (r.slash) {
          // unlink("x/"): a directory is EISDIR, anything else is not a directory.
          const st = lstatSync(hostPath({ ...r, slash: false }), { throwIfNoEntry: false });
          return fail(st?.isDirectory() ? E.ISDIR : st ? E.NOTDIR : E.NOENT);
        }
        unlinkSync(hostPath(r));
      });
      return E.SUCCESS;
    },
    path_filestat_get(fd: number, flags: number, path: number, pathLen: number, buf: number) {
      const st = within(fd, R.PATH_FILESTAT_GET, path, pathLen, follows(flags), (r) =>
        follows(flags) || r.slash ? statNoFollow(r) : lstatSync(hostPath(r), { bigint: true }),
      );
      writeFilestat(ctx, buf, st);
      return E.SUCCESS;
    },
    path_filestat_set_times(fd: number, flags: number, path: number, pathLen: number, atim: bigint, mtim: bigint, fst: number) {
      within(fd, R.PATH_FILESTAT_SET_TIMES, path, pathLen, follows(flags), (r) => {
        if (!follows(flags)) return setTimes({ fd: r.dir, name: r.name }, atim, mtim, fst);
        const pfd = openPathNoFollow(r);
        try {
          setTimes({ fd: pfd }, atim, mtim, fst);
        } finally {
          closeSync(pfd);
        }
      });
      return E.SUCCESS;
    },
    path_readlink(fd: number, path: number, pathLen: number, buf: number, bufLen: number, bufused: number) {
      const target = within(fd, R.PATH_READLINK, path, pathLen, false, (r) => readlinkSync(hostPath(r), { encoding: 'buffer' }));
      const n = Math.min(target.length, bufLen >>> 0);
      ctx.bytes(buf, n).set(target.subarray(0, n));
      ctx.setU32(bufused, n);
      return E.SUCCESS;
    },
    path_symlink(oldPath: number, oldLen: number, fd: number, newPath: number, newLen: number) {
      // The target is stored as the guest wrote it; it is only ever followed by resolve(), which refuses
      // absolute targets and `..` past the preopen, so a link to `/` or `../..` leads nowhere.
      const target = ctx.path(oldPath, oldLen);
      if (target.startsWith('/')) return fail(E.NOTCAPABLE);
      within(fd, R.PATH_SYMLINK, newPath, newLen, false, (r) => {
        if (r.slash) {
          const st = lstatSync(hostPath({ ...r, slash: false }), { throwIfNoEntry: false });
          return fail(st ? E.EXIST : E.NOENT);
        }
        symlinkSync(target, hostPath(r));
      });
      return E.SUCCESS;
    },
    path_link(oldFd: number, oldFlags: number, oldPath: number, oldLen: number, newFd: number, newPath: number, newLen: number) {
      within(oldFd, R.PATH_LINK_SOURCE, oldPath, oldLen, follows(oldFlags), (from) =>
        within(newFd, R.PATH_LINK_TARGET, newPath, newLen, false, (to) => {
          linkSync(hostPath(from), hostPath(to));
        }),
      );
      return E.SUCCESS;
    },
    path_rename(fd: number, oldPath: number, oldLen: number, newFd: number, newPath: number, newLen: number) {
      within(fd, R.PATH_RENAME_SOURCE, oldPath, oldLen, false, (from) =>
        within(newFd, R.PATH_RENAME_TARGET, newPath, newLen, false, (to) => {
          if (from.name === '.' || to.name === '.') return fail(E.BUSY);
          renameSync(hostPath(from), hostPath(to));
        }),
      );
      return E.SUCCESS;
    },
  };
}

/** stat of the resolved name without following a symlink swapped in since resolution (O_PATH|O_NOFOLLOW). */
function statNoFollow(r: Resolved) {
  const pfd = openPathNoFollow(r);
  try {
    return fstatSync(pfd, { bigint: true });
  } finally {
    closeSync(pfd);
  }
}

/**
 * The host flags for path_open: access mode from the rights asked for, O_NOFOLLOW left to the caller.
 * `slash`: the path ended in `/`.
 */
function openFlags(oflags: number, base: number, fdflags: number, slash: boolean): number {
  if ((oflags & OFLAGS.DIRECTORY) !== 0 && (oflags & (OFLAGS.CREAT | OFLAGS.TRUNC)) !== 0) return fail(E.INVAL);
  const directory = (oflags & OFLAGS.DIRECTORY) !== 0;
  const read = (base & READ_RIGHTS) !== 0;
  // O_DIRECTORY with fd_write is EISDIR, as the kernel answers it (wasi-testsuite path_open_preopen).
  const write = (base & WRITE_RIGHTS) !== 0 || (oflags & OFLAGS.TRUNC) !== 0;
  let flags = 0;
  if (oflags & OFLAGS.CREAT) flags |= constants.O_CREAT;
  if (oflags & OFLAGS.EXCL) flags |= constants.O_EXCL;
  if (oflags & OFLAGS.TRUNC) flags |= constants.O_TRUNC;
  if (directory || slash) flags |= constants.O_DIRECTORY;
  // "name/" cannot be created as a file (POSIX: EISDIR), and O_CREAT|O_DIRECTORY is not portable.
  if (slash && (oflags & OFLAGS.CREAT) !== 0) return fail(E.ISDIR);
  // Append is ours to honour (fd_write seeks to the end first), never the host's O_APPEND: a guest may turn
  // it off with fd_fdstat_set_flags, and Node cannot change a host descriptor's flags.
  if (fdflags & FDFLAGS.DSYNC) flags |= constants.O_DSYNC;
  if (fdflags & (FDFLAGS.SYNC | FDFLAGS.RSYNC)) flags |= constants.O_SYNC;
  // Always non-blocking on the host: opening or reading a FIFO would otherwise hold the worker thread until
  // some writer appears (regular files and directories ignore the flag). The guest sees EAGAIN instead.
  flags |= constants.O_NONBLOCK | O_CLOEXEC;
  return flags | (read && write ? constants.O_RDWR : write ? constants.O_WRONLY : constants.O_RDONLY);
}

/**
 * The whole path in one openat2 call, confined by the kernel (RESOLVE_BENEATH): the common case of a path
 * that exists and stays inside. Any failure — an escape, a missing name, a symlink not to follow, a
 * directory opened for writing — answers undefined, and resolve() then walks the path itself, for the
 * errno WASI wants (ENOTCAPABLE, not the kernel's EXDEV) and the cases the kernel answers differently.
 */
function openFast(dir: number, path: string, follow: boolean, oflags: number, base: number, fdflags: number): number | undefined {
  const flags = openFlags(oflags, base, fdflags, path.endsWith('/'));
  const fd = openBeneath(dir, path, follow ? flags : flags | constants.O_NOFOLLOW, 0o666);
  return fd === undefined || fd < 0 ? undefined : fd;
}

/** The host open for path_open after resolve(): never following the last name, which is no symlink when following. */
function openResolved(r: Resolved, oflags: number, base: number, fdflags: number): number {
  const flags = openFlags(oflags, base, fdflags, r.slash) | constants.O_NOFOLLOW;
  const path = namePath(r);
  try {
    return openSync(path, flags, 0o666);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Guests pass every right they may hold (wasi-libc does): a directory opened with write-ish rights
    // but without fd_write itself is opened for reading, and its rights are cut to a directory's.
    if (code === 'EISDIR' && (base & R.FD_WRITE) === 0 && (oflags & OFLAGS.TRUNC) === 0) {
      return openSync(path, (flags & ~(constants.O_RDWR | constants.O_WRONLY)) | constants.O_RDONLY);
    }
    if (code === 'ELOOP' && r.slash) return fail(E.NOTDIR);
    throw err;
  }
}
