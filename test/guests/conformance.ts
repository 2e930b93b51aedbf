// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
/*
 * conformance.ts — exercises every plume_v1 import; the AssemblyScript twin of conformance.c, with
 * byte-identical output for the same input.
 *
 * Protocol: the input selects the check. The check name is the input up to the first ':' (the whole
 * input if there is none); the argument is what follows the ':'. Numbers are unsigned decimal text.
 * A single-value output has no trailing newline; a multi-line output ends every line with "\n".
 *
 *   input        size=<input_size>\n
 *                read=<nread>:<bytes>\n   input_read(offset 3, len 4): nread then the raw bytes read
 *                past=<errno>:<nread>\n   input_read at offset input_size+100 (expect 0:0)
 *                (e.g. input "input" gives "size=5\nread=2:ut\npast=0:0\n")
 *   clock        <monotonic #1>\n<monotonic #2>\n<realtime>\n   (ns; #2 >= #1)
 *   badclock     errno of clock_now(7) (expect "1")
 *   random       32 random bytes as 64 lowercase hex digits
 *   log          log(1 info, "hello from guest"), then outputs "ok"
 *   sleep:N      sleep(N ms), then outputs "slept" (or "errno=<e>" if sleep failed)
 *   fail         fail("custom failure") and returns 1
 *   refuse:R     refuse_input(R, "refused input") and returns 1; if that answered an errno, outputs
 *                "errno=<e>" and returns 0 (expect "errno=1" for a reason other than 0 and 1)
 *   return:N     returns N without calling fail
 *   badptr       input_read(0, <linear memory size in bytes>, 16, &nread): outputs its errno (expect "1")
 *   bigout:N     writes N bytes of 'x' in 64 KiB writes, stopping at the first failing write; if a
 *                write failed, then writes that write's errno as decimal text (e.g. "2" for too_big)
 *                right after the bytes that were accepted (the host may still fail the invocation
 *                for passing maxOutputBytes; with a limit that is a multiple of 64 KiB the errno
 *                text itself does not fit)
 *   counter      increments a global counter and outputs its new value ("1" after a snapshot reset)
 *   init         "init=<n>": n is 1 when the init export (_initialize) ran once before this call
 *   echo:TEXT    outputs TEXT
 *   anything else: fail("unknown check: <input>"), returns 2
 */
import {
  CLOCK_MONOTONIC, CLOCK_REALTIME, LOG_INFO, OK, fail, input, log, output, outputString, randomBytes, raw,
} from '../../sdk/assemblyscript/index.ts';

let counter: u32 = 0;
let initRuns: u32 = 0;
initRuns++; // top-level statements run in the init export (_initialize)

const scratch: usize = memory.data(16);

function parseU32(s: Uint8Array): u32 {
  let v: u32 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

function is(name: Uint8Array, want: string): bool {
  if (name.length != want.length) return false;
  for (let i = 0; i < name.length; i++) if (<i32>name[i] != want.charCodeAt(i)) return false;
  return true;
}

export function run(): i32 {
  const inp = input();
  const size = <u32>inp.length;
  let nameLen = inp.indexOf(0x3a);
  if (nameLen < 0) nameLen = inp.length;
  const name = inp.subarray(0, nameLen);
  const arg = nameLen < inp.length ? inp.subarray(nameLen + 1) : new Uint8Array(0);

  if (is(name, 'input')) {
    const buf = new Uint8Array(4);
    raw.input_read(3, buf.dataStart, 4, scratch);
    const nread = load<u32>(scratch);
    store<u32>(scratch, 77);
    const pastErrno = raw.input_read(size + 100, new Uint8Array(4).dataStart, 4, scratch);
    const pastNread = load<u32>(scratch);
    outputString('size=' + size.toString() + '\nread=' + nread.toString() + ':');
    output(buf.subarray(0, <i32>nread));
    outputString('\npast=' + pastErrno.toString() + ':' + pastNread.toString() + '\n');
  } else if (is(name, 'clock')) {
    raw.clock_now(CLOCK_MONOTONIC, scratch);
    const m1 = load<u64>(scratch);
    raw.clock_now(CLOCK_MONOTONIC, scratch);
    const m2 = load<u64>(scratch);
    raw.clock_now(CLOCK_REALTIME, scratch);
    const rt = load<u64>(scratch);
    outputString(m1.toString() + '\n' + m2.toString() + '\n' + rt.toString() + '\n');
  } else if (is(name, 'badclock')) {
    outputString(raw.clock_now(7, scratch).toString());
  } else if (is(name, 'random')) {
    const bytes = randomBytes(32);
    let text = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = <u32>bytes[i];
      text += (b < 16 ? '0' : '') + b.toString(16);
    }
    outputString(text);
  } else if (is(name, 'log')) {
    log(LOG_INFO, 'hello from guest');
    outputString('ok');
  } else if (is(name, 'sleep')) {
    const e = raw.sleep(parseU32(arg));
    outputString(e == OK ? 'slept' : 'errno=' + e.toString());
  } else if (is(name, 'fail')) {
    return fail('custom failure');
  } else if (is(name, 'refuse')) {
    const msg = String.UTF8.encode('refused input', false);
    const e = raw.refuse_input(parseU32(arg), changetype<usize>(msg), <u32>msg.byteLength);
    if (e == OK) return 1;
    outputString('errno=' + e.toString());
    return 0;
  } else if (is(name, 'return')) {
    return <i32>parseU32(arg);
  } else if (is(name, 'badptr')) {
    const end = <usize>memory.size() << 16;
    outputString(raw.input_read(0, end, 16, scratch).toString());
  } else if (is(name, 'bigout')) {
    const chunk = new Uint8Array(65536);
    chunk.fill(0x78);
    let left = parseU32(arg);
    let e = OK;
    while (left > 0 && e == OK) {
      const n = left < 65536 ? left : 65536;
      e = raw.output_write(chunk.dataStart, n);
      left -= n;
    }
    if (e != OK) outputString(e.toString());
  } else if (is(name, 'counter')) {
    counter++;
    outputString(counter.toString());
  } else if (is(name, 'init')) {
    outputString('init=' + initRuns.toString());
  } else if (is(name, 'echo')) {
    output(arg);
  } else {
    const prefix = String.UTF8.encode('unknown check: ', false);
    const msg = new Uint8Array(prefix.byteLength + inp.length);
    msg.set(Uint8Array.wrap(prefix));
    msg.set(inp, prefix.byteLength);
    raw.fail(msg.dataStart, <u32>msg.length);
    return 2;
  }
  return 0;
}
