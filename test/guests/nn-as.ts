// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
/*
 * nn-as.ts — an AssemblyScript wasi-nn guest (sdk/assemblyscript/nn.ts; plume_v1 only for its input and
 * output). Input: a model name, a NUL byte, then a float32 tensor of dims [1,3,48,192] (the PaddleOCR cls
 * model's input). Output: output 0's bytes. A wasi-nn error fails the call with "<call>: nn_errno <n>".
 */
import { fail, input, output } from '../../sdk/assemblyscript/index';
import { Graph, nnErrno } from '../../sdk/assemblyscript/nn';

export function run(): i32 {
  const bytes = input();
  const nul = bytes.indexOf(0);
  if (nul < 0) return fail('input: a model name, NUL, then the tensor');
  const name = String.UTF8.decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + nul));
  const graph = Graph.byName(name);
  if (!graph) return fail('load_by_name: nn_errno ' + nnErrno().toString());
  const ctx = graph.context();
  if (!ctx) return fail('init_execution_context: nn_errno ' + nnErrno().toString());
  if (ctx.setInput(0, 1, [1, 3, 48, 192], bytes.subarray(nul + 1)) != 0) return fail('set_input: nn_errno ' + nnErrno().toString());
  if (ctx.compute() != 0) return fail('compute: nn_errno ' + nnErrno().toString());
  const out = ctx.output(0, 4); // 4 bytes is too small on purpose: the binding retries with the size needed
  if (!out) return fail('get_output: nn_errno ' + nnErrno().toString());
  output(out);
  return 0;
}
