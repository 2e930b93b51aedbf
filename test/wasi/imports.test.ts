/**
 * Every wasi_snapshot_preview1 import group, normal and error path, called the way a guest calls them:
 * through the plugin's bound imports over a real WebAssembly.Memory, with a real preopened directory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Payload } from '../../src/data/payload.ts';
import { newCall } from '../../src/engine/instance.ts';
import { GuestExit, type InstanceHandle, type LogLevel } from '../../src/engine/host-interface.ts';
import { WASI_FUNCTIONS, wasiPreview1 } from '../../src/host/wasi/index.ts';

const wabt = await (await import('wabt')).default();
const pollModule = new WebAssembly.Module(
  wabt
    .parseWat(
      'poll.wat',
      `(module (import "wasi_snapshot_preview1" "poll_oneoff" (func $p (param i32 i32 i32 i32) (result i32)))
         (import "env" "memory" (memory 2))
         (func (export "poll") (param i32 i32 i32 i32) (result i32)
           local.get 0 local.get 1 local.get 2 local.get 3 call $p))`,
    )
    .toBinary({}).buffer as Uint8Array<ArrayBuffer>,
);
const readerModule = new WebAssembly.Module(
  wabt
    .parseWat(
      'reader.wat',
      `(module (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
         (func (export "read") (param i32 i32 i32 i32) (result i32) (call $r (local.get 0) (local.get 1) (local.get 2) (local.get 3))))`,
    )
    .toBinary({}).buffer as Uint8Array<ArrayBuffer>,
);

const E = {
  OK: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  NAMETOOLONG: 37,
  NOENT: 44,
  LOOP: 32,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSOCK: 57,
  SPIPE: 70,
  NOTCAPABLE: 76,
};
const FD_READ = 1n << 1n;
const FD_WRITE = 1n << 6n;
const FD_READDIR = 1n << 14n;
const ALL = (1n << 30n) - 1n;
type Fn = (...args: (number | bigint)[]) => number;

/** One bound instance: its imports, its memory, the log lines it wrote, and a bump allocator. */
function guest(dir: string, input = '', stateful = false, kind: 'command' | 'reactor' = 'command') {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const logs: string[] = [];
  const handle = {
    memory,
    config: { name: 'g', env: { A: '1', B: 'two' }, args: ['x', 'yz'], dirs: { '/sandbox': dir } },
    kind,
    stateful,
    call: newCall(new Payload([new TextEncoder().encode(input)]), 1 << 20),
    calls: undefined,
    state: undefined,
    log: (_level: LogLevel, message: string) => logs.push(message),
  } satisfies InstanceHandle;
  const raw = wasiPreview1.bind(handle) as Record<string, unknown>;
  // fd_read is a JSPI import (it may suspend on a pipe): called through a one-call guest, as a module does.
  const reader = new WebAssembly.Instance(readerModule, { wasi_snapshot_preview1: { fd_read: raw.fd_read as WebAssembly.ImportValue } });
  const fdRead = WebAssembly.promising(reader.exports.read as Fn) as unknown as (...args: number[]) => Promise<number>;
  const imports = new Proxy(raw, { get: (t, name: string) => t[name] as Fn }) as unknown as Record<string, Fn>;
  const view = () => new DataView(memory.buffer);
  const u8 = () => new Uint8Array(memory.buffer);
  let top = 1024;
  const alloc = (n: number): number => {
    const at = top;
    top = (top + n + 7) & ~7;
    return at;
  };
  const str = (s: string): [number, number] => {
    const b = new TextEncoder().encode(s);
    const p = alloc(b.length);
    u8().set(b, p);
    return [p, b.length];
  };
  const iov = (p: number, n: number): number => {
    const v = alloc(8);
    view().setUint32(v, p, true);
    view().setUint32(v + 4, n, true);
    return v;
  };
  const open = (path: string, oflags = 0, base = ALL, fdflags = 0): number => {
    const out = alloc(4);
    const errno = imports.path_open!(3, 0, ...str(path), oflags, base, ALL, fdflags, out);
    assert.equal(errno, E.OK, `path_open ${path}`);
    return view().getUint32(out, true);
  };
  const write = (fd: number, s: string): number => {
    const out = alloc(4);
    const errno = imports.fd_write!(fd, iov(...str(s)), 1, out);
    return errno === E.OK ? view().getUint32(out, true) : -errno;
  };
  const read = async (fd: number, n: number): Promise<string | number> => {
    const buf = alloc(n);
    const out = alloc(4);
    const errno = await fdRead(fd, iov(buf, n), 1, out);
    return errno === E.OK ? new TextDecoder().decode(u8().subarray(buf, buf + view().getUint32(out, true))) : -errno;
  };
  return { imports, handle, logs, view, u8, alloc, str, iov, open, write, read };
}

