/** The `fd_*` imports: reads and writes, offsets, descriptor and file attributes, directory listings. */
import { fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, readSync, writeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { Payload } from '../../data/payload.ts';
import { E, FDFLAGS, FILETYPE, R, SIZE, WHENCE, fail, rightsArg, unknownRights } from './abi.ts';
import { writeFilestat, type WasiContext } from './context.ts';
import { filetypeOf, type Descriptor, type DirEntry } from './descriptors.ts';
import { listDirectory } from './native.ts';
import { HostStream } from './streams.ts';
import { self } from './paths.ts';
import { setTimes } from './times.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const I64_MAX = (1n << 63n) - 1n;

/** Files with an offset; a FIFO, socket or character device is read and written where it stands. */
const seekable = (d: Descriptor): boolean => d.filetype === FILETYPE.REGULAR_FILE || d.filetype === FILETYPE.BLOCK_DEVICE;

/** A guest's file offset: EINVAL when negative as an i64; offsets past 2^53 are beyond any file here. */
function offsetArg(offset: bigint): number {
  if (offset < 0n || offset > I64_MAX) return fail(E.INVAL);
  return Number(offset);
}

type Imports = Record<string, (...args: never[]) => number | Promise<number>>;

export function fdImports(ctx: WasiContext): Imports {
  const table = (): WasiContext['table'] => ctx.table;
  return {
    fd_read(fd: number, iovs: number, iovsLen: number, nread: number): number | Promise<number> {
      const untyped = readUntyped(ctx, table().get(fd), iovs, iovsLen);
      if (untyped !== undefined) {
        ctx.setU32(nread, untyped);
        return E.SUCCESS;
      }
      const d = table().get(fd, R.FD_READ);
      const vecs = ctx.iovecs(iovs, iovsLen);
      let n: number | Promise<number>;
      if (d.kind === 'stdin') n = readStdin(ctx, vecs);
      else if (d.kind === 'file' && seekable(d)) d.position += n = readFile(ctx, d, vecs, d.position);
      else if (d.kind === 'file') n = readStream(ctx, d, vecs);
      else return fail(E.BADF);
      if (typeof n === 'number') {
        ctx.setU32(nread, n);
        return E.SUCCESS;
      }
      return n.then((bytes) => {
        ctx.setU32(nread, bytes);
        return E.SUCCESS;
      });
    },
    fd_pread(fd: number, iovs: number, iovsLen: number, offset: bigint, nread: number) {
      const d = table().get(fd);
      if (d.kind !== 'file') return d.kind === 'dir' ? fail(E.ISDIR) : fail(E.SPIPE);
      if (!seekable(d)) return fail(E.SPIPE);
      table().get(fd, R.FD_READ | R.FD_SEEK);
      ctx.setU32(nread, readFile(ctx, d, ctx.iovecs(iovs, iovsLen), offsetArg(offset)));
      return E.SUCCESS;
    },
    fd_write(fd: number, iovs: number, iovsLen: number, nwritten: number) {
      const d = table().get(fd, R.FD_WRITE);
      const vecs = ctx.iovecs(iovs, iovsLen);
      let n: number;
      if (d.kind === 'stdout' || d.kind === 'stderr') n = writeStream(ctx, d.kind, vecs);
      else if (d.kind === 'file') {
        const pos = (d.fdflags & FDFLAGS.APPEND) !== 0 ? fstatSync(d.host).size : d.position;
        n = writeFile(ctx, d, vecs, pos);
        d.position = pos + n;
      } else return fail(E.BADF);
      ctx.setU32(nwritten, n);
      return E.SUCCESS;
    },
    fd_pwrite(fd: number, iovs: number, iovsLen: number, offset: bigint, nwritten: number) {
      const d = table().get(fd);
      if (d.kind !== 'file') return d.kind === 'dir' ? fail(E.ISDIR) : fail(E.SPIPE);
      if (!seekable(d)) return fail(E.SPIPE);
      table().get(fd, R.FD_WRITE | R.FD_SEEK);
      ctx.setU32(nwritten, writeFile(ctx, d, ctx.iovecs(iovs, iovsLen), offsetArg(offset)));
      return E.SUCCESS;
    },
    fd_seek(fd: number, offset: bigint, whence: number, newOffset: number) {
      const d = table().get(fd);
      if ((d.kind !== 'file' && d.kind !== 'dir') || (d.kind === 'file' && !seekable(d))) return fail(E.SPIPE);
      table().get(fd, offset === 0n && whence === WHENCE.CUR ? R.FD_TELL : R.FD_SEEK);
      let base: number;
      if (whence === WHENCE.SET) base = 0;
      else if (whence === WHENCE.CUR) base = d.position;
      else if (whence === WHENCE.END) base = fstatSync(d.host).size;
      else return fail(E.INVAL);
      const pos = base + Number(offset);
      if (pos < 0 || pos > Number.MAX_SAFE_INTEGER) return fail(E.INVAL);
      d.position = pos;
      ctx.setU64(newOffset, BigInt(pos));
      return E.SUCCESS;
    },
    fd_tell(fd: number, out: number) {
      const d = table().get(fd);
      if ((d.kind !== 'file' && d.kind !== 'dir') || (d.kind === 'file' && !seekable(d))) return fail(E.SPIPE);
      table().get(fd, R.FD_TELL);
      ctx.setU64(out, BigInt(d.position));
      return E.SUCCESS;
    },
    fd_fdstat_get(fd: number, ptr: number) {
      const d = table().get(fd);
      const view = ctx.out(ptr, SIZE.FDSTAT);
      const p = ptr >>> 0;
      view.setUint8(p, d.filetype);
      view.setUint8(p + 1, 0);
      view.setUint16(p + 2, d.fdflags, true);
      view.setUint32(p + 4, 0, true);
      view.setBigUint64(p + 8, BigInt(d.rightsBase), true);
      view.setBigUint64(p + 16, BigInt(d.rightsInheriting), true);
      return E.SUCCESS;
    },
    fd_fdstat_set_flags(fd: number, flags: number) {
      const d = table().get(fd, R.FD_FDSTAT_SET_FLAGS);
      if ((flags & ~0x1f) !== 0) return fail(E.INVAL);
      // Node cannot change a host descriptor's flags (no fcntl): append and nonblock are ours to honour;
      // the sync flags would need the host's O_SYNC, which only open can set.
      if ((flags & (FDFLAGS.DSYNC | FDFLAGS.RSYNC | FDFLAGS.SYNC)) !== (d.fdflags & (FDFLAGS.DSYNC | FDFLAGS.RSYNC | FDFLAGS.SYNC))) {
        return fail(E.NOTSUP);
      }
      d.fdflags = flags;
      return E.SUCCESS;
    },
    fd_fdstat_set_rights(fd: number, baseArg: bigint, inheritingArg: bigint) {
      const d = table().get(fd);
      const base = rightsArg(baseArg);
      const inheriting = rightsArg(inheritingArg);
      // Rights only ever shrink: a descriptor cannot grant itself what it was not given.
      if (unknownRights(baseArg) || unknownRights(inheritingArg)) return fail(E.NOTCAPABLE);
      if ((base & ~d.rightsBase) !== 0 || (inheriting & ~d.rightsInheriting) !== 0) return fail(E.NOTCAPABLE);
      d.rightsBase = base;
      d.rightsInheriting = inheriting;
      return E.SUCCESS;
    },
    fd_filestat_get(fd: number, ptr: number) {
      const d = table().get(fd, R.FD_FILESTAT_GET);
      if (d.host < 0) writeFilestat(ctx, ptr, undefined, d.filetype);
      else writeFilestat(ctx, ptr, fstatSync(d.host, { bigint: true }));
      return E.SUCCESS;
    },
    fd_filestat_set_size(fd: number, size: bigint) {
      const d = table().get(fd, R.FD_FILESTAT_SET_SIZE);
      if (d.kind !== 'file') return fail(E.BADF);
      if (size > I64_MAX) return fail(E.INVAL);
      ftruncateSync(d.host, Number(size));
      return E.SUCCESS;
    },
    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number) {
      const d = table().get(fd, R.FD_FILESTAT_SET_TIMES);
      if (d.host < 0) return fail(E.BADF);
      setTimes({ fd: d.host }, atim, mtim, flags);
      return E.SUCCESS;
    },
    fd_advise(fd: number, offset: bigint, len: bigint, advice: number) {
      const d = table().get(fd, R.FD_ADVISE);
      if (advice > 5 || offset < 0n || len < 0n) return fail(E.INVAL);
      // Advice is a hint; Node offers no posix_fadvise, and ignoring a hint is always correct.
      if (d.kind === 'dir') return fail(E.BADF);
      return E.SUCCESS;
    },
    fd_allocate(fd: number, offset: bigint, len: bigint) {
      const d = table().get(fd, R.FD_ALLOCATE);
      if (d.kind !== 'file') return fail(E.BADF);
      if (offset < 0n || len <= 0n || offset + len > I64_MAX) return fail(E.INVAL);
      // Without posix_fallocate, extending the size is what a guest can observe of an allocation.
      if (fstatSync(d.host, { bigint: true }).size < offset + len) ftruncateSync(d.host, Number(offset + len));
      return E.SUCCESS;
    },
    fd_datasync(fd: number) {
      const d = table().get(fd, R.FD_DATASYNC);
      if (d.host < 0) return fail(E.INVAL);
      fdatasyncSync(d.host);
      return E.SUCCESS;
    },
    fd_sync(fd: number) {
      const d = table().get(fd, R.FD_SYNC);
      if (d.host < 0) return fail(E.INVAL);
      fsyncSync(d.host);
      return E.SUCCESS;
    },
    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, bufused: number) {
      const d = table().get(fd);
      if (d.kind !== 'dir') return fail(E.NOTDIR);
      table().get(fd, R.FD_READDIR);
      ctx.setU32(bufused, readdir(ctx, d, buf, bufLen, cookie));
      return E.SUCCESS;
    },
    fd_renumber(from: number, to: number) {
      table().renumber(from, to);
      return E.SUCCESS;
    },
    fd_close(fd: number) {
      table().close(fd);
      return E.SUCCESS;
    },
    fd_prestat_get(fd: number, ptr: number) {
      const d = table().get(fd);
      if (d.preopen === undefined) return fail(E.BADF);
      const view = ctx.out(ptr, 8);
      view.setUint32(ptr >>> 0, 0, true);
      view.setUint32((ptr >>> 0) + 4, encoder.encode(d.preopen).length, true);
      return E.SUCCESS;
    },
    fd_prestat_dir_name(fd: number, path: number, pathLen: number) {
      const d = table().get(fd);
      if (d.preopen === undefined) return fail(E.BADF);
      const name = encoder.encode(d.preopen);
      if (pathLen >>> 0 < name.length) return fail(E.NAMETOOLONG);
      ctx.bytes(path, name.length).set(name);
      return E.SUCCESS;
    },
  };
}

