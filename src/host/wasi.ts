/**
 * WASI preview1, served by node:wasi. Each import is wrapped in a plain JS closure: instantiating against
 * node:wasi's raw import object costs ~1 ms and crashed Node 20 after a few thousand instances, while
 * closures cost ~25 µs and never crashed (ARCHITECTURE's facts table). stdin, stdout and stderr never reach
 * node:wasi: a command reads its input on stdin and writes its output on stdout; everything else goes to the
 * function's log. Nothing on the host filesystem is visible unless the function was granted `dirs`.
 */
import { WASI } from 'node:wasi';
import { Payload } from '../data/payload.ts';
import { GuestMemory } from './guest-memory.ts';
import { GuestExit, type HostInterface, type ImportFunction, type InstanceHandle } from '../engine/host-interface.ts';

type RawImports = Record<string, ImportFunction>;

const NAMES = new Set(Object.keys(new WASI({ version: 'preview1' }).wasiImport));
// WASI's own errno values (not Plume's): success, EBADF, EFAULT, EFBIG.
const WASI_OK = 0;
const WASI_EFAULT = 21;
const WASI_EFBIG = 22;

const decoder = new TextDecoder();
const attached = new WeakMap<InstanceHandle, WASI>();

export const wasiPreview1: HostInterface = {
  module: 'wasi_snapshot_preview1',
  provides: (name) => NAMES.has(name),
  suspends: () => false,
  bind(instance: InstanceHandle) {
    const { config } = instance;
    const wasi = new WASI({
      version: 'preview1',
      args: [config.name, ...config.args],
      env: { ...config.env },
      preopens: { ...config.dirs },
      returnOnExit: true,
    });
    attached.set(instance, wasi);
    const raw = wasi.wasiImport as RawImports;
    const imports: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(raw)) imports[name] = (...args: never[]) => fn.apply(raw, args);
    const mem = new GuestMemory(instance.memory);
    const stdio = new StdioState();

    imports.fd_read = (fd: number, iovs: number, iovsLen: number, outPtr: number): number => {
      if (fd !== 0) return raw.fd_read!(fd as never, iovs as never, iovsLen as never, outPtr as never) as number;
      const input = instance.kind === 'command' ? instance.call.input : Payload.empty;
      let pos = stdio.stdinPosition(instance.call);
      let total = 0;
      if (!mem.inBounds(iovs >>> 0, (iovsLen >>> 0) * 8) || !mem.inBounds(outPtr >>> 0, 4)) return WASI_EFAULT;
      for (let i = 0; i < iovsLen >>> 0 && pos < input.length; i++) {
        const ptr = mem.view.getUint32((iovs >>> 0) + i * 8, true);
        const len = mem.view.getUint32((iovs >>> 0) + i * 8 + 4, true);
        if (!mem.inBounds(ptr, len)) return WASI_EFAULT;
        const n = input.read(pos, mem.u8, ptr, len);
        pos += n;
        total += n;
      }
      stdio.stdin = pos;
      instance.call.inputCopied += total;
      mem.view.setUint32(outPtr >>> 0, total, true);
      return WASI_OK;
    };

    imports.fd_write = (fd: number, iovs: number, iovsLen: number, outPtr: number): number => {
      if (fd !== 1 && fd !== 2) return raw.fd_write!(fd as never, iovs as never, iovsLen as never, outPtr as never) as number;
      if (!mem.inBounds(iovs >>> 0, (iovsLen >>> 0) * 8) || !mem.inBounds(outPtr >>> 0, 4)) return WASI_EFAULT;
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const ptr = mem.view.getUint32((iovs >>> 0) + i * 8, true);
        const len = mem.view.getUint32((iovs >>> 0) + i * 8 + 4, true);
        if (!mem.inBounds(ptr, len)) return WASI_EFAULT;
        chunks.push(mem.u8.slice(ptr, ptr + len));
        total += len;
      }
      const call = instance.call;
      if (fd === 1 && instance.kind === 'command') {
        if (call.outputBytes + total > call.maxOutputBytes) {
          call.overflowed = true;
          return WASI_EFBIG;
        }
        call.output.push(...chunks);
        call.outputBytes += total;
      } else {
        const text = chunks.map((c) => decoder.decode(c)).join('');
        for (const line of text.replace(/\n$/, '').split('\n')) instance.log(fd === 2 ? 2 : 1, line);
      }
      mem.view.setUint32(outPtr >>> 0, total, true);
      return WASI_OK;
    };

    imports.proc_exit = (code: number): never => {
      throw new GuestExit(code >>> 0);
    };
    return imports;
  },
  attach(instance: InstanceHandle) {
    // node:wasi needs the memory; the instance's own _start/_initialize are run by the engine, not here.
    attached.get(instance)?.initialize({ exports: { memory: instance.memory } });
  },
};

/** Where stdin stands for the current invocation: it restarts at 0 when a new call begins. */
class StdioState {
  #call: object | undefined;
  stdin = 0;
  stdinPosition(call: object): number {
    if (call !== this.#call) {
      this.#call = call;
      this.stdin = 0;
    }
    return this.stdin;
  }
}
