/**
 * One framed connection over a `net.Socket`, the part the client and the server of both socket modes
 * share: frames out (header and payload written side by side, the payload never copied), frames in
 * (through a FrameDecoder), and one reason for its end.
 */
import type net from 'node:net';
import { PlumeError } from '../../errors.ts';
import { FrameDecoder, encodeHeader, type Frame, type FrameType } from './frame.ts';
import type { Log } from './transport.ts';

export interface ConnectionOptions {
  maxPayload: number;
  log: Log;
  onFrame(frame: Frame): void;
  /** Called once, after the socket closed; `reason` says why (PLUME_EPEER, PLUME_EFRAME or PLUME_ECLOSED). */
  onClose(reason: PlumeError): void;
}

export class FramedConnection {
  readonly socket: net.Socket;
  /** The remote end, for log lines (`127.0.0.1:40312`, or the socket path). */
  readonly peer: string;
  readonly #decoder: FrameDecoder;
  readonly #log: Log;
  #reason: PlumeError | undefined;

  constructor(socket: net.Socket, peer: string, options: ConnectionOptions) {
    this.socket = socket;
    this.peer = peer;
    this.#log = options.log;
    this.#decoder = new FrameDecoder(options.onFrame, { maxPayload: options.maxPayload });
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    // Without an 'error' listener a reset peer would crash the process; the reason is reported on close.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#reason ??= new PlumeError('PLUME_EPEER', `connection to ${peer} failed: ${error.code ?? error.message}`);
    });
    socket.on('close', () => options.onClose(this.#reason ?? this.#peerClosed()));
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /**
   * Queues one frame: `prefix` (the method name of a request) and `body` follow the header as separate
   * writes, corked so they leave in one writev. `onWritten` runs once the kernel has taken every byte.
   */
  send(type: FrameType, id: number, body: Uint8Array, prefix?: Uint8Array, onWritten?: () => void): void {
    if (this.socket.destroyed) return;
    const aux = prefix?.length ?? 0;
    const done = onWritten && ((error?: Error | null) => error || onWritten());
    this.socket.cork();
    this.socket.write(encodeHeader({ type, aux, id, length: aux + body.length }), aux + body.length === 0 ? done : undefined);
    if (prefix && aux > 0) this.socket.write(prefix, body.length === 0 ? done : undefined);
    if (body.length > 0) this.socket.write(body, done);
    this.socket.uncork();
  }

  /** Ends the connection at once; `reason` is what pending work is failed with. */
  destroy(reason: PlumeError): void {
    this.#reason ??= reason;
    this.socket.destroy();
  }

  #receive(chunk: Buffer): void {
    try {
      this.#decoder.push(chunk);
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