/** A command's stdin is its input; a reactor reads its input through plume_v1, and its stdin is empty. */
export const stdinOf = (ctx: WasiContext): Payload => (ctx.instance.kind === 'command' ? ctx.instance.call.input : Payload.empty);

function readStdin(ctx: WasiContext, vecs: [number, number][]): number {
  const input = stdinOf(ctx);
  let pos = ctx.stdin;
  let total = 0;
  for (const [ptr, len] of vecs) {
    if (pos >= input.length) break;
    const n = input.read(pos, ctx.mem.u8, ptr, len);
    pos += n;
    total += n;
  }
  ctx.stdin = pos;
  ctx.instance.call.inputCopied += total;
  return total;
}

/** Reads (readSync) or writes (writeSync) the iovecs at `offset` (unpositioned where the file cannot seek); stops at a short transfer. */
function transferFile(
  io: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => number,
  ctx: WasiContext,
  d: Descriptor,
  vecs: [number, number][],
  offset: number,
  positioned = seekable(d),
): number {
  let total = 0;
  let pos = offset;
  for (const [ptr, len] of vecs) {
    if (len === 0) continue;
    let n: number;
    try {
      n = io(d.host, ctx.mem.u8, ptr, len, positioned ? pos : null);
    } catch (err) {
      // A pipe that ran dry (or full) after some bytes moved: those bytes are the answer, not the error.
      if (total > 0 && (err as { code?: string }).code === 'EAGAIN') return total;
      throw err;
    }
    total += n;
    pos += n;
    if (n < len) break;
  }
  return total;
}

