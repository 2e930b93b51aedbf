// @ts-nocheck: AssemblyScript source, not TypeScript; compiled by asc (npm run build:examples).
// hello.ts — reads the input as UTF-8 and outputs "Hello, <input>!" (no newline).
import { inputString, outputString } from '../../sdk/assemblyscript/index.ts';

export function run(): i32 {
  outputString('Hello, ' + inputString() + '!');
  return 0;
}
