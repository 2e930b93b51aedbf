/** The `plume_v1` import module (docs/abi.md): input, output, log, clock, random, sleep, fail, refuse_input. */
import { randomFillSync } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Payload, appendOutput } from '../data/payload.ts';
import { Errno } from './errno.ts';
import { STATE_IMPORTS, stateImports } from './state-imports.ts';
import { GuestMemory } from './guest-memory.ts';
import {
  FutureTable,
  type CallState,
  type Future,
  type HostInterface,
  type InstanceHandle,
  type LogLevel,
} from '../engine/host-interface.ts';

const SUSPENDING = new Set<string>(['sleep', 'await', ...STATE_IMPORTS]);
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const futuresOf = (call: CallState): FutureTable => (call.futures ??= new FutureTable());
// Monotonic nanoseconds relative to process start; realtime is derived from the time origin so both
// clocks come from one source.
const originNs = BigInt(Math.round(performance.timeOrigin * 1e6));
/** Sleep is bounded so a guest cannot park an invocation past any sane timeout by accident. */
const MAX_SLEEP_MS = 24 * 3600 * 1000;
/**
 * `refuse_input`'s reasons (docs/abi.md): a failure that is the caller's, not the function's, so the
 * gateway answers 400 or 413 instead of 500.
 */
const REFUSALS: readonly ('PLUME_EINPUT' | 'PLUME_ETOOBIG')[] = ['PLUME_EINPUT', 'PLUME_ETOOBIG'];

export const plumeV1: HostInterface = {
  module: 'plume_v1',
  provides: (name) => NAMES.has(name),
  suspends: (name) => SUSPENDING.has(name),
  bind(instance: InstanceHandle) {
    const mem = new GuestMemory(instance.memory);
    return {
      input_size(outPtr: number): number {
        const out = outPtr >>> 0;
        if (!mem.inBounds(out, 4)) return Errno.inval;
        mem.view.setUint32(out, instance.call.input.length, true);
        return Errno.ok;
      },
      input_read(offset: number, buf: number, len: number, outPtr: number): number {
        const [off, ptr, max, out] = [offset >>> 0, buf >>> 0, len >>> 0, outPtr >>> 0];
        if (!mem.inBounds(ptr, max) || !mem.inBounds(out, 4)) return Errno.inval;
        const n = instance.call.input.read(off, mem.u8, ptr, max, mem.shared);
        instance.call.inputCopied += n;
        mem.view.setUint32(out, n, true);
        return Errno.ok;
      },
      output_write(buf: number, len: number): number {
        const [ptr, n] = [buf >>> 0, len >>> 0];
        if (!mem.inBounds(ptr, n)) return Errno.inval;
        const call = instance.call;
        if (call.outputBytes + n > call.maxOutputBytes) {
          call.overflowed = true;
          return Errno.too_big;
        }
        appendOutput(call.output, call.outputBytes, mem.u8, ptr, ptr + n, mem.shared);
        call.outputBytes += n;
        return Errno.ok;
      },
      log(level: number, buf: number, len: number): number {
        const [ptr, n] = [buf >>> 0, len >>> 0];
        if (level < 0 || level > 3 || !mem.inBounds(ptr, n)) return Errno.inval;
        instance.log(level as LogLevel, decoder.decode(mem.u8.subarray(ptr, ptr + n)));
        return Errno.ok;
      },
      clock_now(clock: number, outPtr: number): number {
        const out = outPtr >>> 0;
        if (!mem.inBounds(out, 8)) return Errno.inval;
        const mono = process.hrtime.bigint();
        if (clock === 0) mem.view.setBigUint64(out, originNs + BigInt(Math.round(performance.now() * 1e6)), true);
        else if (clock === 1) mem.view.setBigUint64(out, mono, true);
        else return Errno.inval;
        return Errno.ok;
      },
      random_fill(buf: number, len: number): number {
        const [ptr, n] = [buf >>> 0, len >>> 0];
        if (!mem.inBounds(ptr, n)) return Errno.inval;
        // randomFillSync refuses views over a SharedArrayBuffer-backed memory; fill a private copy then.
        const target = mem.u8.subarray(ptr, ptr + n);
        if (target.buffer instanceof ArrayBuffer) randomFillSync(target);
        else target.set(randomFillSync(new Uint8Array(n)));
        return Errno.ok;
      },
      sleep: new WebAssembly.Suspending(async (ms: number): Promise<number> => {
        await delay(Math.min(ms >>> 0, MAX_SLEEP_MS));
        return Errno.ok;
      }),
      fail(buf: number, len: number): number {
        const [ptr, n] = [buf >>> 0, len >>> 0];
        if (!mem.inBounds(ptr, n)) return Errno.inval;
        instance.call.failMessage = decoder.decode(mem.u8.subarray(ptr, ptr + n));
        return Errno.ok;
      },
      refuse_input(reason: number, buf: number, len: number): number {
        const [ptr, n] = [buf >>> 0, len >>> 0];
        const code = REFUSALS[reason >>> 0];
        if (code === undefined || !mem.inBounds(ptr, n)) return Errno.inval;
        instance.call.failMessage = decoder.decode(mem.u8.subarray(ptr, ptr + n));
        instance.call.failCode = code;
        return Errno.ok;
      },
      ...chainedCalls(instance, mem),
      ...stateImports(instance, mem),
    };
  },
};