/**
 * The stream a poll_oneoff on `d` for reading waits on: a pipe or socket's (made now if it has none yet),
 * undefined for anything a read never waits on (files, directories, the call's stdin) or libuv cannot watch.
 */
export function pollStream(d: Descriptor): HostStream | undefined {
  if (!d.owned || d.kind !== 'file' || seekable(d)) return undefined;
  return (d.stream ??= HostStream.open(d.host));
}

/**
 * A read of a pipe, socket or device (no offset): what is there now, or, where the host says EAGAIN, a
 * promise of what arrives (the guest suspends; see ./streams.ts). EAGAIN stays the answer only for a
 * descriptor libuv cannot watch (a terminal, say).
 */
function readStream(ctx: WasiContext, d: Descriptor, vecs: [number, number][]): number | Promise<number> {
  if (!d.stream) {
    try {
      return readFile(ctx, d, vecs, 0);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
    }
    d.stream = HostStream.open(d.host) ?? fail(E.AGAIN);
  }
  return d.stream.read(() => ctx.mem.u8, vecs);
}

/**
 * The first read of a descriptor whose type nobody has asked for yet, tried before knowing it: when it
 * succeeds the descriptor is a file, keeps a file's rights (fd_read among them, as asked) and has read
 * exactly what a read after an fstat would have. When it fails nothing was read, and undefined sends
 * fd_read the usual way, which checks the type first (a directory's rights, EISDIR, a pipe's ESPIPE).
 */
