/**
 * The server's half of large request bodies (socket.ts): a body that is not in its request frame is pulled
 * from the client's pull server, or read from the client's shared-memory file, into a lease of the store.
 */
import { PlumeError } from '../../errors.ts';
import type { Lease, PayloadStore } from '../store.ts';
import type { PullRef } from './frame.ts';
import { readShared, type Arrival } from './shared-files.ts';
import { SocketTransportClient } from './socket-client.ts';
import { PULL_METHOD, pullBytes, type SocketAddressing } from './socket.ts';
import type { TransportLogger } from './transport.ts';

/** A request's body as the handler gets it: inline in the frame, or pulled or read into a lease of the store. */
export interface Received {
  readonly body: Uint8Array;
  readonly lease?: Lease;
}

export interface LargeBodyFetcherOptions {
  readonly maxPayload: number;
  readonly store: PayloadStore;
  /** For the connections to pull servers. */
  readonly logger: TransportLogger | undefined;
  /** The cluster secret: a pull connection authenticates like any other. */
  readonly secret: string | undefined;
  /** Hears each body fetched: the bytes it moved and the bytes copied in user space. */
  readonly report: (method: string, id: number, bytesMoved: number, bytesCopied: number) => void;
}

/** A pull that failed because its connection closed; `reason` is what the caller hears. */
class ClosedPull {
  readonly reason: unknown;
  constructor(reason: unknown) {
    this.reason = reason;
  }
}

export class LargeBodyFetcher {
  readonly #addressing: SocketAddressing;
  readonly #maxPayload: number;
  readonly #store: PayloadStore;
  readonly #logger: TransportLogger | undefined;
  readonly #secret: string | undefined;
  readonly #report: LargeBodyFetcherOptions['report'];
  /** Connections to clients' pull servers, by address. */
  readonly #pullers = new Map<
    string,
    { readonly client: SocketTransportClient; settled: boolean; readonly ready: Promise<SocketTransportClient> }
  >();

  constructor(addressing: SocketAddressing, options: LargeBodyFetcherOptions) {
    this.#addressing = addressing;
    this.#maxPayload = options.maxPayload;
    this.#store = options.store;
    this.#logger = options.logger;
    this.#secret = options.secret;
    this.#report = options.report;
  }

  /** Closes the connections to pull servers. */
  async close(): Promise<void> {
    const pullers = [...this.#pullers.values()];
    this.#pullers.clear();
    await Promise.all(pullers.map((p) => p.ready.then((c) => c.close()).catch(() => {})));
  }

  /**
   * Fetches a body that is not in the frame into a lease of the store: waits while the store is full
   * (backpressure), then pulls it from the client's pull server, or reads it from the client's shared-memory
   * file as it arrives. A lease whose fetch did not complete is forgotten, never reused: a socket may still
   * be filling it.
   */
  async fetch(
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
      this.#report(method, id, moved, copied);
      return { body: lease.bytes, lease };
    } catch (error) {
      // A pull whose connection has closed can no longer write into the buffer, so it is reused rather than
      // left to the collector: a peer that hangs up mid-body, again and again, then costs no fresh memory
      // (freed buffers of this size stay resident in the allocator: ~7 MB of RSS per 8 MB body).
      if (error instanceof ClosedPull) {
        lease.release();
        throw error.reason;
      }
      lease.forget();
      throw error;
    }
  }

  async #pull(ref: PullRef, lease: Lease, requestBytes: number): Promise<{ length: number; moved: number; copied: number }> {
    const puller = await this.#puller(ref.address);
    let copied = 0;
    const body = await puller
      .requestInto(PULL_METHOD, ref.token, lease.bytes, (t) => {
        if (t.direction === 'response') copied = t.bytesCopied;
      })
      .catch((error: unknown) => {
        // Failed by the connection's end ('close': its reads are over), not by a timeout or an answer.
        throw puller.usable ? error : new ClosedPull(error);
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
      ...(this.#logger ? { logger: this.#logger } : {}),
      ...(this.#secret === undefined ? {} : { secret: this.#secret }),
    });
    const entry = { client, settled: false, ready: client.connect(address).then(() => client) };
    const settle = (): void => void (entry.settled = true);
    entry.ready.then(settle, settle);
    this.#pullers.set(address, entry);
    return entry.ready;
  }
}
