/**
 * CWASI's `embedded` mode: both ends in one process. Nothing is framed or copied: the handler receives the
 * caller's Uint8Array and the caller receives the handler's, by reference. Addresses are names in a
 * process-wide registry. The semantics match the socket modes (timeouts, errors rebuilt as PlumeError,
 * `PLUME_EPEER` when the server goes away), so callers need not care which mode they were given.
 */
import { PlumeError } from '../../errors.ts';
import {
  DEFAULT_TIMEOUT_MS,
  PendingRequests,
  checkTimeout,
  makeLog,
  reportTransfer,
  serializeError,
  type ClientOptions,
  type Log,
  type RequestHandler,
  type RequestOptions,
  type ServerOptions,
  type Transfer,
  type TransferListener,
  type TransportClient,
  type TransportRequest,
  type TransportServer,
} from './transport.ts';

const servers = new Map<string, EmbeddedTransportServer>();
let unnamed = 0;

class EmbeddedTransportServer implements TransportServer {
  readonly mode = 'embedded';
  readonly #handler: RequestHandler;
  readonly #onTransfer: TransferListener | undefined;
  readonly #log: Log;
  readonly #clients = new Set<(reason: PlumeError) => void>();
  #address: string | undefined;

  constructor(handler: RequestHandler, options: ServerOptions = {}) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    this.#handler = handler;
    this.#onTransfer = options.onTransfer;
    this.#log = makeLog('embedded', options.logger);
  }

  async listen(address: string = `embedded-${process.pid}-${++unnamed}`): Promise<string> {
    if (this.#address !== undefined) throw new Error(`the embedded server is already listening on ${this.#address}`);
    if (servers.has(address)) throw new Error(`an embedded server already listens on '${address}'`);
    servers.set(address, this);
    this.#address = address;
    return address;
  }

  async close(): Promise<void> {
    if (this.#address === undefined) return;
    servers.delete(this.#address);
    this.#address = undefined;
    const reason = new PlumeError('PLUME_EPEER', 'the embedded server closed');
    for (const lost of [...this.#clients]) lost(reason);
    this.#clients.clear();
  }

  /** A client joins; `lost` runs if the server closes first. Returns the way to leave. */
  attach(lost: (reason: PlumeError) => void): () => void {
    this.#clients.add(lost);
    return () => this.#clients.delete(lost);
  }

  /**
   * Runs the handler. `hop` reports each hop to the client's listeners; the server reports to its own. A
   * result that is not bytes fails as it would on a socket.
   */
  async serve(request: TransportRequest, id: number, hop: (transfer: Transfer) => void): Promise<Uint8Array> {
    this.#report(hop, {
      mode: 'embedded',
      direction: 'request',
      method: request.method,
      id,
      bytesMoved: request.body.length,
      bytesCopied: 0,
    });
    const result = await this.#handler(request);
    if (!(result instanceof Uint8Array))
      throw new TypeError(`the handler of '${request.method}' resolved with ${typeof result}, not a Uint8Array`);
    if (!request.signal.aborted)
      this.#report(hop, { mode: 'embedded', direction: 'response', method: request.method, id, bytesMoved: result.length, bytesCopied: 0 });
    return result;
  }

  #report(hop: (transfer: Transfer) => void, transfer: Transfer): void {
    reportTransfer(transfer, this.#log, this.#onTransfer);
    hop(transfer);
  }
}

class EmbeddedTransportClient implements TransportClient {
  readonly mode = 'embedded';
  readonly #onTransfer: TransferListener | undefined;
  readonly #timeoutMs: number;
  readonly #log: Log;
  readonly #pending = new PendingRequests();
  readonly #running = new Map<number, AbortController>();
  #server: EmbeddedTransportServer | undefined;
  #detach: (() => void) | undefined;
  #unusable = new PlumeError('PLUME_ECLOSED', 'the client is not connected');

  constructor(options: ClientOptions = {}) {
    this.#onTransfer = options.onTransfer;
    this.#timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#log = makeLog('embedded', options.logger);
  }

  async connect(address: string): Promise<void> {
    if (this.#server) throw new Error('the embedded client is already connected');
    const server = servers.get(address);
    if (!server) throw new PlumeError('PLUME_EPEER', `cannot connect to ${address}: no embedded server by that name`);
    this.#server = server;
    this.#detach = server.attach((reason) => this.#disconnect(reason));
  }

  request(method: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    if (!(body instanceof Uint8Array)) return Promise.reject(new TypeError('body must be a Uint8Array'));
    const server = this.#server;
    if (!server) return Promise.reject(this.#unusable);
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#timeoutMs);
    const controller = new AbortController();
    const { id, promise } = this.#pending.add(method, timeoutMs, options.onTransfer, () => {
      this.#running.delete(id);
      controller.abort(new PlumeError('PLUME_ETIMEOUT', 'the client gave up on the request'));
    });
    this.#running.set(id, controller);
    const hop = (transfer: Transfer) => reportTransfer(transfer, this.#log, this.#onTransfer, options.onTransfer);
    // Deferred a tick so a handler never runs inside its caller's stack, as with a socket.
    Promise.resolve()
      .then(() => server.serve(embeddedRequest(method, body, controller.signal, options.credential), id, hop))
      .then(
        (result) => this.#pending.resolve(id, result),
        (error: unknown) => this.#pending.reject(id, error instanceof PlumeError ? error : PlumeError.from(serializeError(error))),
      )
      .finally(() => this.#running.delete(id));
    return promise;
  }

  async close(): Promise<void> {
    this.#disconnect(new PlumeError('PLUME_ECLOSED', 'the client is closed'));
  }

  #disconnect(reason: PlumeError): void {
    this.#detach?.();
    this.#detach = undefined;
    this.#server = undefined;
    this.#unusable = reason;
    this.#pending.rejectAll((method) => new PlumeError(reason.code, `request '${method}' failed: ${reason.message}`));
    for (const controller of this.#running.values()) controller.abort(reason);
    this.#running.clear();
  }
}

function embeddedRequest(method: string, body: Uint8Array, signal: AbortSignal, credential: string | undefined): TransportRequest {
  const request: TransportRequest = { method, body, signal, keep: () => {} };
  if (credential !== undefined) request.credential = credential;
  return request;
}

export function createEmbeddedServer(handler: RequestHandler, options?: ServerOptions): TransportServer {
  return new EmbeddedTransportServer(handler, options);
}

export function createEmbeddedClient(options?: ClientOptions): TransportClient {
  return new EmbeddedTransportClient(options);
}
