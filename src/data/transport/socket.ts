/**
 * The server and client of both socket modes. `local` (Unix socket) and `networked` (TCP) differ only in
 * how an address string becomes listen/connect options and how the bound address is reported, which a
 * `SocketAddressing` supplies (`local.ts`, `networked.ts`).
 *
 * Large bodies travel as responses (docs/dataplane.md, Pulled bodies). Node reads in place (`onread`) only
 * on sockets it connects, never on the ones a server accepts, so a request body of `pullThreshold` bytes
 * or more is not written into the request: the client holds it under a random token, and the server pulls
 * it over a connection of its own to the client's pull server, straight into a pooled buffer of its
 * PayloadStore. Responses arrive on the client's own socket, in place too.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { copyBytes } from '../payload.ts';
import { PayloadStore, type Lease } from '../store.ts';
import { FramedConnection } from './connection.ts';
import { Arrival, readShared, SharedFiles, writeAt, type SharedFile } from './shared-files.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  FrameFlag,
  FrameType,
  HEADER_BYTES,
  PULL_TOKEN_BYTES,
  decodePullRef,
  encodePullRef,
  type Frame,
  type FrameHeader,
  type PullRef,
} from './frame.ts';
import {
  DEFAULT_TIMEOUT_MS,
  PendingRequests,
  checkTimeout,
  decodeError,
  encodeError,
  makeLog,
  reportTransfer,
  type ClientOptions,
  type Log,
  type RequestHandler,
  type RequestOptions,
  type ServerOptions,
  type Transfer,
  type TransferListener,
  type TransportClient,
  type TransportServer,
} from './transport.ts';

export interface SocketAddressing {
  readonly mode: 'local' | 'networked';
  /** Used when `listen()` gets no address. */
  defaultAddress(): string;
  listenOptions(address: string): net.ListenOptions;
  connectOptions(address: string): net.NetConnectOpts;
  /** The address a client should connect to, once `server` is listening on `requested`. */
  boundAddress(server: net.Server, requested: string): string;
  /** Where a client's pull server listens: reachable from the server at the other end of `socket`. */
  pullAddress(socket: net.Socket): string;
  /** Per-socket settings, on both ends (Nagle off for TCP). */
  prepare(socket: net.Socket): void;
  /** Large request bodies go through shared-memory files (same host only) instead of being pulled. */
  readonly sharedFiles: boolean;
}

const EMPTY = new Uint8Array(0);
const PULL_METHOD = 'pull';
const DEFAULT_PULL_THRESHOLD = 1024 * 1024;
const utf8 = new TextDecoder();

/** A request's body as the handler gets it: inline in the frame, or pulled or read into a lease of the store. */
interface Received {
  readonly body: Uint8Array;
  readonly lease?: Lease;
}

export class SocketTransportServer implements TransportServer {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #handler: RequestHandler;
  readonly #options: ServerOptions;
  readonly #maxPayload: number;
  readonly #store: PayloadStore;
  readonly #log: Log;
  readonly #connections = new Set<FramedConnection>();
  /** Connections to clients' pull servers, by address. */
  readonly #pullers = new Map<
    string,
    { readonly client: SocketTransportClient; settled: boolean; readonly ready: Promise<SocketTransportClient> }
  >();
  #server: net.Server | undefined;
  #address = '';
  #accepted = 0;

