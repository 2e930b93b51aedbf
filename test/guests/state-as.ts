// @ts-nocheck: AssemblyScript source (u32, usize, decorators), not TypeScript; compiled by asc.
/*
 * state-as.ts — the AssemblyScript twin of state.c: same input "OP:KEY[:ARG[:ARG]]", same output text.
 *   set:K:V        → "v=<version>"
 *   get:K          → the value, or "noent" (another errno: the errno, and returns 1)
 *   range:K:OFF    4 bytes from OFF
 *   setrange:K:OFF:V  → "ok"
 *   cas:K:VER:V    → "ok:<version>" or "conflict:<current version>"
 *   append:K:V     → "<count>"
 *   appended:K     entries from 0, joined by ','
 *   delete:K       → errno
 *   incr:K         lock K (lease 5 s), read a decimal counter, +1, write it, unlock → the new value
 *   holdlock:K:MS  lock K with a lease of MS ms, sleep 2×MS, unlock → the unlock errno (7: lease expired)
 *   lwrite:K:V     local tier: write(0, V), push → "ok"
 *   lread:K        local tier: pull (an error: its errno), read(0, 64) → the bytes
 */
import {
  NOENT,
  OK,
  fail,
  input,
  output,
  outputString,
  sleep,
  stateAppend,
  stateCompareAndSet,
  stateDelete,
  stateErrno,
  stateGet,
  stateGetRange,
  stateLock,
  statePull,
  statePush,
  stateRead,
  stateReadAppended,
  stateSet,
  stateSetRange,
  stateUnlock,
  stateVersion,
  stateWrite,
} from '../../sdk/assemblyscript/index.ts';

/** Up to 4 fields split at the first 3 ':' (the last one keeps any further ':'); missing fields are empty. */
function split(data: Uint8Array): Uint8Array[] {
  const fields = new Array<Uint8Array>();
  for (let i = 0; i < 4; i++) fields.push(new Uint8Array(0));
  let f = 0;
  let start = 0;
  for (let i = 0; i <= data.length && f < 4; i++) {
    if (i == data.length || (data[i] == 0x3a && f < 3)) {
      fields[f++] = data.subarray(start, i);
      start = i + 1;
    }
  }
  return fields;
}

function str(bytes: Uint8Array): string {
  return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length);
}

/** Decimal digits, unchecked, as state.c reads them (its input bytes are signed chars). */
function num(bytes: Uint8Array): u64 {
  let v: u64 = 0;
  for (let i = 0; i < bytes.length; i++) v = v * 10 + <u64>(<i32>(<i8>bytes[i]) - 0x30);
  return v;
}

export function run(): i32 {
  const fields = split(input());
  const op = str(fields[0]);
  const key = str(fields[1]);
  if (op == 'set') {
    const version = stateSet(key, fields[2]);
    if (stateErrno() != OK) return fail('set failed');
    outputString('v=' + version.toString());
    return 0;
  }
  if (op == 'get') {
    const value = stateGet(key);
    if (value === null) {
      if (stateErrno() != NOENT) {
        outputString(stateErrno().toString());
        return 1;
      }
      outputString('noent');
      return 0;
    }
    output(value);
    return 0;
  }
  if (op == 'range') {
    const bytes = stateGetRange(key, <u32>num(fields[2]), 4);
    if (bytes === null) return fail('range failed');
    output(bytes);
    return 0;
  }
  if (op == 'setrange') {
    stateSetRange(key, <u32>num(fields[2]), fields[3]);
    if (stateErrno() != OK) return fail('setrange failed');
    outputString('ok');
    return 0;
  }
  if (op == 'cas') {
    outputString(stateCompareAndSet(key, num(fields[2]), fields[3]) ? 'ok:' : 'conflict:');
    outputString(stateVersion().toString());
    return 0;
  }
  if (op == 'append') {
    const count = stateAppend(key, fields[2]);
    if (stateErrno() != OK) return fail('append failed');
    outputString(count.toString());
    return 0;
  }
  if (op == 'appended') {
    const entries = stateReadAppended(key, 0);
    if (stateErrno() != OK) return fail('read_appended failed');
    for (let i = 0; i < entries.length; i++) {
      if (i) outputString(',');
      output(entries[i]);
    }
    return 0;
  }
  if (op == 'delete') {
    stateDelete(key);
    outputString(stateErrno().toString());
    return 0;
  }
  if (op == 'incr') {
    const lock = stateLock(key, 5000, 10000);
    if (lock == 0) return fail('lock failed');
    let v: u64 = 0;
    const value = stateGet(key);
    if (value !== null) for (let i = 0; i < value.length; i++) v = v * 10 + <u64>(<i32>value[i] - 0x30);
    const text = (v + 1).toString();
    stateSet(key, Uint8Array.wrap(String.UTF8.encode(text, false)));
    if (stateUnlock(lock) != OK) return fail('unlock failed');
    outputString(text);
    return 0;
  }
  if (op == 'holdlock') {
    const ms = <u32>num(fields[2]);
    const lock = stateLock(key, ms, 10000);
    if (lock == 0) return fail('lock failed');
    sleep(2 * ms);
    outputString(stateUnlock(lock).toString());
    return 0;
  }
  if (op == 'lwrite') {
    if (stateWrite(key, 0, fields[2]) != OK) return fail('write failed');
    if (statePush(key) != OK) return fail('push failed');
    outputString('ok');
    return 0;
  }
  if (op == 'lread') {
    const e = statePull(key);
    if (e != OK) {
      outputString(e.toString());
      return 0;
    }
    const bytes = stateRead(key, 0, 64);
    if (bytes === null) return fail('read failed');
    output(bytes);
    return 0;
  }
  return fail('unknown op');
}
