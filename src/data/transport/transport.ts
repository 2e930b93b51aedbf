/**
 * The transport contract: request/response RPC of byte payloads between Plume processes, in CWASI's three
 * modes. `embedded` hands the Uint8Array over by reference inside one process; `local` (Unix socket) and
 * `networked` (TCP) frame it over a `net.Socket` (`frame.ts`). Every implementation passes the same
 * contract suite (`test/data/transport/contract.ts`).
 */
import diagnostics from 'node:diagnostics_channel';
import { PlumeError, type SerializedError } from '../../errors.ts';
import type { PayloadStore } from '../store.ts';

export type TransportMode = 'embedded' | 'local' | 'networked';

export interface TransportRequest {
  method: string;
  /**
   * `embedded`: the caller's very Uint8Array. Socket modes: a body sent inline is a view into a buffer of
   * its own; a pulled one (a large body, see `pullThreshold`) lies in a pooled SharedArrayBuffer of the
   * server's PayloadStore, which is reused for the next payload once the handler has settled and its
   * answer is written. Copy it, or call `keep()`, to use it longer.
   */
  body: Uint8Array;
  /**
   * What the client sent beside the method (`RequestOptions.credential`, e.g. a caller's bearer token):
   * never part of `method`, so never in a log line or an error message.
   */
  credential?: string;
  /** Aborted when the client gave up (timeout, close) or its connection died: the work is wasted. */
  signal: AbortSignal;
  /**
   * The body's buffer is never reused: call it when something may still read the body after the handler
   * settles (a call that timed out but may run on). A no-op for bodies that are not pooled.
   */
  keep(): void;
}

export type RequestHandler = (request: TransportRequest) => Promise<Uint8Array>;

/**
 * One hop of one message, for traces. Both ends report each hop, with the same `bytesMoved`.
 * `bytesMoved`: bytes delivered to the receiver (socket modes: the frames' bytes, headers included;
 * `embedded`: the body, whose reference is handed over). `bytesCopied`: payload bytes the reporting end
 * copied in user space for the hop: a sender never copies (the body goes to the kernel, or across, by
 * reference); a socket receiver copies what arrived in chunks and nothing the kernel read in place. The
 * kernel's own copies into and out of the socket are not counted.
 */
export interface Transfer {
  mode: TransportMode;
  direction: 'request' | 'response';
  method: string;
  id: number;
  bytesMoved: number;
  bytesCopied: number;
}

export type TransferListener = (transfer: Transfer) => void;

export interface TransportLogEvent {
  mode: TransportMode;
  /** One line, e.g. `dropped connection from 127.0.0.1:5123: malformed frame: bad magic 0x4745` */
  message: string;
  error?: unknown;
}

export type TransportLogger = (event: TransportLogEvent) => void;

/** Every transport failure is published here, whatever logger is configured. */
export const errorChannel = diagnostics.channel('plume:transport:error');

export const consoleLogger: TransportLogger = (event) => console.warn(`plume ${event.mode} transport: ${event.message}`);

export interface TransportServer {
  readonly mode: TransportMode;
  /** Starts serving; resolves with the address clients connect to (the bound port, the socket path, …). */
  listen(address?: string): Promise<string>;
  /** Stops accepting, drops every connection (their clients see `PLUME_EPEER`), aborts running handlers. */
  close(): Promise<void>;
}

export interface RequestOptions {
  /** Rejects with `PLUME_ETIMEOUT` after this long; defaults to the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Called for the request hop and the response hop of this call, after the client-wide listener. */
  onTransfer?: TransferListener;
  /** Sent beside the method, for the server's handler (TransportRequest.credential); at most 4 KiB, no newline. */
  credential?: string;
}

