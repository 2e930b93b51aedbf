/**
 * The models registered for wasi-nn, by name: every worker has them (a replacement or a spare gets them in
 * its init), and adding one resolves only once every worker has created its session.
 */
import { PlumeError } from '../errors.ts';
import type { ModelMeta } from '../inference/tensor.ts';
import type { ControlChannel } from './control.ts';
import type { ToWorker } from './protocol.ts';
import type { WorkerSlot } from './worker-slot.ts';

/** Creating a session takes a second at most; a worker replaced meanwhile never answers. */
const MODEL_WAIT_MS = 60_000;

export class ModelRegistry {
  readonly #models = new Map<string, Uint8Array>();
  readonly #live: () => readonly WorkerSlot[];
  readonly #ask: ControlChannel['ask'];

  constructor(live: () => readonly WorkerSlot[], ask: ControlChannel['ask']) {
    this.#live = live;
    this.#ask = ask;
  }

  list(): { name: string; bytes: Uint8Array }[] {
    return [...this.#models].map(([name, bytes]) => ({ name, bytes }));
  }

  /**
   * Register a model on every worker, each creating its session; resolves once all have (so a call placed
   * right after finds it anywhere). If a worker cannot load it, every worker goes back to the model the name
   * had before (or to no model), and this rejects with ONNX Runtime's message.
   */
  async add(name: string, bytes: Uint8Array): Promise<ModelMeta> {
    const add = (model: Uint8Array): Promise<{ meta?: ModelMeta; error?: string }[]> =>
      Promise.all(this.#live().map((slot) => this.#askModel(slot, (requestId) => ({ type: 'model-add', requestId, name, bytes: model }))));
    const replies = await add(bytes);
    const failed = replies.find((r) => r.error !== undefined);
    if (failed) {
      // Leave every worker as it was: with the model this name had before, or without the name.
      const previous = this.#models.get(name);
      await (previous ? add(previous) : this.remove(name));
      throw new PlumeError('PLUME_EMODEL', `model '${name}' cannot be loaded: ${failed.error}`, { model: name });
    }
    this.#models.set(name, bytes);
    return replies[0]!.meta!;
  }

  async remove(name: string): Promise<void> {
    this.#models.delete(name);
    await Promise.all(this.#live().map((slot) => this.#askModel(slot, (requestId) => ({ type: 'model-remove', requestId, name }))));
  }

  async #askModel(slot: WorkerSlot, make: (requestId: number) => ToWorker): Promise<{ meta?: ModelMeta; error?: string }> {
    const reply = await this.#ask(slot, make, MODEL_WAIT_MS, (requestId) => ({
      type: 'model-done',
      requestId,
      error: `worker ${slot.index} did not answer within ${MODEL_WAIT_MS} ms`,
    }));
    return reply.type === 'model-done' ? reply : { error: 'unexpected reply' };
  }
}
