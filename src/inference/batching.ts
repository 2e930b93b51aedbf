/**
 * Batching of concurrent `compute` calls on one model (docs/wasi-nn.md: batching). The adaptive batcher
 * (src/scheduler/batcher.ts) runs a compute at once while the model is idle and lets the ones that arrive
 * meanwhile form a batch. A batch of computes whose inputs agree on every dim but the first is run as one
 * inference, concatenated along that first (dynamic) dim, and each compute gets its rows of every output.
 */
import { Batcher } from '../scheduler/batcher.ts';
import type { RunResult } from './inference-thread.ts';
import { isDynamic, type ModelMeta, type TensorData } from './tensor.ts';

type Run = (inputs: readonly TensorData[]) => Promise<RunResult>;
type Outcome = { readonly result: RunResult } | { readonly error: Error };

/** Larger batches gain little on a CPU and hold the first compute back longer. */
const MAX_BATCH = 32;

/** A model batches when every input and output has a dynamic first dim (ONNX Runtime names or -1s it). */
export function batchable(meta: ModelMeta): boolean {
  const all = [...meta.inputs, ...meta.outputs];
  return all.length > 0 && all.every((t) => t.type !== 'non-tensor' && isDynamic(t.shape[0]));
}

export class TensorBatcher {
  readonly #batcher: Batcher<readonly TensorData[], Outcome>;
  readonly #run: Run;

  constructor(name: string, run: Run) {
    this.#run = run;
    // capacity 1: the worker's inference thread runs one inference at a time anyway.
    this.#batcher = new Batcher({
      name,
      run: (items) => this.#runBatch(items),
      policy: { mode: 'adaptive', maxSize: MAX_BATCH, capacity: 1 },
    });
  }

  async submit(inputs: readonly TensorData[]): Promise<RunResult> {
    const outcome = await this.#batcher.submit(inputs);
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  close(): void {
    this.#batcher.close();
  }

  async #runBatch(items: (readonly TensorData[])[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(items.length);
    const groups = new Map<string, number[]>();
    items.forEach((inputs, i) => {
      const key = signature(inputs) ?? `#${i}`;
      const group = groups.get(key);
      if (group) group.push(i);
      else groups.set(key, [i]);
    });
    await Promise.all(
      [...groups.values()].map(async (indexes) => {
        const merged = indexes.length > 1 ? await this.#merged(indexes.map((i) => items[i]!)) : undefined;
        if (merged) merged.forEach((o, k) => (outcomes[indexes[k]!] = o));
        else for (const i of indexes) outcomes[i] = await this.#single(items[i]!);
      }),
    );
    return outcomes;
  }

  async #single(inputs: readonly TensorData[]): Promise<Outcome> {
    try {
      return { result: await this.#run(inputs) };
    } catch (err) {
      return { error: err as Error };
    }
  }

  /** One inference for the group; undefined when it failed or its outputs do not split (then each runs alone). */
  async #merged(items: (readonly TensorData[])[]): Promise<Outcome[] | undefined> {
    const rows = items.map((inputs) => inputs[0]!.dims[0]!);
    const total = rows.reduce((n, r) => n + r, 0);
    // The one extra copy batching costs: each compute's inputs into the batch's (outputs are not copied).
    const inputs = items[0]!.map((_, j) =>
      concat(
        items.map((inputs) => inputs[j]!),
        total,
      ),
    );
    let result: RunResult;
    try {
      result = await this.#run(inputs);
    } catch {
      return undefined;
    }
    if (!result.outputs.every((t) => t.dims[0] === total)) return undefined;
    let offset = 0;
    return items.map((own, k) => {
      const outputs = result.outputs.map((t) => rowsOf(t, offset, rows[k]!, total));
      offset += rows[k]!;
      return { result: { outputs, inputs: own } };
    });
  }
}

/** What must agree for computes to share a batch: every input's type and dims past the first; undefined if not batchable. */
function signature(inputs: readonly TensorData[]): string | undefined {
  const rows = inputs[0]?.dims[0];
  if (rows === undefined || rows === 0 || inputs.some((t) => t.dims[0] !== rows)) return undefined;
  return inputs.map((t) => `${t.type}[${t.dims.slice(1).join(',')}]`).join(' ');
}

function concat(parts: readonly TensorData[], total: number): TensorData {
  const first = parts[0]!;
  const data = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { type: first.type, dims: [total, ...first.dims.slice(1)], data };
}

/** Rows [offset, offset + count) of a batch output, as a view (get_output copies it into the guest). */
function rowsOf(t: TensorData, offset: number, count: number, total: number): TensorData {
  const rowBytes = t.data.length / total;
  return { type: t.type, dims: [count, ...t.dims.slice(1)], data: t.data.subarray(offset * rowBytes, (offset + count) * rowBytes) };
}
