// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
/*
 * chain-as.ts — the AssemblyScript twin of chain.c for the scenarios both run (same protocol, same output):
 *   seq:TEXT  named:FN:TEXT  dag:TEXT  fanout:N  error  timeout:MS  cancel
 */
import { call, callFuture, callMany, callString, fail, inputString, outputString, sleep } from '../../sdk/assemblyscript/index.ts';

export function upper(): i32 {
  outputString(inputString().toUpperCase());
  return 0;
}

export function reverse(): i32 {
  const s = inputString();
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) out += s.charAt(i);
  outputString(out);
  return 0;
}

export function square(): i32 {
  const v = U64.parseInt(inputString());
  outputString((v * v).toString());
  return 0;
}

export function failing(): i32 {
  return fail('callee says no');
}

export function slow(): i32 {
  sleep(1000);
  outputString('slow done');
  return 0;
}

function arg(s: string, prefix: string): string {
  return s.substring(prefix.length);
}

export function run(): i32 {
  const s = inputString();
  if (s.startsWith('seq:')) {
    outputString(callString('#upper', arg(s, 'seq:')).outputString());
  } else if (s.startsWith('named:')) {
    const rest = arg(s, 'named:');
    const colon = rest.indexOf(':');
    outputString(callString(rest.substring(0, colon), rest.substring(colon + 1)).outputString());
  } else if (s.startsWith('dag:')) {
    const f = callString('#upper', arg(s, 'dag:'));
    outputString(callFuture('#reverse', f).outputString());
  } else if (s.startsWith('fanout:')) {
    const n = I32.parseInt(arg(s, 'fanout:'));
    const inputs = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) inputs[i] = Uint8Array.wrap(String.UTF8.encode(i.toString(), false));
    const futures = callMany('#square', inputs);
    let sum: u64 = 0;
    for (let i = 0; i < n; i++) sum += U64.parseInt(futures[i].outputString());
    outputString(sum.toString());
  } else if (s == 'error') {
    const f = call('#failing', new Uint8Array(0));
    const e = f.await();
    outputString('failed:' + e.toString() + ':' + f.error());
  } else if (s.startsWith('timeout:')) {
    const f = call('#slow', new Uint8Array(0));
    outputString(f.await(<u32>I32.parseInt(arg(s, 'timeout:'))).toString());
  } else if (s == 'cancel') {
    const f = call('#slow', new Uint8Array(0));
    f.cancel();
    outputString(f.await().toString());
  } else {
    return fail('unknown scenario');
  }
  return 0;
}
