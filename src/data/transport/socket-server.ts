/** The server of both socket modes (socket.ts): accepts connections, runs the handler, answers. */
import net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { PayloadStore, type Lease } from '../store.ts';
import { FramedConnection } from './connection.ts';
import { DEFAULT_MAX_PAYLOAD, FrameFlag, FrameType, HEADER_BYTES, decodePullRef, type Frame, type PullRef } from './frame.ts';
import { LargeBodyFetcher, type Received } from './large-body-fetcher.ts';
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
  type TransportServer,
} from './transport.ts';

const utf8 = new TextDecoder();

export class SocketTransportServer implements TransportServer {
  readonly mode: 'local' | 'networked';
  readonly #addressing: SocketAddressing;
  readonly #handler: RequestHandler;
  readonly #options: ServerOptions;
  readonly #maxPayload: number;
  readonly #log: Log;
  readonly #connections = new Set<FramedConnection>();
  readonly #largeBodies: LargeBodyFetcher;
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
    this.#largeBodies = new LargeBodyFetcher(addressing, {
      maxPayload: this.#maxPayload,
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
          this.#largeBodies.fetch(method, id, ref, arrival, requestBytes, controller.signal).finally(() => {
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

  #report(direction: Transfer['direction'], method: string, id: number, bytesMoved: number, bytesCopied: number): void {
    reportTransfer({ mode: this.mode, direction, method, id, bytesMoved, bytesCopied }, this.#log, this.#options.onTransfer);
  }
}
