/**
 * Liveness of a connection a client opened (docs/dataplane.md, Liveness). A peer whose host loses power or
 * its network sends no FIN and no RST: its connection stays open, and a call in flight there would wait for
 * its own timeout. So a client with a `peerTimeoutMs` declares the server lost once nothing at all has
 * arrived from it for that long, and the connection's end fails every call in flight on it (PLUME_EPEER).
 *
 * It ticks four times per timeout. A tick that finds nothing heard since the last one sends a ping (a
 * constant 20-byte frame); the server's main thread answers with a pong, and any byte counts as heard, so
 * a busy link never pings. The fourth quiet tick in a row ends the connection: nothing was heard for at
 * least the timeout, and at most a quarter more.
 *
 * Ticks are counted, not timed: after this end's own event loop stalls, the timer runs once, before the
 * reads that waited meanwhile, so a stall of any length costs one quiet tick, never a false loss. A server
 * whose main thread stalls for less than the timeout is not lost either; its pong comes when it resumes.
 */

/** Ticks per timeout: the first quiet one pings, the last one ends the connection. */
const TICKS = 4;

/**
 * `plume up --peer-timeout-ms`. 1 s: a lost host is found within 1.25 s, so a retried call is served
 * elsewhere within the 2 s; a main thread stalled for less than 1 s is not mistaken for one.
 */
export const DEFAULT_PEER_TIMEOUT_MS = 1000;
/** Below this a ping every quarter would cost more than it saves (and a GC pause would look like a loss). */
export const MIN_PEER_TIMEOUT_MS = 100;

/** Checks a `peerTimeoutMs` option: 0 (off) or a number of ms ≥ MIN_PEER_TIMEOUT_MS. */
export function checkPeerTimeout(ms: unknown, name = 'peerTimeoutMs'): number {
  if (ms === 0) return 0;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < MIN_PEER_TIMEOUT_MS || ms > 2 ** 31 - 1)
    throw new RangeError(`${name} must be 0 (off) or an integer number of ms in [${MIN_PEER_TIMEOUT_MS}, 2^31), got ${String(ms)}`);
  return ms;
}

export class Liveness {
  readonly #ping: () => void;
  readonly #lost: () => void;
  readonly #timer: NodeJS.Timeout;
  #heard = false;
  #quiet = 0;

  /** Starts ticking at once: a connect or a handshake that hears nothing for `timeoutMs` is lost too. */
  constructor(timeoutMs: number, ping: () => void, lost: () => void) {
    this.#ping = ping;
    this.#lost = lost;
    this.#timer = setInterval(() => this.#tick(), timeoutMs / TICKS);
    this.#timer.unref();
  }

  /** Bytes arrived from the other end. */
  heard(): void {
    this.#heard = true;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    if (this.#heard) {
      this.#heard = false;
      this.#quiet = 0;
      return;
    }
    if (++this.#quiet < TICKS) return this.#ping();
    this.stop();
    this.#lost();
  }
}
