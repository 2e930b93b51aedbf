/**
 * A host pipe or socket with nothing to read yet. Host descriptors are always non-blocking, so such a read
 * answers EAGAIN at once; instead of handing that to a guest that expects read() to wait, the descriptor is
 * given to a net.Socket (libuv watches it with epoll: no thread waits on it) and the guest suspends (JSPI)
 * until bytes or the end arrive. From then on every read of that descriptor is served from the socket.
 */
import { Socket } from 'node:net';

export class HostStream {
  readonly #socket: Socket;
  #ended = false;
  #error: Error | undefined;
  /** 'readable' came since the last #take(): bytes, or the end, are there to be read without waiting. */
  #readable = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    // Always listened to: an 'error' with no listener would take the worker down.
    socket.on('error', (err) => (this.#error = err));
    socket.on('end', () => (this.#ended = true));
    socket.on('close', () => (this.#ended = true));
    socket.on('readable', () => (this.#readable = true));
  }

  /** A read would not wait: bytes have arrived, or the end, or an error (what poll_oneoff reports ready). */
  get ready(): boolean {
    return this.#readable || this.#ended || this.#error !== undefined || this.#socket.readableLength > 0;
  }

  /** The bytes a read would get now. */
  get buffered(): number {
    return this.#socket.readableLength;
  }

  /** A stream over the host descriptor `fd` (which it then owns), or undefined for one libuv cannot watch. */
  static open(fd: number): HostStream | undefined {
    try {
      return new HostStream(new Socket({ fd, readable: true, writable: false }));
    } catch {
      return undefined;
    }
  }

  /**
   * Reads into `vecs` (ranges of the guest memory `u8()` gives, already checked; asked again after a wait,
   * as the memory may have grown): the bytes copied, 0 at the end, or the promise of them once they come.
   */
  read(u8: () => Uint8Array, vecs: readonly (readonly [number, number])[]): number | Promise<number> {
    const n = this.#take(u8(), vecs);
    if (n !== undefined) return n;
    return new Promise((done, fail) => {
      const again = (): void => {
        try {
          const got = this.#take(u8(), vecs);
          if (got === undefined) this.whenReady(again);
          else done(got);
        } catch (err) {
          fail(err as Error);
        }
      };
      this.whenReady(again);
    });
  }

  /** Copies what has arrived into `vecs`: the bytes copied, 0 at the end, undefined while nothing has come. */
  #take(u8: Uint8Array, vecs: readonly (readonly [number, number])[]): number | undefined {
    if (this.#error) throw this.#error;
    this.#readable = false;
    const chunk = this.#socket.read() as Buffer | null;
    if (chunk === null) return this.#ended || this.#socket.readableEnded ? 0 : undefined;
    let at = 0;
    for (const [ptr, len] of vecs) {
      const n = Math.min(len, chunk.length - at);
      u8.set(chunk.subarray(at, at + n), ptr);
      at += n;
      if (at === chunk.length) break;
    }
    if (at < chunk.length) this.#socket.unshift(chunk.subarray(at));
    return at;
  }

  /** Calls `then` once, when the stream is ready (at once if it is); the function returned cancels that. */
  whenReady(then: () => void): () => void {
    if (this.ready) {
      then();
      return () => {};
    }
    const settle = (): void => {
      cancel();
      then();
    };
    const cancel = (): void => {
      this.#socket.off('readable', settle);
      this.#socket.off('end', settle);
      this.#socket.off('error', settle);
    };
    this.#socket.on('readable', settle);
    this.#socket.on('end', settle);
    this.#socket.on('error', settle);
    return cancel;
  }

  /** Closes the socket and with it the host descriptor. */
  close(): void {
    this.#socket.destroy();
  }
}