function readUntyped(ctx: WasiContext, d: Descriptor, iovs: number, iovsLen: number): number | undefined {
  if (!d.untyped || (d.asked & R.FD_READ) === 0) return undefined;
  let n: number;
  try {
    const vecs = ctx.iovecs(iovs, iovsLen);
    // Only a read that reached the host proves anything; positioned reads move nothing, so on a failure
    // the usual way may read the same bytes again.
    if (vecs.every(([, len]) => len === 0)) return undefined;
    n = transferFile(readSync, ctx, d, vecs, d.position, true);
  } catch {
    return undefined;
  }
  d.readSucceeded();
  d.position += n;
  return n;
}

const readFile = (ctx: WasiContext, d: Descriptor, vecs: [number, number][], offset: number): number =>
  transferFile(readSync, ctx, d, vecs, offset);
const writeFile = (ctx: WasiContext, d: Descriptor, vecs: [number, number][], offset: number): number =>
  transferFile(writeSync, ctx, d, vecs, offset);

/** stdout is the call's output for a command, the log for a reactor (whose output is `output_write`); stderr is the log. */
function writeStream(ctx: WasiContext, kind: 'stdout' | 'stderr', vecs: [number, number][]): number {
  const { instance } = ctx;
  const call = instance.call;
  let total = 0;
  for (const [, len] of vecs) total += len;
  if (kind === 'stdout' && instance.kind === 'command') {
    if (call.outputBytes + total > call.maxOutputBytes) {
      call.overflowed = true;
      return fail(E.FBIG);
    }
    for (const [ptr, len] of vecs) if (len > 0) call.output.push(ctx.mem.u8.slice(ptr, ptr + len));
    call.outputBytes += total;
    return total;
  }
  for (const [ptr, len] of vecs) ctx.logText(kind, decoder.decode(ctx.mem.u8.subarray(ptr, ptr + len), { stream: true }));
  return total;
}

/** Fills `buf` with dirents from `cookie` on (the last one may be cut short: the guest then retries larger). */
function readdir(ctx: WasiContext, d: Descriptor, buf: number, bufLen: number, cookie: bigint): number {
  if (cookie === 0n || !d.listing) d.listing = list(d.host);
  const out = ctx.bytes(buf, bufLen);
  const entry = new Uint8Array(SIZE.DIRENT);
  const view = new DataView(entry.buffer);
  let used = 0;
  for (let i = Number(cookie); i < d.listing.length && used < out.length; i++) {
    const e = d.listing[i]!;
    view.setBigUint64(0, BigInt(i + 1), true);
    view.setBigUint64(8, e.ino, true);
    view.setUint32(16, e.name.length, true);
    view.setUint8(20, e.type);
    const head = Math.min(SIZE.DIRENT, out.length - used);
    out.set(entry.subarray(0, head), used);
    used += head;
    const tail = Math.min(e.name.length, out.length - used);
    out.set(e.name.subarray(0, tail), used);
    used += tail;
  }
  return used;
}

/** Linux's DT_* as WASI filetypes; DT_UNKNOWN (0, from filesystems that do not say) is asked of lstat. */
const DT_FILETYPE: Record<number, number> = {
  1: FILETYPE.UNKNOWN, // a FIFO has no WASI filetype
  2: FILETYPE.CHARACTER_DEVICE,
  4: FILETYPE.DIRECTORY,
  6: FILETYPE.BLOCK_DEVICE,
  8: FILETYPE.REGULAR_FILE,
  10: FILETYPE.SYMBOLIC_LINK,
  12: FILETYPE.SOCKET_STREAM,
};

function list(host: number): DirEntry[] {
  const raw = listDirectory(host);
  if (raw === undefined) return fail(E.NOSYS);
  if (typeof raw === 'number') throw Object.assign(new Error('reading the directory failed'), { code: getSystemErrorName(raw) });
  return raw.map((e) => ({ name: e.name, ino: e.ino, type: DT_FILETYPE[e.dtype] ?? typeOf(host, e.name) }));
}

/** The filetype of `name` in the directory `host` when the directory listing did not carry it. */
function typeOf(host: number, name: Uint8Array): number {
  const st = lstatSync(Buffer.concat([Buffer.from(`${self(host)}/`), name]), { throwIfNoEntry: false });
  return st ? filetypeOf(st) : FILETYPE.UNKNOWN;
}
