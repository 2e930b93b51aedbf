/**
 * Control traffic between the executor and its workers, over postMessage: requests the executor makes of
 * a worker (snapshot, prewarm, stats, models) with their replies, and the answers to requests a worker
 * makes of the main thread (state operations, calls to other nodes).
 */
import type { Transferable } from 'node:worker_threads';
import { PlumeError } from '../errors.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import type { WorkerSlot } from './worker-slot.ts';

type Reply = Extract<FromWorker, { readonly requestId: number }>;

export class ControlChannel {
  readonly #waiting = new Map<number, (msg: FromWorker) => void>();
  #next = 1;
  /** Outstanding work keeps the workers alive (Executor#hold); a control request is outstanding work. */
  readonly #hold: () => void;
  readonly #unhold: () => void;

  constructor(hold: () => void, unhold: () => void) {
    this.#hold = hold;
    this.#unhold = unhold;
  }

  /**
   * Post a request and resolve with the worker's reply; after `timeoutMs` with what `timedOut` gives instead
   * (a stand-in reply, or an error to reject with). The workers stay held (they keep the process alive) meanwhile.
   */
  ask(
    slot: WorkerSlot,
    make: (requestId: number) => ToWorker,
    timeoutMs: number,
    timedOut: (requestId: number) => FromWorker | PlumeError,
  ): Promise<FromWorker> {
    const requestId = this.#next++;
    this.#hold();
    return new Promise<FromWorker>((resolve, reject) => {
      const settle = (reply: FromWorker | PlumeError): void => {
        clearTimeout(timer);
        this.#waiting.delete(requestId);
        this.#unhold();
        if (reply instanceof PlumeError) reject(reply);
        else resolve(reply);
      };
      const timer = setTimeout(() => settle(timedOut(requestId)), timeoutMs);
      timer.unref(); // the held workers keep the process alive meanwhile; after close nothing should
      this.#waiting.set(requestId, settle);
      slot.post(make(requestId));
    });
  }

  /** A worker's reply to one of our requests. */
  reply(msg: Reply): void {
    this.#waiting.get(msg.requestId)?.(msg);
  }

  /** Answer a worker's request (a state operation, a remote call) once `work` settles, unless the worker was replaced meanwhile. */
  answer<T>(slot: WorkerSlot, requestId: number, work: Promise<T>, transfer: (result: T) => Transferable[] = () => []): void {
    const worker = slot.worker;
    this.#hold();
    work
      .then(
        (result) => {
          if (slot.worker === worker) slot.post({ type: 'reply', requestId, result }, transfer(result));
        },
        (err: unknown) => {
          if (slot.worker === worker) slot.post({ type: 'reply', requestId, error: PlumeError.serialize(err, 'PLUME_EFAILED') });
        },
      )
      .finally(() => this.#unhold());
  }
}
