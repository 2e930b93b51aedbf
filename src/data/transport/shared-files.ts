/**
 * Shared-memory files: how `local` mode moves a large request body (docs/dataplane.md, Bodies through
 * shared memory). The client writes the body into a file on tmpfs and sends where it lies; the server, on
 * the same host, reads it straight into a pooled buffer of its store: two kernel copies and no socket
 * traffic, where a Unix socket moves 100 MB in ~500 round trips of its 208 KiB buffer, each a wake-up of
 * the other process (measured: 100 MB ~30 ms over the socket, ~20 ms through a file).
 *
 * Each file is unlinked the moment it is made and reached as `/proc/<pid>/fd/<fd>`, so a killed process
 * leaves nothing behind: the kernel frees the pages when the last descriptor closes. Files are reused,
 * because writing into pages a file already has is cheaper than having tmpfs allocate new ones.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, read, readlinkSync, statfsSync, unlinkSync, write } from 'node:fs';

const DIR = '/dev/shm';

/** Linux with a tmpfs at /dev/shm and /proc: elsewhere `local` mode pulls large bodies over the socket instead. */
export const sharedFilesAvailable = process.platform === 'linux' && existsSync(DIR) && existsSync('/proc/self/fd');

/**
 * A shared body is read a piece of this size at a time, by up to READERS reads in flight; a body of 2 MiB
 * or less is one read (each piece costs a thread-pool round trip and a wake-up of this thread).
 */
const READ_PIECE = 2 * 1024 * 1024;
const READERS = 4;

/** The only paths a server opens for a client: another process's descriptor, never a named file. */
const PATH = /^\/proc\/(\d{1,10})\/fd\/\d{1,10}$/;
/** What such a descriptor must be: a body file of that very process, made (and unlinked) by `create`. */
const BODY_FILE = /^\/dev\/shm\/plume-body-(\d{1,10})-[0-9a-f]{16} \(deleted\)$/;

export interface SharedFile {
  readonly fd: number;
  /** Where another process on this host opens it. */
  readonly path: string;
  /** Bytes the file has (the most ever written into it). */
  size: number;
}

/** A process's files, each lent to one body at a time; up to `spareBytes` of them are kept for reuse. */
export class SharedFiles {
  readonly #spare: SharedFile[] = [];
  readonly #spareLimit: number;
  #spareBytes = 0;

  constructor(spareBytes = 256 * 1024 * 1024) {
    this.#spareLimit = spareBytes;
  }

  /**
   * Can a body of `length` bytes go through a file now: a spare already has that many bytes, or the tmpfs
   * has them free. A container's /dev/shm is often small (Docker: 64 MiB); a body that does not fit is
   * pulled over the socket instead.
   */
  fits(length: number): boolean {
    if (this.#spare.some((file) => file.size >= length)) return true;
    try {
      const { bavail, bsize } = statfsSync(DIR);
      return bavail * bsize >= length;
    } catch {
      return false;
    }
  }

  /** A spare file that already has `length` bytes (the smallest such), else the largest spare, else a new one. */
  acquire(length: number): SharedFile {
    let fit = -1;
    let largest = -1;
    this.#spare.forEach(({ size }, i) => {
      if (size >= length && (fit < 0 || size < this.#spare[fit]!.size)) fit = i;
      if (largest < 0 || size > this.#spare[largest]!.size) largest = i;
    });
    const pick = fit >= 0 ? fit : largest;
    if (pick < 0) return create();
    const [file] = this.#spare.splice(pick, 1);
    this.#spareBytes -= file!.size;
    return file!;
  }

  /** Its reader is done with it: keep it for the next body, or close it when the spares are full. */
  release(file: SharedFile): void {
    if (this.#spareBytes + file.size > this.#spareLimit) {
      closeSync(file.fd);
      return;
    }
    this.#spare.push(file);
    this.#spareBytes += file.size;
  }

  /** A reader may still be reading it (a request that failed or timed out): never reuse it. */
  forget(file: SharedFile): void {
    closeSync(file.fd);
  }
}

function create(): SharedFile {
  const name = `${DIR}/plume-body-${process.pid}-${randomBytes(8).toString('hex')}`;
  const fd = openSync(name, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
  unlinkSync(name);
  return { fd, path: `/proc/${process.pid}/fd/${fd}`, size: 0 };
}

/** Writes all of `bytes` at `position`. */
export function writeAt(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const step = (done: number): void =>
      write(fd, bytes, done, bytes.length - done, position + done, (error, n) => {
        if (error) reject(error);
        else if (done + n < bytes.length) step(done + n);
        else resolve();
      });
    step(0);
  });
}

/**
 * How much of a body its writer has written, as the writer's Progress frames tell: a reader waits on it
 * for more. Rejects the wait once `signal` aborts.
 */
export class Arrival {
  #written = 0;
  readonly #wakes: (() => void)[] = [];