  constructor(addressing: SocketAddressing, handler: RequestHandler, options: ServerOptions = {}) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    this.mode = addressing.mode;
    this.#addressing = addressing;
    this.#handler = handler;
    this.#options = options;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#store = options.store ?? new PayloadStore();
    this.#log = makeLog(this.mode, options.logger);
  }

  async listen(address: string = this.#addressing.defaultAddress()): Promise<string> {
    if (this.#server) throw new Error(`the ${this.mode} server is already listening on ${this.#address}`);
    const server = net.createServer((socket) => this.#accept(socket));
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.#addressing.listenOptions(address), () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.#server = undefined;
      throw error;
    }
    server.on('error', (error) => this.#log(`server error: ${String(error)}`, error));
    this.#address = this.#addressing.boundAddress(server, address);
    return this.#address;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.#connections) connection.destroy(new PlumeError('PLUME_ECLOSED', 'the server closed'));
    const pullers = [...this.#pullers.values()];
    this.#pullers.clear();
    await Promise.all(pullers.map((p) => p.ready.then((c) => c.close()).catch(() => {})));
    await closed;
  }

  #accept(socket: net.Socket): void {
    this.#addressing.prepare(socket);
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : `#${++this.#accepted} on ${this.#address}`;
    // Per connection: the handlers still running, so a cancel or the connection's end can abort them, and
    // the shared bodies still being written.
    const running = new Map<number, AbortController>();
    const arriving = new Map<number, Arrival>();
    const connection: FramedConnection = FramedConnection.accept(socket, peer, {
      maxPayload: this.#maxPayload,
      log: this.#log,
      onFrame: (frame) => this.#onFrame(connection, running, arriving, frame),
      onClose: (reason) => {
        this.#connections.delete(connection);
        for (const controller of running.values()) controller.abort(reason);
        running.clear();
      },
    });
    this.#connections.add(connection);
  }

  #onFrame(connection: FramedConnection, running: Map<number, AbortController>, arriving: Map<number, Arrival>, frame: Frame): void {
    const { type, flags, id, aux, payload } = frame;
    if (type === FrameType.Progress) {
      // For a request that has failed or was cancelled meanwhile, nobody listens any more.
      arriving.get(id)?.update(new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0));
      return;
    }
    if (type === FrameType.Cancel) {
      const controller = running.get(id);
      running.delete(id);
      controller?.abort(new PlumeError('PLUME_ETIMEOUT', 'the client gave up on the request'));
      return;
    }
    let ref: PullRef | undefined;
    let fault: string | undefined;
    if (type !== FrameType.Request || running.has(id))
      fault = type === FrameType.Request ? `a second request with id ${id}` : `a frame of type ${type}`;
    else if (flags & FrameFlag.Shared && (flags & FrameFlag.Pull || !this.#addressing.sharedFiles))
      fault = `a shared-memory body, which a ${this.mode} server does not take`;
    else if (flags & (FrameFlag.Pull | FrameFlag.Shared)) {
      try {
        ref = decodePullRef(payload.subarray(aux));
      } catch (error) {
        fault = (error as Error).message;
      }
    }
    if (fault !== undefined) {
      this.#log(`dropped connection ${connection.peer}: a client sent ${fault}`);
      connection.destroy(new PlumeError('PLUME_EFRAME', `malformed frame: ${fault} from a client`));
      return;
    }
    const method = utf8.decode(payload.subarray(0, aux));
    const controller = new AbortController();
    running.set(id, controller);
    const requestBytes = HEADER_BYTES + payload.length;
    let arrival: Arrival | undefined;
    if (flags & FrameFlag.Shared) arriving.set(id, (arrival = new Arrival()));
    const receive = ref
      ? () =>
          this.#receive(method, id, ref, arrival, requestBytes, controller.signal).finally(() => {
            if (arrival) arriving.delete(id);
          })
      : async (): Promise<Received> => {
          this.#report('request', method, id, requestBytes, frame.copied);
          return { body: payload.subarray(aux) };
        };
    this.#serve(connection, running, id, method, controller, receive);
  }

  #serve(
    connection: FramedConnection,
    running: Map<number, AbortController>,
    id: number,
    method: string,
    controller: AbortController,
    receive: () => Promise<Received>,
  ): void {
    const { signal } = controller;
    let lease: Lease | undefined;
    let kept = false;
    // A pooled body goes back to the store once nothing can read it: the handler has settled and the
    // answer (which may be the body itself) is written. Kept, or in doubt, it leaves the store instead.
    const done = (clean: boolean): void => {
      if (kept || !clean) lease?.forget();
      else lease?.release();
    };
    Promise.resolve()
      .then(receive)
      .then((received) => {
        lease = received.lease;
        signal.throwIfAborted();
        return this.#handler({ method, body: received.body, signal, keep: () => void (kept = true) });
      })
      .then(
        (result) => {
          if (!(result instanceof Uint8Array))
            throw new TypeError(`the handler of '${method}' resolved with ${typeof result}, not a Uint8Array`);
          if (result.length > this.#maxPayload)
            throw new PlumeError(
              'PLUME_EOUTPUT',
              `the response of '${method}' has ${result.length} bytes; the frame limit is ${this.#maxPayload}`,
            );
          return { type: FrameType.Response, body: result };
        },
        (error: unknown) => ({ type: FrameType.Error, body: encodeError(error) }),
      )
      .catch((error: unknown) => ({ type: FrameType.Error, body: encodeError(error) }))
      .then(({ type: answer, body }) => {
        // Cancelled or disconnected: nobody waits for this answer any more.
        if (running.get(id) !== controller || connection.closed) return done(true);
        running.delete(id);
        connection.send(answer, id, body, {
          onSent: (error) => {
            done(error === undefined);
            if (!error) this.#report('response', method, id, HEADER_BYTES + body.length, 0);
          },
        });
      });
  }

  /**
   * Fetches a body that is not in the frame into a lease of the store: waits while the store is full
   * (backpressure), then pulls it from the client's pull server, or reads it from the client's shared-memory
   * file as it arrives. A lease whose fetch did not complete is forgotten, never reused: a socket may still
   * be filling it.
   */
  async #receive(
    method: string,
    id: number,
    ref: PullRef,
    arrival: Arrival | undefined,
    requestBytes: number,
    signal: AbortSignal,
  ): Promise<Received> {
    if (ref.length > this.#maxPayload)
      throw new PlumeError('PLUME_EINPUT', `request '${method}' has ${ref.length} bytes; the frame limit is ${this.#maxPayload}`);
    const lease = await this.#store.acquire(ref.length, signal);
    try {
      const { length, moved, copied } = arrival
        ? await this.#readShared(method, ref, lease, arrival, requestBytes, signal)
        : await this.#pull(ref, lease, requestBytes);
      if (length !== ref.length)
        throw new PlumeError(
          'PLUME_EFRAME',
          `malformed frame: the ${arrival ? 'shared' : 'pulled'} body of '${method}' has ${length} bytes, not ${ref.length}`,
        );
      this.#report('request', method, id, moved, copied);
      return { body: lease.bytes, lease };
    } catch (error) {
      lease.forget();
      throw error;
    }
  }

  async #pull(ref: PullRef, lease: Lease, requestBytes: number): Promise<{ length: number; moved: number; copied: number }> {
    const puller = await this.#puller(ref.address);
    let copied = 0;
    const body = await puller.requestInto(PULL_METHOD, ref.token, lease.bytes, (t) => {
      if (t.direction === 'response') copied = t.bytesCopied;
    });
    return { length: body.buffer === lease.bytes.buffer ? body.length : -1, moved: pullBytes(requestBytes, ref.length), copied };
  }

  /** Two kernel copies (the client's write, this read) and no user-space one. */
  async #readShared(
    method: string,
    ref: PullRef,
    lease: Lease,
    arrival: Arrival,
    requestBytes: number,
    signal: AbortSignal,
  ): Promise<{ length: number; moved: number; copied: number }> {
    try {
      return { length: await readShared(ref.address, lease.bytes, arrival, signal), moved: requestBytes + ref.length, copied: 0 };
    } catch (error) {
      if (signal.aborted) throw error;
      throw new PlumeError('PLUME_EINPUT', `the body of '${method}' cannot be read from shared memory: ${(error as Error).message}`);
    }
  }

  /**
   * The connection to a client's pull server, reused. Connections that went down are dropped here without
   * waiting on any (a pull never waits on another client's connect); a failed connect is forgotten.
   */
  #puller(address: string): Promise<SocketTransportClient> {
    for (const [key, entry] of this.#pullers) if (entry.settled && !entry.client.usable) this.#pullers.delete(key);
    const known = this.#pullers.get(address);
    if (known) return known.ready;
    const client = new SocketTransportClient(this.#addressing, {
      maxPayload: this.#maxPayload,
      pullThreshold: Infinity,
      ...(this.#options.logger ? { logger: this.#options.logger } : {}),
    });
    const entry = { client, settled: false, ready: client.connect(address).then(() => client) };
    const settle = (): void => void (entry.settled = true);
    entry.ready.then(settle, settle);
    this.#pullers.set(address, entry);
    return entry.ready;
  }

  #report(direction: Transfer['direction'], method: string, id: number, bytesMoved: number, bytesCopied: number): void {
    reportTransfer({ mode: this.mode, direction, method, id, bytesMoved, bytesCopied }, this.#log, this.#options.onTransfer);
  }
}

