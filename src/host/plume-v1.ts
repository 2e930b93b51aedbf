/** The `plume_v1` import module (docs/abi.md): input, output, log, clock, random, sleep, fail. */
import { randomFillSync } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Errno } from './errno.ts';
import { GuestMemory } from './guest-memory.ts';
import type { HostInterface, InstanceHandle, LogLevel } from './interface.ts';

const SUSPENDING = new Set(['sleep']);
const NAMES = new Set(['input_size', 'input_read', 'output_write', 'log', 'clock_now', 'random_fill', 'sleep', 'fail']);
const decoder = new TextDecoder();
// Monotonic nanoseconds relative to process start; realtime is derived from the time origin so both
// clocks come from one source.
const originNs = BigInt(Math.round(performance.timeOrigin * 1e6));
/** Sleep is bounded so a guest cannot park an invocation past any sane timeout by accident. */
const MAX_SLEEP_MS = 24 * 3600 * 1000;

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
        const input = instance.call.input;
        const n = Math.min(max, Math.max(0, input.length - off));
        if (n > 0) mem.u8.set(input.subarray(off, off + n), ptr);
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
        call.output.push(mem.u8.slice(ptr, ptr + n));
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
    };
  },
};
