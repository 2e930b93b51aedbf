/**
 * One framed connection over a `net.Socket`, the part the client and the server of both socket modes
 * share: frames out (header and payload written side by side, the payload never copied), frames in
 * (through a FrameDecoder), and one reason for its end.
 */
import net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { FrameDecoder, FrameType, PING_FRAME, PONG_FRAME, encodeHeader, type DecoderOptions, type Frame } from './frame.ts';
import { Handshake, type Role } from './handshake.ts';
import { Liveness } from './liveness.ts';
import type { Log } from './transport.ts';

export interface ConnectionOptions {
  maxPayload: number;
  log: Log;
  onFrame(frame: Frame): void;
  /** Called once, after the socket closed; `reason` says why (PLUME_EPEER, PLUME_EFRAME or PLUME_ECLOSED). */
  onClose(reason: PlumeError): void;
  /** Where each frame's payload goes (see DecoderOptions). */
  allocate?: DecoderOptions['allocate'];
  /**
   * Authenticate the other end with this cluster secret (a key from `secretKey`) before any frame: no
   * byte reaches the decoder, and nothing is allocated for a frame, until its proof is checked.
   */
  auth?: { readonly key: Buffer; readonly timeoutMs: number };
  /** Called once the other end is authenticated (at once without `auth`). */
  onReady?(): void;
  /**
   * A client's connection only: end it as lost (PLUME_EPEER) once nothing has arrived from the server for
   * this many ms, pinging it while the connection is quiet (liveness.ts). Servers answer pings always.
   */
  peerTimeoutMs?: number;
}

export interface SendOptions {
  /** Written between the header and the body (a request's method name, and a pull reference). */
  readonly prefix?: readonly Uint8Array[];
  readonly flags?: number;
  /** Runs once: when the kernel has taken every byte, or with the error that stopped it (also if already closed). */
  readonly onSent?: (error?: Error) => void;
}

export class FramedConnection {
  readonly socket: net.Socket;
  /** The remote end, for log lines (`127.0.0.1:40312`, or the socket path). */
  readonly peer: string;
  readonly #decoder: FrameDecoder;
  readonly #log: Log;
  readonly #onReady: (() => void) | undefined;
  #reason: PlumeError | undefined;
  /** Until the other end is authenticated: every byte it sends goes here, none to the decoder. */
  #handshake: Handshake | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  readonly #role: Role;
  readonly #liveness: Liveness | undefined;
  /** Pings arrived in the bytes being fed: one pong answers them all, after the bytes are decoded. */
  #pongDue = false;