/** Where every client of this process keeps the copies of bodies it sends (see #sendByPull and stage). */
const SEND_BUFFERS = new PayloadStore(); // the defaults: 1 GiB at most, 256 MiB of spares
/** Every `local` client's shared-memory files for large bodies. */
const SHARED_FILES = new SharedFiles();
/** A shared body's reference carries no token. */
const NO_TOKEN = new Uint8Array(PULL_TOKEN_BYTES);
/** A body is staged into its file in chunks of this size, each written while the next is copied. */
const STAGE_CHUNK = 4 * 1024 * 1024;

/** A body this client holds for its server to pull. */
interface Exported {
  readonly body: Uint8Array;
  pulled: boolean;
}

export class SocketTransportClient implements TransportClient {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #options: ClientOptions;
  readonly #maxPayload: number;
  readonly #timeoutMs: number;
  readonly #pullThreshold: number;
  readonly #log: Log;
  readonly #pending = new PendingRequests();
  /** Buffers the responses of some requests are read into (a server pulling into its store). */
  readonly #into = new Map<number, Uint8Array>();
  /** Bodies waiting to be pulled, by token (hex). */
  readonly #exports = new Map<string, Exported>();
  #puller: Promise<{ server: SocketTransportServer; address: string }> | undefined;
  #connection: FramedConnection | undefined;
  /** Why requests cannot be sent: not yet connected, closed, or the connection's end. */
  #unusable: PlumeError = new PlumeError('PLUME_ECLOSED', 'the client is not connected');

