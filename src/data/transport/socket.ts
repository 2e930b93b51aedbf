/**
 * The server and client of both socket modes. `local` (Unix socket) and `networked` (TCP) differ only in
 * how an address string becomes listen/connect options and how the bound address is reported, which a
 * `SocketAddressing` supplies (`local.ts`, `networked.ts`).
 */
import net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { FramedConnection } from './connection.ts';
import { DEFAULT_MAX_PAYLOAD, FrameType, HEADER_BYTES, type Frame } from './frame.ts';
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
  /** Per-socket settings, on both ends (Nagle off for TCP). */
  prepare(socket: net.Socket): void;
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();

export class SocketTransportServer implements TransportServer {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #handler: RequestHandler;
  readonly #options: ServerOptions;
  readonly #maxPayload: number;
  readonly #log: Log;
  readonly #connections = new Set<FramedConnection>();
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
    await closed;
  }

  #accept(socket: net.Socket): void {
    this.#addressing.prepare(socket);
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : `#${++this.#accepted} on ${this.#address}`;
    // Per connection: the handlers still running, so a cancel or the connection's end can abort them.
    const running = new Map<number, AbortController>();
    const connection: FramedConnection = new FramedConnection(socket, peer, {
      maxPayload: this.#maxPayload,
      log: this.#log,
      onFrame: (frame) => this.#onFrame(connection, running, frame),
      onClose: (reason) => {
        this.#connections.delete(connection);
        for (const controller of running.values()) controller.abort(reason);
        running.clear();
      },
    });
    this.#connections.add(connection);
  }

  #onFrame(connection: FramedConnection, running: Map<number, AbortController>, frame: Frame): void {
    const { type, id, aux, payload } = frame;
    if (type === FrameType.Cancel) {
      const controller = running.get(id);
      running.delete(id);
      controller?.abort(new PlumeError('PLUME_ETIMEOUT', 'the client gave up on the request'));
      return;
    }
    if (type !== FrameType.Request || running.has(id)) {
      const what = type === FrameType.Request ? `a second request with id ${id}` : `a frame of type ${type}`;
      this.#log(`dropped connection ${connection.peer}: a client sent ${what}`);
      connection.destroy(new PlumeError('PLUME_EFRAME', `malformed frame: ${what} from a client`));
      return;
    }
    const method = utf8.decode(payload.subarray(0, aux));
    this.#report('request', method, id, payload.length);
    const controller = new AbortController();
    running.set(id, controller);
    const { signal } = controller;
    Promise.resolve()
      .then(() => this.#handler({ method, body: payload.subarray(aux), signal }))
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
        if (running.get(id) !== controller || connection.closed) return;
        running.delete(id);
        connection.send(answer, id, body, undefined, () => this.#report('response', method, id, body.length));
      });
  }

  #report(direction: Transfer['direction'], method: string, id: number, payloadBytes: number): void {
    reportTransfer(socketTransfer(this.mode, direction, method, id, payloadBytes), this.#log, this.#options.onTransfer);
  }
}

export class SocketTransportClient implements TransportClient {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #options: ClientOptions;
  readonly #maxPayload: number;
  readonly #timeoutMs: number;
  readonly #log: Log;
  readonly #pending = new PendingRequests();
  #connection: FramedConnection | undefined;
  /** Why requests cannot be sent: not yet connected, closed, or the connection's end. */
  #unusable: PlumeError = new PlumeError('PLUME_ECLOSED', 'the client is not connected');

  constructor(addressing: SocketAddressing, options: ClientOptions = {}) {
    this.mode = addressing.mode;
    this.#addressing = addressing;
    this.#options = options;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#log = makeLog(this.mode, options.logger);
  }

  async connect(address: string): Promise<void> {
    if (this.#connection && !this.#connection.closed)
      throw new Error(`the ${this.mode} client is already connected to ${this.#connection.peer}`);
    const socket = net.connect(this.#addressing.connectOptions(address));
    await new Promise<void>((resolve, reject) => {
      const fail = (error: NodeJS.ErrnoException) =>
        reject(new PlumeError('PLUME_EPEER', `cannot connect to ${address}: ${error.code ?? error.message}`));
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        resolve();
      });
    });
    this.#addressing.prepare(socket);
    this.#connection = new FramedConnection(socket, address, {
      maxPayload: this.#maxPayload,
      log: this.#log,
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (reason) => {
        this.#unusable = reason;
        this.#pending.rejectAll((method) => new PlumeError(reason.code, `request '${method}' failed: ${reason.message}`));
      },
    });
  }

  request(method: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    if (!(body instanceof Uint8Array)) return Promise.reject(new TypeError('body must be a Uint8Array'));
    const connection = this.#connection;
    if (!connection || connection.closed) return Promise.reject(this.#unusable);
    const prefix = Buffer.from(method, 'utf8');
    if (prefix.length > 0xffff) return Promise.reject(new RangeError(`method must be at most 65535 UTF-8 bytes, got ${prefix.length}`));
    if (prefix.length + body.length > this.#maxPayload)
      return Promise.reject(
        new PlumeError('PLUME_EINPUT', `request '${method}' has ${body.length} bytes; the frame limit is ${this.#maxPayload}`),
      );
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#timeoutMs);
    const { id, promise } = this.#pending.add(method, timeoutMs, options.onTransfer, (expired) =>
      connection.send(FrameType.Cancel, expired, EMPTY),
    );
    const payloadBytes = prefix.length + body.length;
    connection.send(FrameType.Request, id, body, prefix, () => this.#report('request', method, id, payloadBytes, options.onTransfer));
    return promise;
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    this.#unusable = new PlumeError('PLUME_ECLOSED', 'the client is closed');
    this.#pending.rejectAll((method) => new PlumeError('PLUME_ECLOSED', `request '${method}' failed: the client closed`));
    if (!connection || connection.socket.closed) return;
    const closed = new Promise((resolve) => connection.socket.once('close', resolve));
    connection.destroy(this.#unusable);
    await closed;
  }

  #onFrame(frame: Frame): void {
    const { type, id, payload } = frame;
    if (type === FrameType.Response || type === FrameType.Error) {
      const method = this.#pending.method(id);
      // An answer to a request that timed out is dropped: its caller has moved on.
      if (method === undefined) return;
      this.#report('response', method, id, payload.length, this.#pending.listener(id));
      if (type === FrameType.Response) this.#pending.resolve(id, payload);
      else this.#pending.reject(id, decodeError(payload));
      return;
    }
    this.#log(`dropped connection ${this.#connection!.peer}: the server sent a frame of type ${type}`);
    this.#connection!.destroy(new PlumeError('PLUME_EFRAME', `malformed frame: a frame of type ${type} from a server`));
  }

  #report(direction: Transfer['direction'], method: string, id: number, payloadBytes: number, listener: RequestOptions['onTransfer']) {
    reportTransfer(socketTransfer(this.mode, direction, method, id, payloadBytes), this.#log, this.#options.onTransfer, listener);
  }
}

/** One hop over a socket: the frame header travels too; the receiver makes the one copy of the payload. */
function socketTransfer(
  mode: 'local' | 'networked',
  direction: Transfer['direction'],
  method: string,
  id: number,
  payloadBytes: number,
): Transfer {
  return { mode, direction, method, id, bytesMoved: HEADER_BYTES + payloadBytes, bytesCopied: payloadBytes };
}