/**
 * poll_oneoff called as a real module calls it: through a two-line guest under JSPI (WebAssembly.promising),
 * with room for three subscriptions and their events in `g`'s memory.
 */
function poller(g: ReturnType<typeof guest>) {
  const instance = new WebAssembly.Instance(pollModule, {
    wasi_snapshot_preview1: { poll_oneoff: g.imports.poll_oneoff },
    env: { memory: g.handle.memory },
  });
  const call = WebAssembly.promising(instance.exports.poll as (...args: number[]) => number) as (...args: number[]) => Promise<number>;
  const subs = g.alloc(48 * 3);
  const events = g.alloc(32 * 3);
  const nevents = g.alloc(4);
  return {
    poll: (n: number) => call(subs, events, n, nevents),
    count: () => g.view().getUint32(nevents, true),
    sub: (i: number, userdata: bigint, type: number, fdOrClock: number, timeoutNs = 0n) => {
      g.view().setBigUint64(subs + i * 48, userdata, true);
      g.view().setUint8(subs + i * 48 + 8, type);
      g.view().setUint32(subs + i * 48 + 16, fdOrClock, true);
      g.view().setBigUint64(subs + i * 48 + 24, timeoutNs, true);
    },
    event: (i: number) => ({
      userdata: g.view().getBigUint64(events + i * 32, true),
      error: g.view().getUint16(events + i * 32 + 8, true),
      type: g.view().getUint8(events + i * 32 + 10),
      nbytes: g.view().getBigUint64(events + i * 32 + 16, true),
    }),
  };
}