export interface TransportClient {
  readonly mode: TransportMode;
  connect(address: string): Promise<void>;
  /**
   * Sends `body` and resolves with the handler's result. Many requests share the connection, each under
   * its own id, answered in any order. `body` must not change until the promise settles: socket modes
   * write it to the kernel without copying it first.
   */
  request(method: string, body: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /** Rejects pending requests with `PLUME_ECLOSED` and closes the connection. */
  close(): Promise<void>;
}

export interface ServerOptions {
  onTransfer?: TransferListener;
  logger?: TransportLogger;
  /** Socket modes: the largest frame payload accepted (default 256 MiB); a bigger one drops the connection. */
  maxPayload?: number;
  /**
   * Socket modes: where pulled request bodies are received (default: a store of the server's own with
   * the default budget). Its budget bounds the bodies in flight; a pull waits while it is full.
   */
  store?: PayloadStore;
  /**
   * Socket modes: the cluster secret (at least 16 bytes). Every connection then opens with a mutual HMAC
   * handshake (handshake.ts): a server drops a client that does not prove it holds the secret before
   * parsing any frame, and a client refuses a server that does not. Both ends must have the same one.
   */
  secret?: string;
  /** Socket modes, with `secret`: how long a connection may take to authenticate (default 5,000 ms). */
  handshakeTimeoutMs?: number;
  /**
   * Socket modes: the largest body a request of `method` may have (undefined: `maxPayload`). A pulled or
   * shared-memory body that claims more is refused with PLUME_ETOOBIG before any memory is reserved for it.
   */
  bodyLimit?: (method: string) => number | undefined;
}

export interface ClientOptions extends Omit<ServerOptions, 'store' | 'bodyLimit'> {
  /** Default per-request timeout in ms (30,000). */
  timeoutMs?: number;
  /**
   * Socket modes: a body of at least this many bytes is not sent inline but pulled by the server from a
   * server this client starts on demand (default 1 MiB; `Infinity` sends everything inline, for a server
   * that cannot connect back). See docs/dataplane.md, Pulled bodies.
   */
  pullThreshold?: number;
  /**
   * Socket modes: declare the server lost once nothing has arrived from it for this many ms, pinging it
   * while the connection is quiet (liveness.ts); its requests in flight then reject with `PLUME_EPEER`, as
   * when it closes. 0 or absent: off (the connection waits for the kernel to say it is gone).
   */
  peerTimeoutMs?: number;
  /**
   * Socket modes: called once when a connection that `connect()` made ends other than by `close()` (the
   * server closed it, was lost, sent a malformed frame), after the requests in flight were rejected with
   * `reason`. A connect that fails rejects instead.
   */
  onLost?: (reason: PlumeError) => void;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The wire form of a handler's error; anything that is not a PlumeError becomes `PLUME_EFAILED`. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof PlumeError) return e.toJSON();
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { code: 'PLUME_EFAILED', message };
}

export function encodeError(e: unknown): Uint8Array {
  const error = serializeError(e);
  try {
    return Buffer.from(JSON.stringify(error));
  } catch {
    // details that JSON cannot carry (a cycle, a BigInt) are dropped rather than losing the error itself
    return Buffer.from(JSON.stringify({ code: error.code, message: error.message }));
  }
}

export function decodeError(payload: Uint8Array): PlumeError {
  try {
    return PlumeError.from(JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8')));
  } catch {
    return new PlumeError('PLUME_EFRAME', 'malformed frame: an error frame without a JSON error');
  }
}

export function checkTimeout(timeoutMs: number, name = 'timeoutMs'): number {
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1)
    throw new RangeError(`${name} must be a number of ms in (0, 2^31), got ${timeoutMs}`);
  return timeoutMs;
}

interface Pending {
  resolve(value: Uint8Array): void;
  reject(error: Error): void;
  method: string;
  timer: NodeJS.Timeout;
  onTransfer: TransferListener | undefined;
}

/**
 * A client's requests in flight, keyed by id: each settles exactly once, by its answer, its timeout, or
 * the loss of its connection. Ids wrap at 2^32 and skip ids still in flight.
 */
export class PendingRequests {
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  /** Registers a request; `onTimeout` runs (after the rejection) so the transport can tell its peer. */
  add(
    method: string,
    timeoutMs: number,
    onTransfer: TransferListener | undefined,
    onTimeout: (id: number) => void,
  ): { id: number; promise: Promise<Uint8Array> } {
    do this.#nextId = (this.#nextId + 1) >>> 0;
    while (this.#pending.has(this.#nextId));
    const id = this.#nextId;
    const promise = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reject(id, new PlumeError('PLUME_ETIMEOUT', `request '${method}' timed out after ${timeoutMs} ms`));
        onTimeout(id);
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, method, timer, onTransfer });
    });
    return { id, promise };
  }

  method(id: number): string | undefined {
    return this.#pending.get(id)?.method;
  }

  listener(id: number): TransferListener | undefined {
    return this.#pending.get(id)?.onTransfer;
  }

  /** False when `id` is not pending: an answer that arrives after its request timed out is dropped. */
  resolve(id: number, value: Uint8Array): boolean {
    const entry = this.#take(id);
    entry?.resolve(value);
    return entry !== undefined;
  }

  reject(id: number, error: Error): boolean {
    const entry = this.#take(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  rejectAll(error: (method: string) => Error): void {
    for (const id of [...this.#pending.keys()]) this.reject(id, error(this.#pending.get(id)!.method));
  }

  #take(id: number): Pending | undefined {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }
}

/** Logs one line: publishes on `plume:transport:error`, then hands the event to the configured logger. */
export type Log = (message: string, error?: unknown) => void;

export function makeLog(mode: TransportMode, logger: TransportLogger = consoleLogger): Log {
  return (message, error) => {
    const event: TransportLogEvent = error === undefined ? { mode, message } : { mode, message, error };
    if (errorChannel.hasSubscribers) errorChannel.publish(event);
    try {
      logger(event);
    } catch {
      // a broken logger must not take the transport down with it
    }
  };
}

/** Delivers a transfer to each listener in turn; a throwing listener is logged, not propagated. */
export function reportTransfer(transfer: Transfer, log: Log, ...listeners: (TransferListener | undefined)[]): void {
  for (const listener of listeners) {
    if (listener === undefined) continue;
    try {
      listener(transfer);
    } catch (error) {
      log(`onTransfer listener threw: ${String(error)}`, error);
    }
  }
}