  constructor(addressing: SocketAddressing, options: ClientOptions = {}) {
    this.mode = addressing.mode;
    this.#addressing = addressing;
    this.#options = options;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const threshold = options.pullThreshold ?? DEFAULT_PULL_THRESHOLD;
    if (typeof threshold !== 'number' || !(threshold >= 0))
      throw new RangeError(`pullThreshold must be a number of bytes ≥ 0, got ${threshold}`);
    this.#pullThreshold = threshold;
    this.#log = makeLog(this.mode, options.logger);
  }

  /** True while connected. */
  get usable(): boolean {
    return this.#connection !== undefined && !this.#connection.closed;
  }

  async connect(address: string): Promise<void> {
    if (this.#connection && !this.#connection.closed)
      throw new Error(`the ${this.mode} client is already connected to ${this.#connection.peer}`);
    const { connection, connected } = FramedConnection.connect(this.#addressing.connectOptions(address), address, {
      maxPayload: this.#maxPayload,
      log: this.#log,
      allocate: (header) => this.#allocate(header),
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (reason) => {
        this.#unusable = reason;
        this.#into.clear();
        this.#pending.rejectAll((method) => new PlumeError(reason.code, `request '${method}' failed: ${reason.message}`));
      },
    });
    await connected;
    this.#addressing.prepare(connection.socket);
    this.#connection = connection;
  }

  request(method: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    if (!(body instanceof Uint8Array)) return Promise.reject(new TypeError('body must be a Uint8Array'));
    const prefix = Buffer.from(method, 'utf8');
    return this.#send(method, prefix, body, options.timeoutMs, options.onTransfer);
  }

