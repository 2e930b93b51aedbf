/**
 * Batched functions: the callers' inputs go to the function as ONE invocation whose input is a list
 * (src/data/list.ts) of N inputs, and its output must be a list of N outputs, the i-th for the i-th input.
 * Each caller sees only its own item (docs/scheduler.md, docs/abi.md).
 */
import { decodeList, encodeList } from '../data/list.ts';
import { PlumeError } from '../errors.ts';
import { Batcher, type BatchPolicy } from './batcher.ts';

/** What the batcher needs of an invocation's result (the executor's InvocationResult has more). */
export interface BatchableResult {
  readonly output: Uint8Array;
  readonly exitCode?: number;
}

export type FunctionBatcher<R extends BatchableResult> = Batcher<Uint8Array, R>;

/** `invoke` runs one invocation of the function (the executor); `capacity` defaults to `workers`. */
export function functionBatcher<R extends BatchableResult>(
  name: string,
  policy: BatchPolicy,
  workers: number,
  invoke: (input: Uint8Array) => Promise<R>,
): FunctionBatcher<R> {
  return new Batcher<Uint8Array, R>({
    name,
    policy: { ...policy, capacity: policy.capacity ?? workers },
    run: async (items) => {
      const result = await invoke(encodeList(items));
      // A WASI command that exited non-zero owes no list: every caller gets the exit code. The batch size
      // each caller sees comes from the batcher (Plume#submitToBatch).
      if (result.exitCode) return items.map(() => ({ ...result, output: new Uint8Array(0) }));
      return splitOutputs(name, result.output, items.length).map((output) => ({ ...result, output }));
    },
  });
}

function splitOutputs(name: string, output: Uint8Array, count: number): Uint8Array[] {
  let outputs: Uint8Array[];
  try {
    outputs = decodeList(output);
  } catch (err) {
    throw new PlumeError('PLUME_EOUTPUT', `batched function '${name}' must output a list of ${count} outputs: ${(err as Error).message}`, {
      function: name,
    });
  }
  if (outputs.length !== count) {
    throw new PlumeError('PLUME_EOUTPUT', `batched function '${name}' output ${outputs.length} items for a batch of ${count}`, {
      function: name,
    });
  }
  return outputs;
}
