/** The client of both socket modes (socket.ts): sends requests over one connection and matches the answers. */
import { PlumeError } from '../../errors.ts';
import { FramedConnection } from './connection.ts';
import { DEFAULT_MAX_PAYLOAD, FrameType, HEADER_BYTES, type Frame, type FrameHeader } from './frame.ts';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, secretKey } from './handshake.ts';
import { LargeBodySender } from './large-body-sender.ts';
import { checkPeerTimeout } from './liveness.ts';
import { EMPTY, type SocketAddressing } from './socket.ts';
import {
  DEFAULT_TIMEOUT_MS,
  PendingRequests,
  checkTimeout,
  decodeError,
  makeLog,
  reportTransfer,
  type ClientOptions,
  type Log,
  type RequestOptions,
  type Transfer,
  type TransferListener,
  type TransportClient,
} from './transport.ts';

const DEFAULT_PULL_THRESHOLD = 1024 * 1024;
const MAX_CREDENTIAL_BYTES = 4096;

/** The cluster secret as a key, and the handshake's timeout; undefined without a secret. Throws on a bad one. */
export function authOf(options: { secret?: string; handshakeTimeoutMs?: number }): { key: Buffer; timeoutMs: number } | undefined {
  if (options.secret === undefined) return undefined;
  return {
    key: secretKey(options.secret),
    timeoutMs: checkTimeout(options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs'),
  };
}

/**
 * A request's method bytes: the method, then `\n` and the credential when there is one (the server splits
 * them, so the credential never becomes part of the method it logs).
 */
function methodPrefix(method: string, credential: string | undefined): Buffer {
  if (method.includes('\n')) throw new RangeError('method must not contain a newline');
  if (credential === undefined) return Buffer.from(method, 'utf8');
  if (typeof credential !== 'string' || credential.includes('\n') || Buffer.byteLength(credential) > MAX_CREDENTIAL_BYTES)
    throw new RangeError(`credential must be a string of at most ${MAX_CREDENTIAL_BYTES} bytes without a newline`);
  return Buffer.from(`${method}\n${credential}`, 'utf8');
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
  readonly #largeBodies: LargeBodySender;
  readonly #auth: { readonly key: Buffer; readonly timeoutMs: number } | undefined;
  readonly #peerTimeoutMs: number;
  #closed = false;
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
    this.#auth = authOf(options);
    this.#peerTimeoutMs = checkPeerTimeout(options.peerTimeoutMs ?? 0);
    this.#largeBodies = new LargeBodySender(addressing, {
      maxPayload: this.#maxPayload,
      secret: options.secret,
      logger: options.logger,
      pending: this.#pending,
      cancel: (connection, id) => this.#cancel(connection, id),
      report: (method, id, moved, copied, listener) => this.#report('request', method, id, moved, copied, listener),
    });
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
      ...(this.#auth ? { auth: this.#auth } : {}),
      peerTimeoutMs: this.#peerTimeoutMs,
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (reason) => {
        this.#unusable = reason;
        this.#into.clear();
        this.#pending.rejectAll((method) => new PlumeError(reason.code, `request '${method}' failed: ${reason.message}`));
        // Only a connection that was up is lost: a failed connect rejects `connect()` instead.
        if (!this.#closed && this.#connection === connection) this.#options.onLost?.(reason);
      },
    });
    // Before the connect completes (Node applies it then): Nagle must not hold the handshake's small writes.
    this.#addressing.prepare(connection.socket);
    await connected;
    this.#connection = connection;
  }

  request(method: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    if (!(body instanceof Uint8Array)) return Promise.reject(new TypeError('body must be a Uint8Array'));
    let prefix: Buffer;
    try {
      prefix = methodPrefix(method, options.credential);
    } catch (error) {
      return Promise.reject(error as Error);
    }
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
    this.#closed = true;
    this.#unusable = new PlumeError('PLUME_ECLOSED', 'the client is closed');
    this.#pending.rejectAll((method) => new PlumeError('PLUME_ECLOSED', `request '${method}' failed: the client closed`));
    await this.#largeBodies.close();
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
    if (body.length >= this.#pullThreshold && body.length > 0)
      return this.#largeBodies.send(connection, method, prefix, body, timeoutMs, listener);
    const { id, promise } = this.#pending.add(method, timeoutMs, listener, (expired) => this.#cancel(connection, expired));
    if (into) this.#into.set(id, into);
    const requestBytes = HEADER_BYTES + prefix.length + body.length;
    connection.send(FrameType.Request, id, body, {
      prefix: [prefix],
      onSent: (error) => error || this.#report('request', method, id, requestBytes, 0, listener),
    });
    return into ? promise.finally(() => this.#into.delete(id)) : promise;
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