  /**
   * A request whose response is read into `into` when it fits (the promise then resolves with a view of
   * it; otherwise with a buffer of its own). `into` must not be reused before the promise settles, nor
   * after a failure: the connection may still be writing into it.
   */
  requestInto(method: string, body: Uint8Array, into: Uint8Array, onTransfer?: TransferListener): Promise<Uint8Array> {
    return this.#send(method, Buffer.from(method, 'utf8'), body, undefined, onTransfer, into);
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    this.#unusable = new PlumeError('PLUME_ECLOSED', 'the client is closed');
    this.#pending.rejectAll((method) => new PlumeError('PLUME_ECLOSED', `request '${method}' failed: the client closed`));
    const puller = this.#puller;
    this.#puller = undefined;
    await puller?.then(({ server }) => server.close()).catch(() => {});
    if (!connection || connection.socket.closed) return;
    const closed = new Promise((resolve) => connection.socket.once('close', resolve));
    connection.destroy(this.#unusable);
    await closed;
  }

  #send(
    method: string,
    prefix: Uint8Array,
    body: Uint8Array,
    timeout: number | undefined,
    listener: TransferListener | undefined,
    into?: Uint8Array,
  ): Promise<Uint8Array> {
    const connection = this.#connection;
    if (!connection || connection.closed) return Promise.reject(this.#unusable);
    if (prefix.length > 0xffff) return Promise.reject(new RangeError(`method must be at most 65535 UTF-8 bytes, got ${prefix.length}`));
    if (prefix.length + body.length > this.#maxPayload)
      return Promise.reject(
        new PlumeError('PLUME_EINPUT', `request '${method}' has ${body.length} bytes; the frame limit is ${this.#maxPayload}`),
      );
    const timeoutMs = checkTimeout(timeout ?? this.#timeoutMs);
    if (body.length >= this.#pullThreshold && body.length > 0) {
      const shared = this.#addressing.sharedFiles && SHARED_FILES.fits(body.length);
      return (shared ? this.#sendByFile : this.#sendByPull).call(this, connection, method, prefix, body, timeoutMs, listener);
    }
    const { id, promise } = this.#pending.add(method, timeoutMs, listener, (expired) => this.#cancel(connection, expired));
    if (into) this.#into.set(id, into);
    const requestBytes = HEADER_BYTES + prefix.length + body.length;
    connection.send(FrameType.Request, id, body, {
      prefix: [prefix],
      onSent: (error) => error || this.#report('request', method, id, requestBytes, 0, listener),
    });
    return into ? promise.finally(() => this.#into.delete(id)) : promise;
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
    // The body is served from a copy in a reused send buffer: on our machines the kernel takes ~6× longer
    // to send pages that were just allocated than pages it has sent before (100 MB over a Unix socket,
    // plain node:net: ~90 ms fresh, ~14 ms reused; a memcpy of fresh pages costs ~10 ms), so one copy
    // here makes a large hop ~3× faster (docs/dataplane.md, Pulled bodies). Waits while the buffers are
    // all in use (backpressure, like the receiving store).
    const lease = await SEND_BUFFERS.acquire(body.length);
    const warm = lease.bytes;
    const token = randomBytes(PULL_TOKEN_BYTES);
    const key = token.toString('hex');
    const exported: Exported = { body: warm, pulled: false };
    this.#exports.set(key, exported);
    const ref = encodePullRef({ length: body.length, token, address });
    const { id, promise } = this.#pending.add(method, timeoutMs, listener, (expired) => this.#cancel(connection, expired));
    connection.send(FrameType.Request, id, EMPTY, { prefix: [prefix, ref], flags: FrameFlag.Pull });
    // While the reference travels: the pull is answered on this thread, so never before the copy is done.
    copyBytes(body, warm, 0);
    try {
      const answer = await promise;
      lease.release(); // answered: the server has every byte, so the buffer can serve the next body
      return answer;
    } catch (error) {
      lease.forget(); // the socket may still be writing it: the collector takes it
      throw error;
    } finally {
      this.#exports.delete(key);
      const requestBytes = HEADER_BYTES + prefix.length + ref.length;
      if (exported.pulled) this.#report('request', method, id, pullBytes(requestBytes, body.length), body.length, listener);
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
    const staged = stage(body, file, (written) => connection.send(FrameType.Progress, id, progress(written))).catch((error: unknown) => {
      const reason = `its body cannot be written to shared memory: ${(error as Error).message}`;
      if (this.#pending.reject(id, new PlumeError('PLUME_EPEER', `request '${method}' failed: ${reason}`))) this.#cancel(connection, id);
    });
    try {
      const answer = await promise;
      await staged; // done already: the server has read every byte
      SHARED_FILES.release(file);
      // The body moved through the file; the one user-space copy was staging it (see stage).
      this.#report('request', method, id, HEADER_BYTES + prefix.length + ref.length + body.length, body.length, listener);
      return answer;
    } catch (error) {
      await staged; // no write may be left in flight when the descriptor closes (its number would be reused)
      SHARED_FILES.forget(file); // the server may still be reading it
      throw error;
    }
  }

  /** The address of this client's pull server, started on first use and closed with the client. */
  async #pullAddress(connection: FramedConnection): Promise<string> {
    this.#puller ??= (async () => {
      const server = new SocketTransportServer(this.#addressing, async ({ body }) => this.#exported(body), {
        maxPayload: this.#maxPayload,
        ...(this.#options.logger ? { logger: this.#options.logger } : {}),
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

  #cancel(connection: FramedConnection, id: number): void {
    // The buffer stays with the connection (it may be filling it); its owner must not reuse it.
    this.#into.delete(id);
    connection.send(FrameType.Cancel, id, EMPTY);
  }

  #allocate(header: Required<FrameHeader>): Uint8Array {
    const into = header.type === FrameType.Response ? this.#into.get(header.id) : undefined;
    return into && into.length >= header.length ? into.subarray(0, header.length) : new Uint8Array(header.length);
  }

  #onFrame(frame: Frame): void {
    const { type, id, payload } = frame;
    if (type === FrameType.Response || type === FrameType.Error) {
      const method = this.#pending.method(id);
      // An answer to a request that timed out is dropped: its caller has moved on.
      if (method === undefined) return;
      this.#report('response', method, id, HEADER_BYTES + payload.length, frame.copied, this.#pending.listener(id));
      if (type === FrameType.Response) this.#pending.resolve(id, payload);
      else this.#pending.reject(id, decodeError(payload));
      return;
    }
    this.#log(`dropped connection ${this.#connection!.peer}: the server sent a frame of type ${type}`);
    this.#connection!.destroy(new PlumeError('PLUME_EFRAME', `malformed frame: a frame of type ${type} from a server`));
  }

  #report(
    direction: Transfer['direction'],
    method: string,
    id: number,
    bytesMoved: number,
    bytesCopied: number,
    listener: TransferListener | undefined,
  ): void {
    reportTransfer({ mode: this.mode, direction, method, id, bytesMoved, bytesCopied }, this.#log, this.#options.onTransfer, listener);
  }
}

/**
 * Copies `body` into the file through a reused send buffer, a chunk at a time, each chunk written (on the
 * thread pool) while the next is copied; `onWritten` hears how many bytes from the start are in the file.
 * The kernel writes pages it has written before ~6× faster than fresh ones such as a function's new output
 * (see #sendByPull), so the copy pays for itself.
 */
async function stage(body: Uint8Array, file: SharedFile, onWritten: (bytes: number) => void): Promise<void> {
  const lease = await SEND_BUFFERS.acquire(body.length);
  const ends: number[] = [];
  const finished: boolean[] = [];
  let announced = 0;
  const writes: Promise<void>[] = [];
  for (let at = 0; at < body.length; at += STAGE_CHUNK) {
    const end = Math.min(body.length, at + STAGE_CHUNK);
    const chunk = ends.push(end) - 1;
    copyBytes(body.subarray(at, end), lease.bytes, at);
    writes.push(
      writeAt(file.fd, lease.bytes.subarray(at, end), at).then(() => {
        // Writes may finish out of order: announce only what is contiguous from the start.
        finished[chunk] = true;
        const before = announced;
        while (finished[announced]) announced++;
        if (announced > before) onWritten(ends[announced - 1]!);
      }),
    );
  }
  const outcomes = await Promise.allSettled(writes);
  lease.release();
  const failed = outcomes.find((o) => o.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  file.size = Math.max(file.size, body.length);
}

function progress(bytes: number): Uint8Array {
  const frame = Buffer.allocUnsafe(4);
  frame.writeUInt32BE(bytes, 0);
  return frame;
}

/** The bytes a pulled request moves: its frame, the pull request frame, and the pull's response frame. */
function pullBytes(requestBytes: number, bodyBytes: number): number {
  return requestBytes + HEADER_BYTES + PULL_METHOD.length + PULL_TOKEN_BYTES + HEADER_BYTES + bodyBytes;
}
