/** The input of a command: `--data STR` or `--input FILE` (`-` for stdin), for `run`, `invoke` and `workflow run`. */
import { buffer } from 'node:stream/consumers';
import { readFileOr } from '../read-file.ts';

/** Empty when neither is given. */
export async function readInput(opts: { data?: string; input?: string }): Promise<Uint8Array> {
  if (opts.data !== undefined && opts.input !== undefined) throw new TypeError('give either --data or --input, not both');
  if (opts.data !== undefined) return new TextEncoder().encode(opts.data);
  if (opts.input === undefined) return new Uint8Array(0);
  if (opts.input === '-') return new Uint8Array(await buffer(process.stdin));
  return readFileOr('PLUME_EINPUT', 'input file', opts.input);
}