describe('wasi_snapshot_preview1 imports', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'plume-wasi-imports-'));
  });

  it('should offer every preview1 function and nothing else', () => {
    const g = guest(dir);
    assert.equal(WASI_FUNCTIONS.size, 46);
    for (const name of WASI_FUNCTIONS)
      assert.equal(typeof g.imports[name], name === 'poll_oneoff' || name === 'fd_read' ? 'object' : 'function', name);
    assert.equal(wasiPreview1.provides('path_open'), true);
    assert.equal(wasiPreview1.provides('fd_dup'), false);
  });

  it('should give args and environ with their sizes, and EFAULT outside memory', () => {
    const g = guest(dir);
    const [count, size] = [g.alloc(4), g.alloc(4)];
    assert.equal(g.imports.args_sizes_get!(count, size), E.OK);
    assert.deepEqual([g.view().getUint32(count, true), g.view().getUint32(size, true)], [3, 'g\0x\0yz\0'.length]);
    const [ptrs, buf] = [g.alloc(12), g.alloc(16)];
    assert.equal(g.imports.args_get!(ptrs, buf), E.OK);
    assert.equal(new TextDecoder().decode(g.u8().subarray(buf, buf + 7)), 'g\0x\0yz\0');
    assert.equal(g.view().getUint32(ptrs + 8, true), buf + 4);
    assert.equal(g.imports.environ_sizes_get!(count, size), E.OK);
    assert.deepEqual([g.view().getUint32(count, true), g.view().getUint32(size, true)], [2, 'A=1\0B=two\0'.length]);
    assert.equal(g.imports.environ_get!(ptrs, buf), E.OK);
    assert.equal(new TextDecoder().decode(g.u8().subarray(buf, buf + 10)), 'A=1\0B=two\0');
    assert.equal(g.imports.args_sizes_get!(2 * 65536 - 2, size), E.FAULT);
    assert.equal(g.imports.environ_get!(-8, buf), E.FAULT);
  });

  it('should read every clock, and refuse an unknown one', () => {
    const g = guest(dir);
    const out = g.alloc(8);
    for (const id of [0, 1, 2, 3]) {
      assert.equal(g.imports.clock_res_get!(id, out), E.OK);
      assert.ok(g.view().getBigUint64(out, true) > 0n);
      assert.equal(g.imports.clock_time_get!(id, 1n, out), E.OK);
    }
    assert.equal(g.imports.clock_time_get!(0, 1n, out), E.OK);
    const realtimeMs = Number(g.view().getBigUint64(out, true) / 1_000_000n);
    assert.ok(Math.abs(realtimeMs - Date.now()) < 1000);
    assert.equal(g.imports.clock_time_get!(1, 1n, out), E.OK);
    const t0 = g.view().getBigUint64(out, true);
    assert.equal(g.imports.clock_time_get!(1, 1n, out), E.OK);
    assert.ok(g.view().getBigUint64(out, true) >= t0);
    assert.equal(g.imports.clock_time_get!(7, 1n, out), E.INVAL);
    assert.equal(g.imports.clock_res_get!(7, out), E.INVAL);
  });

  it('should fill random bytes, accept zero length and refuse a buffer past memory', () => {
    const g = guest(dir);
    const p = g.alloc(256);
    assert.equal(g.imports.random_get!(p, 256), E.OK);
    assert.ok(
      g
        .u8()
        .subarray(p, p + 256)
        .some((b) => b !== 0),
    );
    assert.equal(g.imports.random_get!(p, 0), E.OK);
    assert.equal(g.imports.random_get!(2 * 65536 - 10, 11), E.FAULT);
  });

  it('should serve stdin from the call input, stdout to the output and stderr to the log', async () => {
    const g = guest(dir, 'hello world');
    assert.equal(await g.read(0, 5), 'hello');
    assert.equal(await g.read(0, 100), ' world');
    assert.equal(await g.read(0, 100), '');
    assert.equal(g.write(1, 'out'), 3);
    assert.equal(g.write(2, 'to the '), 7);
    assert.equal(g.write(2, 'log\nnext'), 8);
    assert.deepEqual(
      g.handle.call.output.map((c) => new TextDecoder().decode(c)),
      ['out'],
    );
    assert.deepEqual(g.logs, ['to the log']);
    wasiPreview1.end!(g.handle);
    assert.deepEqual(g.logs, ['to the log', 'next']);
    assert.equal(g.write(0, 'x'), -E.NOTCAPABLE);
    assert.equal(await g.read(1, 1), -E.NOTCAPABLE);
    assert.equal(g.write(9, 'x'), -E.BADF);
    assert.equal(g.imports.fd_seek!(1, 0n, 0, g.alloc(8)), E.SPIPE);
    assert.equal(g.imports.fd_write!(1, 2 * 65536 - 4, 1, g.alloc(4)), E.FAULT);
    assert.equal(g.imports.fd_write!(1, g.iov(2 * 65536 - 2, 8), 1, g.alloc(4)), E.FAULT);
  });

  it('should read, write, seek and tell a file, with positioned I/O and append', async () => {
    const g = guest(dir);
    const fd = g.open('rw.txt', 1 | 8);
    assert.equal(g.write(fd, 'abcdef'), 6);
    const pos = g.alloc(8);
    assert.equal(g.imports.fd_seek!(fd, -4n, 1, pos), E.OK);
    assert.equal(g.view().getBigUint64(pos, true), 2n);
    assert.equal(await g.read(fd, 2), 'cd');
    assert.equal(g.imports.fd_tell!(fd, pos), E.OK);
    assert.equal(g.view().getBigUint64(pos, true), 4n);
    assert.equal(g.imports.fd_seek!(fd, -1n, 2, pos), E.OK);
    assert.equal(g.view().getBigUint64(pos, true), 5n);
    assert.equal(g.imports.fd_seek!(fd, -10n, 0, pos), E.INVAL);
    assert.equal(g.imports.fd_seek!(fd, 0n, 3, pos), E.INVAL);
    const [p, n] = g.str('XY');
    assert.equal(g.imports.fd_pwrite!(fd, g.iov(p, n), 1, 1n, g.alloc(4)), E.OK);
    const buf = g.alloc(6);
    assert.equal(g.imports.fd_pread!(fd, g.iov(buf, 6), 1, 0n, pos), E.OK);
    assert.equal(new TextDecoder().decode(g.u8().subarray(buf, buf + 6)), 'aXYdef');
    assert.equal(g.imports.fd_pread!(fd, g.iov(buf, 6), 1, -1n, pos), E.INVAL);
    assert.equal(g.imports.fd_fdstat_set_flags!(fd, 1), E.OK);
    assert.equal(g.imports.fd_seek!(fd, 0n, 0, pos), E.OK);
    assert.equal(g.write(fd, '!'), 1);
    assert.equal(readFileSync(join(dir, 'rw.txt'), 'utf8'), 'aXYdef!');
    assert.equal(g.imports.fd_fdstat_set_flags!(fd, 16), 58);
    assert.equal(g.imports.fd_close!(fd), E.OK);
    assert.equal(g.imports.fd_close!(fd), E.BADF);
  });

  it('should report and set file attributes: fdstat, rights, filestat, size, times, advise, allocate, sync', async () => {
    const g = guest(dir);
    const fd = g.open('attrs.txt', 1 | 8);
    const st = g.alloc(64);
    assert.equal(g.imports.fd_fdstat_get!(fd, st), E.OK);
    assert.equal(g.view().getUint8(st), 4);
    assert.equal(g.imports.fd_fdstat_get!(3, st), E.OK);
    assert.equal(g.view().getUint8(st), 3);
    assert.equal(g.imports.fd_filestat_set_size!(fd, 10n), E.OK);
    assert.equal(g.imports.fd_filestat_get!(fd, st), E.OK);
    assert.equal(g.view().getBigUint64(st + 32, true), 10n);
    assert.equal(g.imports.fd_allocate!(fd, 0n, 20n), E.OK);
    assert.equal(statSync(join(dir, 'attrs.txt')).size, 20);
    assert.equal(g.imports.fd_allocate!(fd, 0n, 0n), E.INVAL);
    assert.equal(g.imports.fd_advise!(fd, 0n, 10n, 1), E.OK);
    assert.equal(g.imports.fd_advise!(fd, 0n, 10n, 9), E.INVAL);
    assert.equal(g.imports.fd_datasync!(fd), E.OK);
    assert.equal(g.imports.fd_sync!(fd), E.OK);
    assert.equal(g.imports.fd_filestat_set_times!(fd, 1_000_000_000_123_456_789n, 2_000_000_000_987_654_321n, 1 | 4), E.OK);
    assert.equal(g.imports.fd_filestat_get!(fd, st), E.OK);
    assert.deepEqual(
      [g.view().getBigUint64(st + 40, true), g.view().getBigUint64(st + 48, true)],
      [1_000_000_000_123_456_789n, 2_000_000_000_987_654_321n],
    );
    assert.equal(g.imports.fd_filestat_set_times!(fd, 0n, 0n, 1 | 2), E.INVAL);
    assert.equal(g.imports.fd_fdstat_get!(fd, st), E.OK);
    const base = g.view().getBigUint64(st + 8, true);
    assert.equal(g.imports.fd_fdstat_set_rights!(fd, base & ~FD_READ, 0n), E.OK);
    assert.equal(await g.read(fd, 1), -E.NOTCAPABLE);
    assert.equal(g.imports.fd_fdstat_set_rights!(fd, ALL, 0n), E.NOTCAPABLE);
    assert.equal(g.imports.fd_fdstat_set_rights!(fd, FD_WRITE, 0n), E.OK);
    assert.equal(g.imports.fd_filestat_set_size!(fd, 1n), E.NOTCAPABLE);
    assert.equal(g.imports.fd_filestat_get!(99, st), E.BADF);
  });

  it('should list a directory across calls with cookies, and refuse a file', () => {
    const g = guest(mkdtempSync(join(tmpdir(), 'plume-wasi-dir-')));
    const names = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    for (const n of names) g.imports.fd_close!(g.open(n, 1));
    const buf = g.alloc(40);
    const used = g.alloc(4);
    const seen: string[] = [];
    let cookie = 0n;
    for (;;) {
      assert.equal(g.imports.fd_readdir!(3, buf, 40, cookie, used), E.OK);
      const n = g.view().getUint32(used, true);
      if (n < 24) break;
      const len = g.view().getUint32(buf + 16, true);
      if (n < 24 + len) break;
      seen.push(new TextDecoder().decode(g.u8().subarray(buf + 24, buf + 24 + len)));
      cookie = g.view().getBigUint64(buf, true);
    }
    assert.deepEqual(seen.sort(), ['.', '..', ...names].sort());
    const file = g.open('a');
    assert.equal(g.imports.fd_readdir!(file, buf, 40, 0n, used), E.NOTDIR);
  });

  it('should list a host file name that is not UTF-8 as its bytes', () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-bytes-'));
    writeFileSync(Buffer.concat([Buffer.from(`${where}/`), Buffer.from([0xff, 0x61])]), '');
    const g = guest(where);
    const buf = g.alloc(256);
    const used = g.alloc(4);
    assert.equal(g.imports.fd_readdir!(3, buf, 256, 0n, used), E.OK);
    const names: number[][] = [];
    for (let at = 0; at + 24 <= g.view().getUint32(used, true);) {
      const len = g.view().getUint32(buf + at + 16, true);
      names.push([...g.u8().subarray(buf + at + 24, buf + at + 24 + len)]);
      at += 24 + len;
    }
    assert.deepEqual(names.sort(), [[0x2e], [0x2e, 0x2e], [0xff, 0x61]].sort());
  });

  it('should make fd_read a JSPI import only where a directory is granted (without one it never waits)', () => {
    const config = { name: 'g', env: {}, args: [], dirs: {} };
    assert.equal(wasiPreview1.suspends('fd_read', config), false);
    assert.equal(wasiPreview1.suspends('fd_read', { ...config, dirs: { '/sandbox': dir } }), true);
    assert.equal(wasiPreview1.suspends('poll_oneoff', config), true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const handle = {
      memory,
      config,
      kind: 'command',
      stateful: false,
      call: newCall(new Payload([new TextEncoder().encode('in')]), 1 << 20),
      calls: undefined,
      state: undefined,
      log: () => {},
    } satisfies InstanceHandle;
    const fdRead = wasiPreview1.bind(handle).fd_read as Fn;
    const view = new DataView(memory.buffer);
    view.setUint32(0, 64, true);
    view.setUint32(4, 8, true);
    assert.equal(fdRead(0, 0, 1, 16), E.OK);
    assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 64, view.getUint32(16, true))), 'in');
  });

  it('should give a reactor an empty stdin (its input comes through plume_v1), a command its input', async () => {
    assert.equal(await guest(dir, 'the input', false, 'reactor').read(0, 100), '');
    assert.equal(await guest(dir, 'the input', false, 'command').read(0, 100), 'the input');
  });

  it('should open and read a FIFO without holding the thread (end of file while no writer holds it, no offset)', async () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-fifo-'));
    execFileSync('mkfifo', [join(where, 'pipe')]);
    const g = guest(where);
    const fd = g.open('pipe', 0, FD_READ);
    assert.equal(await g.read(fd, 10), '');
    assert.equal(g.imports.fd_seek!(fd, 0n, 0, g.alloc(8)), E.SPIPE);
    assert.equal(g.imports.fd_close!(fd), E.OK);
  });

  it('should describe preopens and renumber and close descriptors', () => {
    const g = guest(dir);
    const pre = g.alloc(8);
    assert.equal(g.imports.fd_prestat_get!(3, pre), E.OK);
    assert.equal(g.view().getUint32(pre + 4, true), '/sandbox'.length);
    const name = g.alloc(16);
    assert.equal(g.imports.fd_prestat_dir_name!(3, name, 16), E.OK);
    assert.equal(new TextDecoder().decode(g.u8().subarray(name, name + 8)), '/sandbox');
    assert.equal(g.imports.fd_prestat_dir_name!(3, name, 3), E.NAMETOOLONG);
    assert.equal(g.imports.fd_prestat_get!(0, pre), E.BADF);
    assert.equal(g.imports.fd_prestat_get!(4, pre), E.BADF);
    const fd = g.open('renumbered.txt', 1);
    assert.equal(g.imports.fd_renumber!(fd, 1), E.OK);
    assert.equal(g.write(1, 'into the file'), 13);
    assert.equal(readFileSync(join(dir, 'renumbered.txt'), 'utf8'), 'into the file');
    assert.equal(g.write(fd, 'x'), -E.BADF);
    assert.equal(g.imports.fd_renumber!(1, 42), E.BADF);
  });

  it('should drop what a call opened when it ends, unless the function is stateful', () => {
    const g = guest(dir);
    const fd = g.open('ends.txt', 1);
    wasiPreview1.end!(g.handle);
    assert.equal(g.write(fd, 'x'), -E.BADF);
    const s = guest(dir, '', true);
    const kept = s.open('ends.txt');
    wasiPreview1.end!(s.handle);
    assert.equal(s.imports.fd_close!(kept), E.OK);
  });

  it('should poll descriptors at once, and sleep on a clock by suspending the guest', async () => {
    const g = guest(dir, 'abc');
    const { poll, sub, event, count } = poller(g);
    sub(0, 7n, 1, 0);
    sub(1, 8n, 2, 99);
    sub(2, 9n, 0, 1, 60_000_000_000n);
    assert.equal(await poll(3), E.OK);
    assert.equal(count(), 2);
    assert.deepEqual(
      [event(0), event(1)],
      [
        { userdata: 7n, error: 0, type: 1, nbytes: 3n },
        { userdata: 8n, error: E.BADF, type: 2, nbytes: 0n },
      ],
    );
    sub(0, 5n, 0, 1, 300_000_000n);
    const pending = poll(1);
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'a clock wait must not have run synchronously');
    assert.equal(await pending, E.OK);
    assert.deepEqual(event(0), { userdata: 5n, error: 0, type: 0, nbytes: 0n });
    sub(0, 6n, 0, 42, 1n);
    assert.equal(await poll(1), E.OK);
    assert.equal(event(0).error, E.INVAL);
    assert.equal(await poll(0), E.INVAL);
  });

  it('should poll a pipe as ready once bytes come, an empty one beside a clock waiting for either', async () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-poll-pipe-'));
    execFileSync('mkfifo', [join(where, 'pipe')]);
    const writer = openSync(join(where, 'pipe'), constants.O_RDWR | constants.O_NONBLOCK);
    const g = guest(where);
    const pipe = g.open('pipe', 0, FD_READ | (1n << 27n)); // fd_read, poll_fd_readwrite
    const { poll, sub, event, count } = poller(g);
    sub(0, 1n, 1, pipe);
    sub(1, 2n, 0, 1, 30_000_000n);
    assert.equal(await poll(2), E.OK);
    assert.deepEqual([count(), event(0)], [1, { userdata: 2n, error: 0, type: 0, nbytes: 0n }]);
    sub(1, 2n, 0, 1, 60_000_000_000n);
    const woken = poll(2);
    setTimeout(() => writeSync(writer, 'ping'), 20);
    assert.equal(await woken, E.OK);
    assert.deepEqual([count(), event(0)], [1, { userdata: 1n, error: 0, type: 1, nbytes: 4n }]);
    assert.equal(await g.read(pipe, 10), 'ping');
    closeSync(writer);
  });

  it('should exit by GuestExit, refuse signals, yield, and answer socket calls without sockets', () => {
    const g = guest(dir);
    assert.throws(
      () => g.imports.proc_exit!(3),
      (err: unknown) => err instanceof GuestExit && err.exitCode === 3,
    );
    assert.equal(g.imports.proc_raise!(9), E.NOSYS);
    assert.equal(g.imports.sched_yield!(), E.OK);
    assert.equal(g.imports.sock_shutdown!(1, 3), E.NOTSOCK);
    assert.equal(g.imports.sock_recv!(3, 0, 0, 0, 0, 0), E.NOTSOCK);
    assert.equal(g.imports.sock_send!(99, 0, 0, 0, 0), E.BADF);
    assert.equal(g.imports.sock_accept!(99, 0, 0), E.BADF);
  });

  it('should serve path calls on a directory descriptor only, and decode paths strictly', () => {
    const g = guest(dir);
    writeFileSync(join(dir, 'plain.txt'), 'p');
    const file = g.open('plain.txt');
    const [p, n] = g.str('x');
    assert.equal(g.imports.path_create_directory!(file, p, n), E.NOTDIR);
    assert.equal(g.imports.path_create_directory!(99, p, n), E.BADF);
    const bad = g.alloc(2);
    g.u8().set([0xff, 0xfe], bad);
    assert.equal(g.imports.path_create_directory!(3, bad, 2), 25);
    assert.equal(g.imports.path_create_directory!(3, p, 0), E.NOENT);
    assert.equal(g.imports.path_create_directory!(3, 2 * 65536 - 1, 4), E.FAULT);
  });

  it('should open nested paths and symlinks inside the preopen in one lookup, and refuse the same escapes', async () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-nested-'));
    mkdirSync(join(where, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(where, 'sub', 'deeper', 'f.txt'), 'deep');
    writeFileSync(join(tmpdir(), 'plume-wasi-outside.txt'), 'outside');
    symlinkSync('sub/deeper/f.txt', join(where, 'link'));
    symlinkSync('../sub', join(where, 'sub', 'up'));
    symlinkSync(tmpdir(), join(where, 'abs'));
    symlinkSync('../..', join(where, 'sub', 'climb'));
    const g = guest(where);
    const openAt = (path: string, follow: boolean): number => {
      const out = g.alloc(4);
      const errno = g.imports.path_open!(3, follow ? 1 : 0, ...g.str(path), 0, FD_READ, 0n, 0, out);
      return errno === E.OK ? g.view().getUint32(out, true) : -errno;
    };
    assert.equal(await g.read(openAt('sub/deeper/f.txt', false), 10), 'deep');
    assert.equal(await g.read(openAt('sub/up/deeper/../deeper/f.txt', false), 10), 'deep');
    assert.equal(await g.read(openAt('link', true), 10), 'deep');
    assert.equal(openAt('link', false), -E.LOOP);
    assert.equal(openAt('sub/../../plume-wasi-outside.txt', true), -E.NOTCAPABLE);
    assert.equal(openAt('abs/plume-wasi-outside.txt', true), -E.NOTCAPABLE);
    assert.equal(openAt('sub/climb/plume-wasi-outside.txt', true), -E.NOTCAPABLE);
    assert.equal(openAt('sub/deeper/missing', true), -E.NOENT);
    // The same bytes at the same place, then other bytes there: each open reads the path it is given.
    const [p, n] = g.str('link');
    const out = g.alloc(4);
    assert.equal(g.imports.path_open!(3, 1, p, n, 0, FD_READ, 0n, 0, out), E.OK);
    g.u8().set(new TextEncoder().encode('lin\0'), p);
    assert.equal(g.imports.path_open!(3, 1, p, n, 0, FD_READ, 0n, 0, out), E.INVAL);
    g.u8().set(new TextEncoder().encode('sub/'), p);
    assert.equal(g.imports.path_open!(3, 1, p, n, 2, FD_READ, 0n, 0, out), E.OK);
    assert.equal(openAt('sub/deeper/f.txt/', true), -E.NOTDIR);
  });

  it('should answer the same before and after a descriptor is typed: a read first proves a file, a directory keeps its rights', async () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-typed-'));
    mkdirSync(join(where, 'd'));
    writeFileSync(join(where, 'f'), 'file bytes');
    const g = guest(where);
    const st = g.alloc(24);
    const fdstat = (fd: number): number[] => {
      assert.equal(g.imports.fd_fdstat_get!(fd, st), E.OK);
      return [...g.u8().subarray(st, st + 24)];
    };
    for (const name of ['f', 'd']) {
      const typedFirst = g.open(name, 0, FD_READ | FD_READDIR);
      const before = fdstat(typedFirst);
      const readAfterType = await g.read(typedFirst, 4);
      const readFirst = g.open(name, 0, FD_READ | FD_READDIR);
      assert.deepEqual(await g.read(readFirst, 4), readAfterType, name);
      assert.deepEqual(fdstat(readFirst), before, name);
    }
    assert.equal(await g.read(g.open('f'), 4), 'file');
    assert.equal(fdstat(g.open('d', 0, FD_READ | FD_READDIR))[0], 3);
  });

  it('should list a large directory with the inode and type of every entry, each descriptor from its own position', () => {
    const where = mkdtempSync(join(tmpdir(), 'plume-wasi-large-'));
    for (let i = 0; i < 1000; i++) writeFileSync(join(where, `entry-${i}`), '');
    mkdirSync(join(where, 'a-dir'));
    const g = guest(where);
    const listing = (fds: number[]): Map<string, [bigint, number]>[] => {
      const out = fds.map(() => new Map<string, [bigint, number]>());
      const cookies = fds.map(() => 0n);
      const done = fds.map(() => false);
      const buf = g.alloc(512);
      const used = g.alloc(4);
      // The descriptors take turns, a buffer each time: one's reading never moves the other's.
      while (done.includes(false)) {
        fds.forEach((fd, k) => {
          if (done[k]) return;
          assert.equal(g.imports.fd_readdir!(fd, buf, 512, cookies[k]!, used), E.OK);
          const n = g.view().getUint32(used, true);
          for (let at = 0; at + 24 <= n;) {
            const len = g.view().getUint32(buf + at + 16, true);
            if (at + 24 + len > n) break;
            const name = new TextDecoder().decode(g.u8().subarray(buf + at + 24, buf + at + 24 + len));
            out[k]!.set(name, [g.view().getBigUint64(buf + at + 8, true), g.view().getUint8(buf + at + 20)]);
            cookies[k] = g.view().getBigUint64(buf + at, true);
            at += 24 + len;
          }
          if (n < 512) done[k] = true;
        });
      }
      return out;
    };
    const [preopen, opened] = listing([3, g.open('.', 2, FD_READDIR)]);
    assert.equal(preopen!.size, 1003);
    assert.deepEqual([...opened!.entries()].sort(), [...preopen!.entries()].sort());
    for (const name of ['entry-0', 'entry-999', 'a-dir', '.']) {
      assert.deepEqual(preopen!.get(name), [statSync(join(where, name), { bigint: true }).ino, name.startsWith('entry') ? 4 : 3], name);
    }
  });
});