  /** The writer has written `bytes` from the start (never goes back). */
  update(bytes: number): void {
    if (bytes <= this.#written) return;
    this.#written = bytes;
    for (const wake of this.#wakes.splice(0)) wake();
  }

  /** Resolves with the bytes written once they pass `done`. Several readers may wait at once. */
  async beyond(done: number, signal: AbortSignal): Promise<number> {
    while (this.#written <= done) {
      signal.throwIfAborted();
      const { promise, resolve } = Promise.withResolvers<void>();
      const wake = (): void => resolve();
      signal.addEventListener('abort', wake, { once: true });
      this.#wakes.push(wake);
      await promise;
      signal.removeEventListener('abort', wake);
    }
    return this.#written;
  }
}

/**
 * Reads `into.length` bytes of the file at `path` (a client's `/proc/<pid>/fd/<fd>`) into `into` as they
 * arrive; resolves with the bytes read, fewer only when the file ends before what the writer announced.
 * Refuses any other path, and any descriptor that is not a body file that process made (`create`): a
 * request can never make a server read another of its client's files, or one of its own files.
 */
export async function readShared(path: string, into: Uint8Array, arrival: Arrival, signal: AbortSignal): Promise<number> {
  const pid = PATH.exec(path)?.[1];
  if (pid === undefined) throw new TypeError(`'${path}' is not a shared body file (/proc/<pid>/fd/<fd>)`);
  // Checked before opening (a FIFO or a device must not even be opened) and again on what was opened,
  // since the descriptor may change in between. O_NONBLOCK: opening a FIFO swapped in never blocks. The
  // checks and the open are synchronous: on /proc they take microseconds, where each trip through the
  // thread pool cost a wake-up of the event loop (four per body, a fixed cost of every large call).
  checkBodyFile(path, pid, path);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let next = 0;
  let end = into.length; // lowered to where the file ended, if it ends before what was announced
  // Several readers at once (as many as the thread pool has threads), each taking the next piece that is in
  // the file: a tmpfs read costs the CPU per page rather than the memory's bandwidth (100 MB into a warm
  // buffer: ~50–95 ms with one read in flight, ~45–55 with two or four, on 2 cores).
  const reader = async (): Promise<void> => {
    while (next < end) {
      const at = next;
      const until = Math.min(end, at + READ_PIECE, await arrival.beyond(at, signal));
      if (at !== next) continue; // another reader took this piece while we waited
      next = until;
      for (let done = at; done < until;) {
        const bytesRead = await readAt(fd, into, done, until - done);
        if (bytesRead === 0) {
          end = Math.min(end, done);
          return;
        }
        done += bytesRead;
      }
    }
  };
  try {
    checkBodyFile(`/proc/self/fd/${fd}`, pid, path);
    // Every reader settles before the descriptor closes: no read may land in a reused descriptor number.
    const outcomes = await Promise.allSettled(Array.from({ length: READERS }, reader));
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return end;
  } finally {
    closeSync(fd);
  }
}

/** Reads up to `length` bytes of the file at `position` into `into` at the same offset. */
function readAt(fd: number, into: Uint8Array, position: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, position, length, position, (error, n) => (error ? reject(error) : resolve(n))));
}

/** Refuses a descriptor that is not an unlinked plume body file on /dev/shm of process `pid`. */
function checkBodyFile(link: string, pid: string, path: string): void {
  const target = readlinkSync(link);
  if (BODY_FILE.exec(target)?.[1] !== pid) throw new TypeError(`'${path}' is not a shared body file of process ${pid} (it is ${target})`);
}
