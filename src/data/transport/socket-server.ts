/** The server of both socket modes (socket.ts): accepts connections, runs the handler, answers. */
import net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { PayloadStore, type Lease } from '../store.ts';
import { FramedConnection } from './connection.ts';
import { DEFAULT_MAX_PAYLOAD, FrameFlag, FrameType, HEADER_BYTES, decodePullRef, type Frame, type PullRef } from './frame.ts';
import { LargeBodyFetcher, type Received } from './large-body-fetcher.ts';
import { authOf } from './socket-client.ts';
import { Arrival } from './shared-files.ts';
import type { SocketAddressing } from './socket.ts';
import {
  encodeError,
  makeLog,
  reportTransfer,
  type Log,
  type RequestHandler,
  type ServerOptions,
  type Transfer,
  type TransportRequest,
  type TransportServer,
} from './transport.ts';

/** A request's method bytes are the method, then, after a newline, the client's credential if it sent one. */
function splitMethod(text: string): { method: string; credential: string | undefined } {
  const at = text.indexOf('\n');
  return at < 0 ? { method: text, credential: undefined } : { method: text.slice(0, at), credential: text.slice(at + 1) };
}

const utf8 = new TextDecoder();
/**
 * Connections still in their handshake, at most: more are dropped at once, so clients that never finish
 * one hold a bounded number of sockets (each for at most the handshake timeout) and no other memory.
 */
const MAX_UNAUTHENTICATED = 256;
/** Failed handshakes are logged once per this many ms, with a count: a scan must not flood the log. */
const AUTH_LOG_EVERY_MS = 10_000;

export class SocketTransportServer implements TransportServer {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #handler: RequestHandler;
  readonly #options: ServerOptions;
  readonly #maxPayload: number;
  readonly #log: Log;
  readonly #connections = new Set<FramedConnection>();
  readonly #largeBodies: LargeBodyFetcher;
  readonly #auth: { readonly key: Buffer; readonly timeoutMs: number } | undefined;
  #server: net.Server | undefined;
  #address = '';
  #accepted = 0;
  #unauthenticated = 0;
  #authFailures = { logged: 0, since: 0 };

  constructor(addressing: SocketAddressing, handler: RequestHandler, options: ServerOptions = {}) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    this.mode = addressing.mode;
    this.#addressing = addressing;
    this.#handler = handler;
    this.#options = options;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#log = makeLog(this.mode, options.logger);
    this.#auth = authOf(options);
    this.#largeBodies = new LargeBodyFetcher(addressing, {
      maxPayload: this.#maxPayload,
      secret: options.secret,
      store: options.store ?? new PayloadStore(),
      logger: options.logger,
      report: (method, id, moved, copied) => this.#report('request', method, id, moved, copied),
    });
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
    await this.#largeBodies.close();
    await closed;
  }

  #accept(socket: net.Socket): void {
    this.#addressing.prepare(socket);
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : `#${++this.#accepted} on ${this.#address}`;
    if (this.#auth && this.#unauthenticated >= MAX_UNAUTHENTICATED) {
      this.#authFailed(`dropped connection ${peer}: ${MAX_UNAUTHENTICATED} connections are already authenticating`);
      socket.destroy();
      return;
    }
    // Per connection: the handlers still running, so a cancel or the connection's end can abort them, and
    // the shared bodies still being written.
    const running = new Map<number, AbortController>();
    const arriving = new Map<number, Arrival>();
    let authenticating = this.#auth !== undefined;
    if (authenticating) this.#unauthenticated++;
    const settled = (): void => {
      if (authenticating) this.#unauthenticated--;
      authenticating = false;
    };
    const connection: FramedConnection = FramedConnection.accept(socket, peer, {
      maxPayload: this.#maxPayload,
      log: (message, error) => (authenticating ? this.#authFailed(message) : this.#log(message, error)),
      ...(this.#auth ? { auth: this.#auth } : {}),
      onReady: settled,
      onFrame: (frame) => this.#onFrame(connection, running, arriving, frame),
      onClose: (reason) => {
        settled();
        this.#connections.delete(connection);
        for (const controller of running.values()) controller.abort(reason);
        running.clear();
      },
    });
    this.#connections.add(connection);
  }

  /** A connection that failed to authenticate: logged now and then, counted in between. */
  #authFailed(message: string): void {
    const now = Date.now();
    if (now - this.#authFailures.logged < AUTH_LOG_EVERY_MS) {
      this.#authFailures.since++;
      return;
    }
    const more = this.#authFailures.since > 0 ? ` (and ${this.#authFailures.since} more since the last such line)` : '';
    this.#authFailures = { logged: now, since: 0 };
    this.#log(`${message}${more}`);
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
    const { method, credential } = splitMethod(utf8.decode(payload.subarray(0, aux)));
    const controller = new AbortController();
    running.set(id, controller);
    const requestBytes = HEADER_BYTES + payload.length;
    const refused = ref && this.#refuse(method, ref, flags, connection);
    let arrival: Arrival | undefined;
    if (flags & FrameFlag.Shared && !refused) arriving.set(id, (arrival = new Arrival()));
    const receive = refused
      ? () => Promise.reject(refused)
      : ref
        ? () =>
            this.#largeBodies.fetch(method, id, ref, arrival, requestBytes, controller.signal).finally(() => {
              if (arrival) arriving.delete(id);
            })
        : async (): Promise<Received> => {
            this.#report('request', method, id, requestBytes, frame.copied);
            return { body: payload.subarray(aux) };
          };
    this.#serve(connection, running, id, method, credential, controller, receive);
  }

  /**
   * Why a body that is not in its frame is not fetched at all: it claims more bytes than the method
   * takes (checked before any memory is reserved), or it names a place other than the client's own.
   */
  #refuse(method: string, ref: PullRef, flags: number, connection: FramedConnection): PlumeError | undefined {
    const limit = Math.min(this.#maxPayload, this.#options.bodyLimit?.(method) ?? Infinity);
    if (ref.length > limit)
      return new PlumeError('PLUME_ETOOBIG', `request '${method}' claims a body of ${ref.length} bytes; the limit is ${limit}`);
    const why = flags & FrameFlag.Pull ? this.#addressing.pullRefused(ref.address, connection.socket) : undefined;
    if (why === undefined) return undefined;
    this.#log(`refused a pull from ${connection.peer}: ${why}`);
    return new PlumeError('PLUME_EINPUT', `the body of '${method}' cannot be pulled: ${why}`);
  }

  #serve(
    connection: FramedConnection,
    running: Map<number, AbortController>,
    id: number,
    method: string,
    credential: string | undefined,
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
        const request: TransportRequest = { method, body: received.body, signal, keep: () => void (kept = true) };
        if (credential !== undefined) request.credential = credential;
        return this.#handler(request);
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

  #report(direction: Transfer['direction'], method: string, id: number, bytesMoved: number, bytesCopied: number): void {
    reportTransfer({ mode: this.mode, direction, method, id, bytesMoved, bytesCopied }, this.#log, this.#options.onTransfer);
  }
}
