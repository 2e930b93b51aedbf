/** Reading a file a user named (a module, a model, an input, a workflow spec) for the runtime and the CLI. */
import { readFile } from 'node:fs/promises';
import { PlumeError, type ErrorCode } from './errors.ts';

/** The bytes of `path`, or a PlumeError with `code`: "cannot read <what> '<path>': <errno code, or the reason>". */
export async function readFileOr(code: ErrorCode, what: string, path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new PlumeError(code, `cannot read ${what} '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
