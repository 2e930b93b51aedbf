/**
 * What the two socket modes share. `local` (Unix socket) and `networked` (TCP) differ only in how an
 * address string becomes listen/connect options and how the bound address is reported, which a
 * `SocketAddressing` supplies (`local.ts`, `networked.ts`); the server (`socket-server.ts`) and the client
 * (`socket-client.ts`) are the same for both.
 *
 * Large bodies travel as responses (docs/dataplane.md, Pulled bodies). Node reads in place (`onread`) only
 * on sockets it connects, never on the ones a server accepts, so a request body of `pullThreshold` bytes
 * or more is not written into the request: the client holds it under a random token, and the server pulls
 * it over a connection of its own to the client's pull server, straight into a pooled buffer of its
 * PayloadStore. Responses arrive on the client's own socket, in place too. The client's half of this is
 * `large-body-sender.ts`, the server's `large-body-fetcher.ts`; since a server pulls through a client and
 * a client serves pulls with a server, the two sides import each other (neither uses the other while its
 * module loads).
 */
import type net from 'node:net';
import { HEADER_BYTES, PULL_TOKEN_BYTES } from './frame.ts';

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
  /**
   * Why a pull reference's address, from a request on `socket`, is refused (undefined: it may be used). A
   * frame must never make a server connect where it likes: only to the client's own pull server.
   */
  pullRefused(address: string, socket: net.Socket): string | undefined;
  /** Per-socket settings, on both ends (Nagle off for TCP). */
  prepare(socket: net.Socket): void;
  /** Large request bodies go through shared-memory files (same host only) instead of being pulled. */
  readonly sharedFiles: boolean;
}

export const EMPTY = new Uint8Array(0);
/** The method of a pull request, whose body is the token of the body to pull. */
export const PULL_METHOD = 'pull';

/** The bytes a pulled request moves: its frame, the pull request frame, and the pull's response frame. */
export function pullBytes(requestBytes: number, bodyBytes: number): number {
  return requestBytes + HEADER_BYTES + PULL_METHOD.length + PULL_TOKEN_BYTES + HEADER_BYTES + bodyBytes;
}