/** `call`, `call_future`, `call_many`, `await`, `future_read`, `future_error`, `cancel` (docs/abi.md). */
function chainedCalls(instance: InstanceHandle, mem: GuestMemory): Record<string, unknown> {
  /** Resolves the callee name, or answers the errno the guest gets instead (`too_big` past its input limit). */
  const callee = (namePtr: number, nameLen: number, inputBytes = 0): string | number => {
    const [ptr, n] = [namePtr >>> 0, nameLen >>> 0];
    if (!mem.inBounds(ptr, n)) return Errno.inval;
    if (!instance.calls) return Errno.notsup;
    const name = decoder.decode(mem.u8.subarray(ptr, ptr + n));
    const limit = instance.calls.inputLimit(instance, name);
    if (limit === undefined) return Errno.noent;
    return inputBytes > limit ? Errno.too_big : name;
  };
  const start = (name: string, input: Payload | Promise<Payload>): number =>
    futuresOf(instance.call).add(instance.calls!.start(instance, name, input));
  /**
   * `await`'s answer for a settled (or cancelled) future; the output's length goes to `outPtr`, which
   * `await` checked (a memory never shrinks, so it stays in bounds while the guest waits).
   */
  const awaited = (future: Future, outPtr: number): number => {
    if (future.canceled) return Errno.canceled;
    if (future.error) return future.error.code === 'PLUME_ETIMEOUT' ? Errno.timeout : Errno.failed;
    mem.view.setUint32(outPtr >>> 0, future.output!.length, true);
    return Errno.ok;
  };

  return {
    call(namePtr: number, nameLen: number, inPtr: number, inLen: number, outPtr: number): number {
      const name = callee(namePtr, nameLen, inLen >>> 0);
      const [ptr, n, out] = [inPtr >>> 0, inLen >>> 0, outPtr >>> 0];
      if (typeof name === 'number') return name;
      if (!mem.inBounds(ptr, n) || !mem.inBounds(out, 4)) return Errno.inval;
      mem.view.setUint32(out, start(name, Payload.of(mem.u8.slice(ptr, ptr + n))), true);
      return Errno.ok;
    },
    call_future(namePtr: number, nameLen: number, handle: number, outPtr: number): number {
      const name = callee(namePtr, nameLen);
      if (typeof name === 'number') return name;
      const input = instance.call.futures?.get(handle >>> 0);
      if (!input) return Errno.badf;
      if (input.canceled) return Errno.canceled;
      if (!mem.inBounds(outPtr >>> 0, 4)) return Errno.inval;
      // The input future's output becomes the callee's input by reference, whenever it settles. The callee
      // gets a reference of its own now (or in the microtask the output settles, before the guest can run),
      // so the caller may cancel its future right after.
      const handed = input.output ? Promise.resolve(input.output.retain()) : input.promise.then((output) => output.retain());
      mem.view.setUint32(outPtr >>> 0, start(name, handed), true);
      return Errno.ok;
    },
    call_many(namePtr: number, nameLen: number, inputsPtr: number, count: number, outPtr: number): number {
      const [inputs, n, out] = [inputsPtr >>> 0, count >>> 0, outPtr >>> 0];
      if (!mem.inBounds(inputs, n * 8) || !mem.inBounds(out, n * 4)) return Errno.inval;
      // Check every range and the largest size before copying anything, so a refused fan-out costs nothing.
      const ranges: [number, number][] = [];
      let largest = 0;
      for (let i = 0; i < n; i++) {
        const ptr = mem.view.getUint32(inputs + i * 8, true);
        const len = mem.view.getUint32(inputs + i * 8 + 4, true);
        if (!mem.inBounds(ptr, len)) return Errno.inval;
        ranges.push([ptr, len]);
        largest = Math.max(largest, len);
      }
      const name = callee(namePtr, nameLen, largest);
      if (typeof name === 'number') return name;
      ranges.forEach(([ptr, len], i) => mem.view.setUint32(out + i * 4, start(name, Payload.of(mem.u8.slice(ptr, ptr + len))), true));
      return Errno.ok;
    },
    // A settled future answers without suspending the guest (a Suspending import that returns a value
    // does not suspend); a pending one costs one promise and one closure, and a timer only with a timeout.
    await: new WebAssembly.Suspending((handle: number, timeoutMs: number, outPtr: number): number | Promise<number> => {
      const future = instance.call.futures?.get(handle >>> 0);
      if (!future) return Errno.badf;
      if (!mem.inBounds(outPtr >>> 0, 4)) return Errno.inval;
      if (future.canceled || future.output !== undefined || future.error !== undefined) return awaited(future, outPtr);
      // The table's own reaction (registered first) has recorded the outcome by the time this one runs.
      const settled = future.promise.then(
        () => awaited(future, outPtr),
        () => awaited(future, outPtr),
      );
      const limit = timeoutMs >>> 0;
      if (limit === 0) return settled;
      return new Promise<number>((resolve) => {
        const timer = setTimeout(() => resolve(Errno.timeout), limit);
        void settled.then((errno) => {
          clearTimeout(timer);
          resolve(errno);
        });
      });
    }),
    future_read(handle: number, offset: number, buf: number, len: number, outPtr: number): number {
      const future = instance.call.futures?.get(handle >>> 0);
      if (!future) return Errno.badf;
      const output = future.output;
      const [off, ptr, max, out] = [offset >>> 0, buf >>> 0, len >>> 0, outPtr >>> 0];
      if (!output || future.canceled || !mem.inBounds(ptr, max) || !mem.inBounds(out, 4)) return Errno.inval;
      mem.view.setUint32(out, output.read(off, mem.u8, ptr, max, mem.shared), true);
      return Errno.ok;
    },
    future_error(handle: number, buf: number, len: number, outPtr: number): number {
      const future = instance.call.futures?.get(handle >>> 0);
      if (!future) return Errno.badf;
      const [ptr, max, out] = [buf >>> 0, len >>> 0, outPtr >>> 0];
      if (!future.error || !mem.inBounds(ptr, max) || !mem.inBounds(out, 4)) return Errno.inval;
      const message = encoder.encode(future.error.message);
      mem.u8.set(message.subarray(0, max), ptr);
      mem.view.setUint32(out, message.length, true);
      return Errno.ok;
    },
    cancel(handle: number): number {
      return instance.call.futures?.cancel(handle >>> 0) ? Errno.ok : Errno.badf;
    },
  };
}

/** The import names are those `bind` returns: one list, so deploy validation cannot drift from it. */
const NAMES: ReadonlySet<string> = new Set(
  Object.keys(plumeV1.bind({ memory: new WebAssembly.Memory({ initial: 0 }) } as unknown as InstanceHandle)),
);
