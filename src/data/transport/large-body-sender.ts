/**
 * The client's half of large request bodies (socket.ts): instead of the body, a request carries where the
 * server finds it, either a token to pull it by from this client's pull server, or (same host) the
 * shared-memory file it is being written into.
 */
import { randomBytes } from 'node:crypto';
import { PlumeError } from '../../errors.ts';
import { copyBytes } from '../payload.ts';
import { PayloadStore } from '../store.ts';
import type { FramedConnection } from './connection.ts';
import { FrameFlag, FrameType, HEADER_BYTES, PULL_TOKEN_BYTES, encodePullRef } from './frame.ts';
import { SharedFiles, writeAt, type SharedFile } from './shared-files.ts';
import { SocketTransportServer } from './socket-server.ts';
import { EMPTY, pullBytes, type SocketAddressing } from './socket.ts';
import type { PendingRequests, TransferListener, TransportLogger } from './transport.ts';

/** Where every client of this process keeps the copies of bodies it pulls over `local` when shared memory is off (see #sendByPull). */
const SEND_BUFFERS = new PayloadStore(); // the defaults: 1 GiB at most, 256 MiB of spares
/** Every `local` client's shared-memory files for large bodies. */
const SHARED_FILES = new SharedFiles();
/** A shared body's reference carries no token. */
const NO_TOKEN = new Uint8Array(PULL_TOKEN_BYTES);
/** A body is written into its file in chunks of this size, so that the server reads each while the next is written. */
const WRITE_CHUNK = 4 * 1024 * 1024;

/** A body this client holds for its server to pull. */
interface Exported {
  readonly body: Uint8Array;
  pulled: boolean;
}

export interface LargeBodySenderOptions {
  readonly maxPayload: number;
  /** For the pull server. */
  readonly logger: TransportLogger | undefined;
  /** The cluster secret: the pull server authenticates the servers that pull from it. */
  readonly secret: string | undefined;
  /** The client's requests in flight, which large ones join. */
  readonly pending: PendingRequests;
  /** Tells the server that the client gave up on request `id`. */
  readonly cancel: (connection: FramedConnection, id: number) => void;
  /** Hears each body sent: the bytes it moved and the bytes copied in user space. */
  readonly report: (method: string, id: number, bytesMoved: number, bytesCopied: number, listener: TransferListener | undefined) => void;
}

export class LargeBodySender {
  readonly #addressing: SocketAddressing;
  readonly #maxPayload: number;
  readonly #logger: TransportLogger | undefined;
  readonly #secret: string | undefined;
  readonly #pending: PendingRequests;
  readonly #cancel: LargeBodySenderOptions['cancel'];
  readonly #report: LargeBodySenderOptions['report'];
  /** Bodies waiting to be pulled, by token (hex). */
  readonly #exports = new Map<string, Exported>();
  #puller: Promise<{ server: SocketTransportServer; address: string }> | undefined;

  constructor(addressing: SocketAddressing, options: LargeBodySenderOptions) {
    this.#addressing = addressing;
    this.#maxPayload = options.maxPayload;
    this.#logger = options.logger;
    this.#secret = options.secret;
    this.#pending = options.pending;
    this.#cancel = options.cancel;
    this.#report = options.report;
  }

  /** Sends a request whose body is not in its frame: through a shared-memory file where it can, else by pull. */
  send(
    connection: FramedConnection,
    method: string,
    prefix: Uint8Array,
    body: Uint8Array,
    timeoutMs: number,
    listener: TransferListener | undefined,
  ): Promise<Uint8Array> {
    const shared = this.#addressing.sharedFiles && SHARED_FILES.fits(body.length);
    return (shared ? this.#sendByFile : this.#sendByPull).call(this, connection, method, prefix, body, timeoutMs, listener);
  }

  /** Closes the pull server, if it was started. */
  async close(): Promise<void> {
    const puller = this.#puller;
    this.#puller = undefined;
    await puller?.then(({ server }) => server.close()).catch(() => {});
  }

  /** Sends a pull reference instead of the body, and holds the body until the request settles. */
  async #sendByPull(
    connection: FramedConnection,
    method: string,
    prefix: Uint8Array,
    body: Uint8Array,
    timeoutMs: number,
    listener: TransferListener | undefined,
  ): Promise<Uint8Array> {
    const address = await this.#pullAddress(connection);
    // Over TCP the pull is served from the body itself: sending the producer's fresh pages costs the
    // kernel no more than sending reused ones there, so a copy only adds its own cost (100 MB: ~25 ms of
    // the sender's CPU, p50 222 → 175 ms in the same run; docs/dataplane.md, Where the time goes:
    // networked transfer). Over a Unix socket (`local`, a body too large for shared memory) the kernel
    // sent just-allocated pages ~6× slower than reused ones (100 MB with plain node:net: ~90 ms fresh,
    // ~14 ms reused, a memcpy ~10 ms), so the body is first copied into a reused send buffer there, which
    // waits while the buffers are all in use (backpressure, like the receiving store).
    const lease = this.#addressing.mode === 'networked' ? undefined : await SEND_BUFFERS.acquire(body.length);
    const token = randomBytes(PULL_TOKEN_BYTES);
    const key = token.toString('hex');
    const exported: Exported = { body: lease?.bytes ?? body, pulled: false };
    this.#exports.set(key, exported);
    const ref = encodePullRef({ length: body.length, token, address });
    const { id, promise } = this.#pending.add(method, timeoutMs, listener, (expired) => this.#cancel(connection, expired));
    connection.send(FrameType.Request, id, EMPTY, { prefix: [prefix, ref], flags: FrameFlag.Pull });
    // While the reference travels: the pull is answered on this thread, so never before the copy is done.
    if (lease) copyBytes(body, lease.bytes, 0);
    try {
      const answer = await promise;
      lease?.release(); // answered: the server has every byte, so the buffer can serve the next body
      return answer;
    } catch (error) {
      lease?.forget(); // the socket may still be writing it: the collector takes it
      throw error;
    } finally {
      this.#exports.delete(key);
      const requestBytes = HEADER_BYTES + prefix.length + ref.length;
      if (exported.pulled) this.#report(method, id, pullBytes(requestBytes, body.length), lease ? body.length : 0, listener);
    }
  }

