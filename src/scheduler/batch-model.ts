/**
 * The online models behind adaptive batching (docs/scheduler.md): what a batch of n costs, how fast items
 * arrive, and from both the largest batch worth forming. Pure arithmetic, so tests can feed it numbers.
 */

/**
 * Service time of a batch as `fixedMs + perItemMs × n`, fitted by exponentially weighted least squares
 * over observed batches: each new observation weighs 1 and older ones decay by `decay`, so the fit follows
 * a function whose cost drifts (a JIT warming up, a neighbour taking the CPU) within tens of batches.
 */
export class ServiceModel {
  readonly #decay: number;
  #w = 0;
  #n = 0;
  #d = 0;
  #nn = 0;
  #nd = 0;
  fixedMs = 0;
  perItemMs = 0;

  constructor(decay = 0.98) {
    this.#decay = decay;
  }

  /** Batches seen (weighted): 0 until the first one finishes. */
  get weight(): number {
    return this.#w;
  }

  observe(size: number, ms: number): void {
    const k = this.#decay;
    this.#w = this.#w * k + 1;
    this.#n = this.#n * k + size;
    this.#d = this.#d * k + ms;
    this.#nn = this.#nn * k + size * size;
    this.#nd = this.#nd * k + size * ms;
    this.#fit();
  }

  /** Expected ms of a batch of `size`. */
  cost(size: number): number {
    return this.fixedMs + this.perItemMs * size;
  }

  #fit(): void {
    const variance = this.#w * this.#nn - this.#n * this.#n;
    // Until batch sizes vary the two parts cannot be told apart: assume the worst case for batching, all
    // of the cost per item (so the size cap starts small and grows as evidence of a fixed part comes in).
    if (variance <= 1e-9 * this.#w * this.#nn) {
      this.fixedMs = 0;
      this.perItemMs = this.#d / this.#n;
      return;
    }
    const slope = (this.#w * this.#nd - this.#n * this.#d) / variance;
    const intercept = (this.#d - slope * this.#n) / this.#w;
    if (slope < 0) {
      this.fixedMs = this.#d / this.#w;
      this.perItemMs = 0;
    } else if (intercept < 0) {
      this.fixedMs = 0;
      this.perItemMs = this.#d / this.#n;
    } else {
      this.fixedMs = intercept;
      this.perItemMs = slope;
    }
  }
}

/** Arrivals per ms, an exponentially decaying count (time constant `tauMs`): no window of timestamps to keep. */
export class ArrivalRate {
  readonly #tauMs: number;
  #value = 0;
  #at = 0;

  constructor(tauMs = 500) {
    this.#tauMs = tauMs;
  }

  arrive(now: number): void {
    this.#value = this.at(now) + 1 / this.#tauMs;
    this.#at = now;
  }

  at(now: number): number {
    return this.#value * Math.exp(-(now - this.#at) / this.#tauMs);
  }
}

export interface SizeInputs {
  readonly maxSize: number;
  /** Batches that may run at once. */
  readonly capacity: number;
  readonly fixedMs: number;
  readonly perItemMs: number;
  /** Arrivals per ms. */
  readonly rate: number;
  /** The latency objective; undefined: no latency cap. */
  readonly targetP90Ms: number | undefined;
}

/** Run batches at most this busy, so a burst above the measured rate does not start a backlog at once. */
const UTILISATION = 0.8;

/**
 * The largest batch to form from a backlog. Two bounds:
 * - latency: an item that arrives as a batch starts waits for a slot (about one batch time over the
 *   `capacity` slots) and then runs in the next batch, so p90 ≈ cost(n) × (1 + 1/capacity); the cap is the
 *   largest n that keeps this within the objective;
 * - stability: `capacity` slots serving batches of n complete capacity × n / cost(n) items per ms, which
 *   must exceed the arrival rate (with headroom), or the backlog and every latency grow without bound.
 * When the objective cannot be met at the arrival rate, stability wins: a batch big enough to keep up
 * loses less than a queue that grows. The result lies in [1, maxSize].
 */
export function adaptiveSize(m: SizeInputs): number {
  const latencyCap =
    m.targetP90Ms === undefined || m.perItemMs === 0
      ? m.maxSize
      : Math.floor((m.targetP90Ms / (1 + 1 / m.capacity) - m.fixedMs) / m.perItemMs);
  const demand = m.rate / UTILISATION;
  const stable = demand * m.perItemMs >= m.capacity ? m.maxSize : Math.ceil((demand * m.fixedMs) / (m.capacity - demand * m.perItemMs));
  return Math.max(1, Math.min(m.maxSize, Math.max(latencyCap, stable)));
}
