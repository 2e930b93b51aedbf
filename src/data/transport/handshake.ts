/**
 * Peer authentication for the socket transports: a mutual HMAC-SHA256 challenge-response over a shared
 * cluster secret (docs/dataplane.md, Peer security). Run before a single frame is parsed, it costs one
 * round trip per connection and nothing per request, and keeps the data plane's zero-copy paths (reads in
 * place, shared-memory bodies), which TLS would turn into user-space copies of every byte.
 *
 * On connect both ends send a hello at once: 4 bytes of magic `PAUT`, a version byte, 3 zero bytes and a
 * 32-byte random nonce. Each end that has the other's hello sends its proof:
 *
 *   proof(role) = HMAC-SHA256(secret, "plume-peer-auth/1 " + role + nonce(client) + nonce(server))
 *
 * and accepts the other end once its proof, for the other role, matches (compared in constant time). The
 * role in the MAC is what makes a reflected proof fail: a server never computes a client's proof, so an
 * attacker cannot bounce one end's proof back at it, and a nonce echoed back is refused outright. Each end
 * reads exactly 72 bytes (hello + proof) before it knows; anything else is dropped with the connection.
 * This authenticates peers; it does not encrypt: run peers on a private network (docs/dataplane.md, Peer security).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { PlumeError } from '../../errors.ts';

/** Unlike a frame's magic (`PL`), so an end without a secret names the problem (frame.ts). */
const MAGIC = Buffer.from('PAUT', 'latin1');
export const HANDSHAKE_MAGIC16 = 0x5041;
const VERSION = 1;
const NONCE_BYTES = 32;
export const HELLO_BYTES = 4 + 1 + 3 + NONCE_BYTES;
export const PROOF_BYTES = 32;
/** What one end reads of the other before it is authenticated: never more. */
export const HANDSHAKE_BYTES = HELLO_BYTES + PROOF_BYTES;
/** A client that has not proved itself by then is dropped (ServerOptions.handshakeTimeoutMs). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
/** The shortest cluster secret accepted: 128 bits (`openssl rand -hex 32` gives 32 bytes). */
export const MIN_SECRET_BYTES = 16;

export type Role = 'client' | 'server';

/** The secret as an HMAC key; throws a RangeError for one too short to resist guessing. */
export function secretKey(secret: unknown): Buffer {
  if (typeof secret !== 'string') throw new TypeError(`the cluster secret must be a string, got ${typeof secret}`);
  const key = Buffer.from(secret, 'utf8');
  if (key.length < MIN_SECRET_BYTES)
    throw new RangeError(
      `the cluster secret must be at least ${MIN_SECRET_BYTES} bytes, got ${key.length} (make one with: openssl rand -hex 32)`,
    );
  return key;
}

function proof(key: Buffer, role: Role, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`plume-peer-auth/1 ${role}`).update(clientNonce).update(serverNonce).digest();
}

function failed(reason: string): PlumeError {
  return new PlumeError('PLUME_EPEER', `peer authentication failed: ${reason}`);
}

/**
 * One end's side of the handshake. `start()` sends the hello; `push()` takes the bytes that arrive until
 * it returns what follows the other end's proof (frames, possibly none): from then on the connection is
 * authenticated. It throws `PLUME_EPEER` on anything but a valid hello and proof.
 */
export class Handshake {
  readonly #role: Role;
  readonly #key: Buffer;
  readonly #send: (bytes: Uint8Array) => void;
  readonly #nonce = randomBytes(NONCE_BYTES);
  /** The other end's hello and proof, as they arrive. */
  readonly #received = Buffer.alloc(HANDSHAKE_BYTES);
  #filled = 0;

  constructor(role: Role, key: Buffer, send: (bytes: Uint8Array) => void) {
    this.#role = role;
    this.#key = key;
    this.#send = send;
  }

  start(): void {
    const hello = Buffer.alloc(HELLO_BYTES);
    MAGIC.copy(hello, 0);
    hello[4] = VERSION;
    this.#nonce.copy(hello, 8);
    this.#send(hello);
  }

  push(chunk: Uint8Array): Uint8Array | undefined {
    const n = Math.min(HANDSHAKE_BYTES - this.#filled, chunk.length);
    const before = this.#filled;
    this.#received.set(chunk.subarray(0, n), before);
    this.#filled += n;
    if (before < HELLO_BYTES && this.#filled >= 4 && !this.#received.subarray(0, 4).equals(MAGIC))
      throw failed(
        `the peer did not open with a handshake (first bytes 0x${this.#received.subarray(0, 4).toString('hex')}): does it use a cluster secret?`,
      );
    if (before < HELLO_BYTES && this.#filled >= HELLO_BYTES) this.#hello();
    if (this.#filled < HANDSHAKE_BYTES) return undefined;
    const given = this.#received.subarray(HELLO_BYTES);
    const other: Role = this.#role === 'client' ? 'server' : 'client';
    if (!timingSafeEqual(given, this.#proof(other))) throw failed(`the ${other}'s proof is wrong: it does not hold this cluster secret`);
    return chunk.subarray(n);
  }

  #hello(): void {
    const hello = this.#received;
    if (hello[4] !== VERSION || hello[5] !== 0 || hello[6] !== 0 || hello[7] !== 0)
      throw failed(`unsupported handshake version ${hello[4]}`);
    if (this.#otherNonce().equals(this.#nonce)) throw failed('the peer sent back our own nonce');
    this.#send(this.#proof(this.#role));
  }

  #otherNonce(): Buffer {
    return this.#received.subarray(8, HELLO_BYTES);
  }

  #proof(role: Role): Buffer {
    const [client, server] = this.#role === 'client' ? [this.#nonce, this.#otherNonce()] : [this.#otherNonce(), this.#nonce];
    return proof(this.#key, role, client, server);
  }
}