  /**
   * Same host: sends where the body will lie, then writes it into a shared-memory file, telling the server
   * after each chunk how much is there, so that it reads while the rest is written. The file is reused once
   * the server has answered (it has read every byte), never after a failure.
   */
  async #sendByFile(
    connection: FramedConnection,
    method: string,
    prefix: Uint8Array,
    body: Uint8Array,
    timeoutMs: number,
    listener: TransferListener | undefined,
  ): Promise<Uint8Array> {
    const file = SHARED_FILES.acquire(body.length);
    const ref = encodePullRef({ length: body.length, token: NO_TOKEN, address: file.path });
    const { id, promise } = this.#pending.add(method, timeoutMs, listener, (expired) => this.#cancel(connection, expired));
    connection.send(FrameType.Request, id, EMPTY, { prefix: [prefix, ref], flags: FrameFlag.Shared });
    let failed = false;
    const announce = (bytes: number): void => connection.send(FrameType.Progress, id, progress(bytes));
    const written = writeBody(body, file, announce, () => failed).catch((error: unknown) => {
      const reason = `its body cannot be written to shared memory: ${(error as Error).message}`;
      if (this.#pending.reject(id, new PlumeError('PLUME_EPEER', `request '${method}' failed: ${reason}`))) this.#cancel(connection, id);
    });
    try {
      const answer = await promise;
      await written; // done already: the server has read every byte
      SHARED_FILES.release(file);
      // The body moved through the file: two kernel copies, none in user space (see writeBody).
      this.#report(method, id, HEADER_BYTES + prefix.length + ref.length + body.length, 0, listener);
      return answer;
    } catch (error) {
      failed = true;
      await written; // no write may be left in flight when the descriptor closes (its number would be reused)
      SHARED_FILES.forget(file); // the server may still be reading it
      throw error;
    }
  }

  /** The address of this client's pull server, started on first use and closed with the client. */
  async #pullAddress(connection: FramedConnection): Promise<string> {
    this.#puller ??= (async () => {
      const server = new SocketTransportServer(this.#addressing, async ({ body }) => this.#exported(body), {
        maxPayload: this.#maxPayload,
        ...(this.#logger ? { logger: this.#logger } : {}),
        ...(this.#secret === undefined ? {} : { secret: this.#secret }),
      });
      const address = await server.listen(this.#addressing.pullAddress(connection.socket));
      return { server, address };
    })();
    try {
      return (await this.#puller).address;
    } catch (error) {
      this.#puller = undefined;
      throw new PlumeError('PLUME_EPEER', `cannot start the pull server for large bodies: ${(error as Error).message}`);
    }
  }

  /** The pull server's handler: each body may be pulled once, while its request is pending. */
  #exported(token: Uint8Array): Uint8Array {
    const key = Buffer.from(token.buffer, token.byteOffset, token.length).toString('hex');
    const exported = this.#exports.get(key);
    if (!exported || exported.pulled) throw new PlumeError('PLUME_EINPUT', 'no body to pull by that token: its request has settled');
    exported.pulled = true;
    return exported.body;
  }
}

/**
 * Writes `body` into the file straight from where it lies, a chunk at a time, and announces each chunk as
 * it lands (`onWritten`: bytes from the start in the file), so that the server reads it while later ones
 * are written. One write in flight: tmpfs serializes the writes of a file (its inode lock), and writes
 * waiting on it spin: 10 MB as three 4 MiB writes at once took 3.5 ms and 6.0 ms of CPU, one after the
 * other 2.8 ms and 2.8 ms, CPU the server's reads need on a 2-core machine. No staging copy: on tmpfs the
 * kernel writes a buffer that was just allocated and written (a function's fresh output) as fast as a
 * reused one, so the copy into a warm send buffer this used to make only cost a memcpy (100 MB: 62–64 ms
 * straight, 87 ms with the copy; docs/dataplane.md, Where the time goes: local transfer). Over a socket it
 * is otherwise (see #sendByPull). The caller leaves `body` unchanged until the request settles, and a
 * failed request stops it after the write in flight, and waits for that before it settles its file.
 */
async function writeBody(body: Uint8Array, file: SharedFile, onWritten: (bytes: number) => void, abandoned: () => boolean): Promise<void> {
  for (let at = 0; at < body.length;) {
    if (abandoned()) return; // the request failed: nobody reads the rest
    const end = Math.min(body.length, at + WRITE_CHUNK);
    await writeAt(file.fd, body.subarray(at, end), at);
    onWritten(end);
    at = end;
  }
  file.size = Math.max(file.size, body.length);
}

function progress(bytes: number): Uint8Array {
  const frame = Buffer.allocUnsafe(4);
  frame.writeUInt32BE(bytes, 0);
  return frame;
}