  private constructor(socket: net.Socket, peer: string, decoder: FrameDecoder, options: ConnectionOptions, role: Role) {
    this.socket = socket;
    this.peer = peer;
    this.#log = options.log;
    this.#decoder = decoder;
    this.#onReady = options.onReady;
    this.#role = role;
    const timeoutMs = options.peerTimeoutMs ?? 0;
    if (timeoutMs > 0 && role === 'client') {
      // Pings wait for the handshake: before it, the server would take a frame for a bad proof.
      const ping = (): void => void (this.ready && !socket.destroyed && socket.write(PING_FRAME));
      this.#liveness = new Liveness(timeoutMs, ping, () => {
        const reason = new PlumeError('PLUME_EPEER', `peer ${peer} was lost: nothing arrived from it for ${timeoutMs} ms, pings included`);
        this.#log(`dropped connection ${peer}: ${reason.message}`);
        this.destroy(reason);
      });
    }
    if (options.auth) {
      const { key, timeoutMs } = options.auth;
      this.#handshake = new Handshake(role, key, (bytes) => socket.write(bytes));
      this.#handshakeTimer = setTimeout(() => {
        const reason = new PlumeError(
          'PLUME_EPEER',
          `peer authentication failed: ${peer} did not complete the handshake within ${timeoutMs} ms`,
        );
        this.#log(`dropped connection ${peer}: ${reason.message}`);
        this.destroy(reason);
      }, timeoutMs);
      this.#handshakeTimer.unref();
    }
    // Without an 'error' listener a reset peer would crash the process; the reason is reported on close.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#reason ??= new PlumeError('PLUME_EPEER', `connection to ${peer} failed: ${error.code ?? error.message}`);
    });
    socket.on('close', () => {
      clearTimeout(this.#handshakeTimer);
      this.#liveness?.stop();
      options.onClose(this.#reason ?? this.#peerClosed());
    });
  }

  /** True once the other end is authenticated (always, without a secret). */
  get ready(): boolean {
    return this.#handshake === undefined;
  }

  /** A socket a server accepted: Node offers no `onread` there, so chunks arrive as 'data' and are copied into place. */
  static accept(socket: net.Socket, peer: string, options: ConnectionOptions): FramedConnection {
    const decoder = newDecoder(options, (type) => connection.#control(type));
    const connection = new FramedConnection(socket, peer, decoder, options, 'server');
    socket.on('data', (chunk: Buffer) => connection.#feed(() => connection.#frames(chunk) && decoder.push(chunk)));
    if (connection.#handshake) connection.#handshake.start();
    else options.onReady?.();
    return connection;
  }

  /**
   * Connects with `onread`: the kernel reads the rest of a large payload straight into its final buffer
   * (no per-read buffers, no copy). `connected` settles with the connect (and, with `auth`, the
   * handshake), rejecting with `PLUME_EPEER`.
   */
  static connect(
    connectOptions: net.NetConnectOpts,
    peer: string,
    options: ConnectionOptions,
  ): { connection: FramedConnection; connected: Promise<void> } {
    const decoder = newDecoder(options, (type) => connection.#control(type));
    const socket = net.connect({
      ...connectOptions,
      onread: {
        buffer: () => decoder.readTarget(),
        callback: (n: number, buffer: Uint8Array) => {
          // During the handshake the decoder holds no payload, so reads land in its scratch buffer.
          connection.#feed(() => connection.#frames(buffer.subarray(0, n)) && decoder.received(buffer, n));
          return true; // keep reading
        },
      },
    });
    const connection = new FramedConnection(socket, peer, decoder, options, 'client');
    const connected = new Promise<void>((resolve, reject) => {
      const fail = (error: NodeJS.ErrnoException) =>
        reject(new PlumeError('PLUME_EPEER', `cannot connect to ${peer}: ${error.code ?? error.message}`));
      socket.once('error', fail);
      // Also before the connect: a connection ended then (the handshake's timeout, liveness) emits no
      // 'error', and the connect must still settle. After it settled, a rejection is a no-op.
      socket.once('close', () => reject(connection.#reason ?? connection.#handshakeClosed()));
      socket.once('connect', () => {
        socket.off('error', fail);
        if (!connection.#handshake) return resolve();
        connection.#readyWaiter = resolve;
        connection.#handshake.start();
      });
    });
    return { connection, connected };
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Queues one frame: header, prefix and body as separate writes, corked so they leave in one writev. */
  send(type: FrameType, id: number, body: Uint8Array, options: SendOptions = {}): void {
    const { prefix = [], flags = 0, onSent } = options;
    if (this.socket.destroyed) {
      onSent?.(this.#reason ?? new PlumeError('PLUME_EPEER', `connection to ${this.peer} is closed`));
      return;
    }
    const aux = prefix[0]?.length ?? 0;
    const length = prefix.reduce((n, p) => n + p.length, 0) + body.length;
    const parts = [encodeHeader({ type, flags, aux, id, length }), ...prefix, body].filter((p, i) => i === 0 || p.length > 0);
    const done = onSent && ((error?: Error | null) => onSent(error ?? undefined));
    this.socket.cork();
    parts.forEach((part, i) => this.socket.write(part, i === parts.length - 1 ? done : undefined));
    this.socket.uncork();
  }

  /** Ends the connection at once; `reason` is what pending work is failed with. */
  destroy(reason: PlumeError): void {
    this.#reason ??= reason;
    this.socket.destroy();
  }

  #readyWaiter: (() => void) | undefined;

  /**
   * Routes `bytes` to the handshake while it runs: false while they all belong to it; once it is done,
   * the bytes after it go to the decoder (pushed here) and false again. True: they are frame bytes.
   */
  #frames(bytes: Uint8Array): boolean {
    const handshake = this.#handshake;
    if (!handshake) return true;
    const rest = handshake.push(bytes);
    if (rest === undefined) return false;
    this.#handshake = undefined;
    clearTimeout(this.#handshakeTimer);
    this.#readyWaiter?.();
    this.#readyWaiter = undefined;
    this.#onReady?.();
    if (rest.length > 0) this.#decoder.push(rest);
    return false;
  }

  #handshakeClosed(): PlumeError {
    return new PlumeError(
      'PLUME_EPEER',
      `peer authentication failed: ${this.peer} closed the connection during the handshake (does it use the same cluster secret?)`,
    );
  }

  /**
   * A ping or pong the decoder recognised. Only a client pings and only a server answers: either arriving
   * at the wrong end is refused like any frame that end does not take.
   */
  #control(type: typeof FrameType.Ping | typeof FrameType.Pong): void {
    if (type === FrameType.Ping && this.#role === 'server') this.#pongDue = true;
    else if (type !== FrameType.Pong || this.#role !== 'client')
      throw new PlumeError('PLUME_EFRAME', `malformed frame: a ${type === FrameType.Ping ? 'ping from a server' : 'pong from a client'}`);
  }

  #feed(decode: () => void): void {
    this.#liveness?.heard();
    try {
      decode();
      if (this.#pongDue) {
        this.#pongDue = false;
        // Bytes already queued reach the client before a pong would, and tell it as much: a client that
        // pings without reading makes this end queue one pong at most.
        if (this.socket.writableLength === 0 && !this.socket.destroyed) this.socket.write(PONG_FRAME);
      }
    } catch (error) {
      const reason = error instanceof PlumeError ? error : new PlumeError('PLUME_EFRAME', `frame handling failed: ${String(error)}`);
      this.#log(`dropped connection ${this.peer}: ${reason.message}`, error);
      this.destroy(reason);
    }
  }

  #peerClosed(): PlumeError {
    const partial = this.#decoder.partial;
    const where = partial ? ` mid-frame (${partial.received} of ${partial.length} bytes received)` : '';
    return new PlumeError('PLUME_EPEER', `peer ${this.peer} closed the connection${where}`);
  }
}

function newDecoder(options: ConnectionOptions, onControl: NonNullable<DecoderOptions['onControl']>): FrameDecoder {
  const decoderOptions: DecoderOptions = { maxPayload: options.maxPayload, onControl };
  if (options.allocate) decoderOptions.allocate = options.allocate;
  return new FrameDecoder(options.onFrame, decoderOptions);
}
