import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectModule, prepareModule, WasmFormatError } from '../../src/engine/wasm-binary.ts';

const wabt = await (await import('wabt')).default();

// The tsconfig carries no DOM lib, so type the slice of the WebAssembly JS API
// these tests use here rather than depend on whichever global typing lands.
type Exports = Record<string, unknown>;
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: {
    new (bytes: Uint8Array): object;
    imports(m: object): { module: string; name: string; kind: string }[];
    exports(m: object): { name: string; kind: string }[];
    customSections(m: object, name: string): ArrayBuffer[];
  };
  Instance: new (m: object, imports?: Record<string, Record<string, unknown>>) => { exports: Exports };
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean; address?: string }) => { buffer: ArrayBuffer };
  LinkError: new () => Error;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Fn = (...args: number[]) => number;
interface Glob {
  value: number | bigint;
}

function wat(src: string, features: Record<string, boolean> = {}): Uint8Array {
  const m = wabt.parseWat('fixture.wat', src, features);
  try {
    m.resolveNames();
    // wabt.js validates with the given features too, though its typings omit the parameter.
    (m.validate as (features: Record<string, boolean>) => void).call(m, features);
    return m.toBinary({ write_debug_names: true }).buffer;
  } finally {
    m.destroy();
  }
}

function isFormatError(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof WasmFormatError, `expected WasmFormatError, got ${String(e)}`);
    assert.equal(e.code, 'PLUME_EMODULE');
    assert.match(e.message, pattern);
    return true;
  };
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const mod = (...body: number[]): Uint8Array => new Uint8Array([...HEADER, ...body]);

const INSPECT_WAT = `(module
  (type $cb (func (param i32 i64) (result f64)))
  (import "env" "log" (func $log (param i32 i32)))
  (import "env" "cb" (func $cb (type $cb)))
  (import "env" "table" (table 2 funcref))
  (import "env" "memory" (memory 2 16 shared))
  (import "env" "g" (global $g (mut i32)))
  (import "env" "k" (global $k f32))
  (import "env" "oops" (tag $oops (param i32)))
  (global $a (mut i64) (i64.const 5))
  (global $b externref (ref.null extern))
  (global $c v128 (v128.const i32x4 1 2 3 4))
  (func $main (export "main") (result i32) (i32.const 0))
  (func $init (call $log (i32.const 0) (i32.const 0)))
  (func (export "wide") (param v128 f32) (result externref funcref) (ref.null extern) (ref.null func))
  (start $init)
  (export "table" (table 0))
  (export "memory" (memory 0))
  (export "a" (global $a))
  (export "cb" (func $cb))
  (export "oops" (tag $oops))
)`;

test('inspectModule reports imports, exports, memory, globals and start', () => {
  const info = inspectModule(wat(INSPECT_WAT, { threads: true, exceptions: true, simd: true }));

  assert.deepEqual(
    info.imports.map(({ module, name, kind }) => ({ module, name, kind })),
    [
      { module: 'env', name: 'log', kind: 'function' },
      { module: 'env', name: 'cb', kind: 'function' },
      { module: 'env', name: 'table', kind: 'table' },
      { module: 'env', name: 'memory', kind: 'memory' },
      { module: 'env', name: 'g', kind: 'global' },
      { module: 'env', name: 'k', kind: 'global' },
      { module: 'env', name: 'oops', kind: 'tag' },
    ],
  );
  const [log, cb] = info.imports;
  assert.deepEqual(log?.signature, { params: ['i32', 'i32'], results: [] });
  assert.deepEqual(cb?.signature, { params: ['i32', 'i64'], results: ['f64'] });
  assert.deepEqual(info.types[cb!.funcTypeIndex!], cb!.signature);
  assert.equal(info.imports[2]!.funcTypeIndex, undefined);

  assert.deepEqual(info.memories, [{ imported: true, min: 2, max: 16, shared: true, memory64: false }]);
  assert.equal(info.importedGlobalCount, 2);
  assert.deepEqual(info.globals, [
    { index: 2, type: 'i64', mutable: true },
    { index: 3, type: 'externref', mutable: false },
    { index: 4, type: 'v128', mutable: false },
  ]);
  // Function index space: log 0, cb 1, main 2, init 3, wide 4.
  assert.equal(info.startFunction, 3);
  assert.equal(info.functionTypes.length, 5);

  const byName = new Map(info.exports.map((e) => [e.name, e]));
  assert.deepEqual(byName.get('main'), { name: 'main', kind: 'function', index: 2, signature: { params: [], results: ['i32'] } });
  assert.deepEqual(byName.get('wide')?.signature, { params: ['v128', 'f32'], results: ['externref', 'funcref'] });
  assert.deepEqual(byName.get('cb')?.signature, { params: ['i32', 'i64'], results: ['f64'] });
  assert.deepEqual(byName.get('table'), { name: 'table', kind: 'table', index: 0 });
  assert.deepEqual(byName.get('memory'), { name: 'memory', kind: 'memory', index: 0 });
  assert.deepEqual(byName.get('a'), { name: 'a', kind: 'global', index: 2 });
  assert.deepEqual(byName.get('oops'), { name: 'oops', kind: 'tag', index: 0 });
});

test('inspectModule reads memory64 limits and a module without start', () => {
  const info = inspectModule(wat('(module (memory i64 1 10))', { memory64: true }));
  assert.deepEqual(info.memories, [{ imported: false, min: 1, max: 10, shared: false, memory64: true }]);
  assert.equal(info.startFunction, undefined);
  assert.equal('startFunction' in info, false);
});

const PREPARE_WAT = (limits: string): string => `(module
  (memory ${limits})
  (global $counter (mut i32) (i32.const 7))
  (global $big (mut i64) (i64.const 1))
  (global $k i32 (i32.const 42))
  (global $f (mut f64) (f64.const 1.5))
  (data (i32.const 16) "hello")
  (func $init
    (i32.store (i32.const 0) (i32.const 1234))
    (global.set $counter (i32.const 99)))
  (start $init)
  (func (export "run") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.add (i32.load (i32.const 0)) (global.get $counter)))
  (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (export "k" (global $k))
  (export "big" (global $big))
  (export "mem" (memory 0))
)`;

test('prepareModule moves a defined memory (with max) to plume:host and runs the module', () => {
  const original = wat(PREPARE_WAT('1 4'));
  const { bytes, info } = prepareModule(original);

  assert.ok(WA.validate(bytes));
  assert.equal(info.memoryMoved, true);
  assert.deepEqual(info.memoryImport, { module: 'plume:host', name: 'memory' });
  assert.deepEqual(info.memory, { min: 1, max: 4, shared: false, memory64: false });
  assert.equal(info.start, true);
  assert.deepEqual(info.mutableGlobals, [
    { index: 0, exportName: '__plume_global_0', type: 'i32' },
    { index: 1, exportName: '__plume_global_1', type: 'i64' },
    { index: 3, exportName: '__plume_global_3', type: 'f64' },
  ]);
  assert.deepEqual(info.original, inspectModule(original));

  const prepared = inspectModule(bytes);
  assert.deepEqual(prepared.memories, [{ imported: true, min: 1, max: 4, shared: false, memory64: false }]);
  assert.equal(prepared.startFunction, undefined);
  assert.deepEqual(prepared.globals, info.original.globals);

  const module = new WA.Module(bytes);
  assert.deepEqual(WA.Module.imports(module), [{ module: 'plume:host', name: 'memory', kind: 'memory' }]);
  const kinds = new Map(WA.Module.exports(module).map((e) => [e.name, e.kind]));
  const jsKind = { function: 'function', table: 'table', memory: 'memory', global: 'global', tag: 'tag' } as const;
  for (const e of info.original.exports) assert.equal(kinds.get(e.name), jsKind[e.kind], `export ${e.name} kept`);
  // The name section (a custom section) is copied unchanged.
  const names = (m: object): Uint8Array[] => WA.Module.customSections(m, 'name').map((b) => new Uint8Array(b));
  assert.equal(names(module).length, 1);
  assert.deepEqual(names(module), names(new WA.Module(original)));

  // The import carries the original limits: too small or unbounded memories do not link.
  assert.throws(() => new WA.Instance(module, { 'plume:host': { memory: new WA.Memory({ initial: 1 }) } }), WA.LinkError);
  assert.throws(() => new WA.Instance(module, {}), TypeError);

  const memory = new WA.Memory({ initial: 1, maximum: 4 });
  const { exports } = new WA.Instance(module, { 'plume:host': { memory } });
  const view = new DataView(memory.buffer);
  assert.equal(exports['mem'], memory);
  assert.equal(new TextDecoder().decode(new Uint8Array(memory.buffer, 16, 5)), 'hello', 'data segment landed');
  assert.equal((exports['peek'] as Fn)(17), 'e'.charCodeAt(0));

  // The start function did not run on instantiation; it runs when the host calls it.
  const counter = exports['__plume_global_0'] as Glob;
  assert.equal(view.getInt32(0, true), 0);
  assert.equal(counter.value, 7);
  (exports['__plume_start'] as Fn)();
  assert.equal(view.getInt32(0, true), 1234);
  assert.equal(counter.value, 99);

  assert.equal((exports['run'] as Fn)(), 1234 + 100);
  assert.equal(counter.value, 100);
  counter.value = 5; // what a snapshot restore does
  assert.equal((exports['run'] as Fn)(), 1234 + 6);

  const big = exports['__plume_global_1'] as Glob;
  assert.equal(big.value, 1n);
  big.value = 1n << 40n;
  assert.equal((exports['big'] as Glob).value, 1n << 40n, 'same global as the original export');
  assert.equal((exports['__plume_global_3'] as Glob).value, 1.5);
  assert.equal((exports['k'] as Glob).value, 42);
  assert.equal(exports['__plume_global_2'], undefined, 'immutable globals are not exported');
});

test('prepareModule keeps a memory without max unbounded', () => {
  const { bytes, info } = prepareModule(wat(PREPARE_WAT('2')));
  assert.deepEqual(info.memory, { min: 2, shared: false, memory64: false });
  const module = new WA.Module(bytes);
  for (const memory of [new WA.Memory({ initial: 2 }), new WA.Memory({ initial: 3, maximum: 100 })]) {
    const { exports } = new WA.Instance(module, { 'plume:host': { memory } });
    (exports['__plume_start'] as Fn)();
    assert.equal((exports['run'] as Fn)(), 1234 + 100);
  }
});

test('prepareModule carries the shared flag of a shared memory', () => {
  const { bytes, info } = prepareModule(
    wat('(module (memory 1 2 shared) (func (export "f") (result i32) (i32.atomic.load (i32.const 0))))', { threads: true }),
  );
  assert.deepEqual(info.memory, { min: 1, max: 2, shared: true, memory64: false });
  const memory = new WA.Memory({ initial: 1, maximum: 2, shared: true });
  new Int32Array(memory.buffer)[0] = 77;
  const { exports } = new WA.Instance(new WA.Module(bytes), { 'plume:host': { memory } });
  assert.equal((exports['f'] as Fn)(), 77);
});

test('prepareModule keeps an imported memory and reports it', () => {
  const original = wat('(module (import "env" "memory" (memory 1)) (func (export "f") (result i32) (i32.load (i32.const 0))))');
  const { bytes, info } = prepareModule(original);
  assert.deepEqual(bytes, original, 'nothing to rewrite');
  assert.equal(info.memoryMoved, false);
  assert.deepEqual(info.memoryImport, { module: 'env', name: 'memory' });
  assert.deepEqual(info.memory, { min: 1, shared: false, memory64: false });
  assert.equal(info.start, false);
  assert.deepEqual(info.mutableGlobals, []);

  const memory = new WA.Memory({ initial: 1 });
  new Int32Array(memory.buffer)[0] = 5;
  const { exports } = new WA.Instance(new WA.Module(bytes), { env: { memory } });
  assert.equal((exports['f'] as Fn)(), 5);
});

test('prepareModule creates import and export sections where there are none, keeping custom sections in place', () => {
  const compiled = wat('(module (memory 1) (global $g (mut i32) (i32.const 1)) (func $s (global.set $g (i32.const 2))) (start $s))');
  assert.deepEqual(inspectModule(compiled).imports, []);
  // Put a custom section right after the header, where no rewriter should move it from.
  const custom = [0x00, 0x07, 0x05, ...new TextEncoder().encode('first'), 0xab];
  const original = new Uint8Array([...compiled.subarray(0, 8), ...custom, ...compiled.subarray(8)]);

  const { bytes, info } = prepareModule(original);
  assert.ok(WA.validate(bytes));
  assert.deepEqual([...bytes.subarray(0, 8 + custom.length)], [...HEADER, ...custom]);
  assert.equal(info.memoryMoved, true);
  const after = inspectModule(bytes);
  assert.deepEqual(
    after.exports.map((e) => e.name),
    ['__plume_global_0', '__plume_start'],
  );

  const module = new WA.Module(bytes);
  assert.deepEqual(
    WA.Module.customSections(module, 'first').map((b) => [...new Uint8Array(b)]),
    [[0xab]],
  );
  const { exports } = new WA.Instance(module, { 'plume:host': { memory: new WA.Memory({ initial: 1 }) } });
  (exports['__plume_start'] as Fn)();
  assert.equal((exports['__plume_global_0'] as Glob).value, 2);
});

test('prepareModule handles modules without memory and memory64 memories', () => {
  const none = prepareModule(wat('(module (func (export "f") (result i32) (i32.const 1)))'));
  assert.equal(none.info.memory, undefined);
  assert.equal(none.info.memoryImport, undefined);
  assert.ok(WA.validate(none.bytes));

  const m64 = prepareModule(
    wat('(module (memory i64 1 10) (func (export "f") (result i32) (i32.load (i64.const 8))))', { memory64: true }),
  );
  assert.deepEqual(m64.info.memory, { min: 1, max: 10, shared: false, memory64: true });
  assert.deepEqual(inspectModule(m64.bytes).memories, [{ imported: true, min: 1, max: 10, shared: false, memory64: true }]);
  assert.ok(WA.validate(m64.bytes));
});

test('prepareModule rejects multiple memories and clashing export names', () => {
  const two = wat('(module (memory 1) (memory 2))', { multi_memory: true });
  assert.equal(inspectModule(two).memories.length, 2);
  assert.throws(() => prepareModule(two), isFormatError(/multiple memories are not supported/));
  const mixed = wat('(module (import "env" "m" (memory 1)) (memory 1))', { multi_memory: true });
  assert.throws(() => prepareModule(mixed), isFormatError(/multiple memories/));

  const clash = wat('(module (func $s) (start $s) (export "__plume_start" (func $s)))');
  assert.throws(() => prepareModule(clash), isFormatError(/reserved name "__plume_start"/));
});

test('malformed input throws WasmFormatError naming the offset', { timeout: 5000 }, () => {
  const valid = wat(PREPARE_WAT('1 4'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /shorter than the 8-byte header/],
    ['wrong magic', new Uint8Array([0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0]), /bad magic number.*offset 0/],
    ['wrong version', new Uint8Array([0x00, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /version 2.*offset 4/],
    ['truncated mid-section', valid.subarray(0, 40), /section size \d+ runs past the end of the module/],
    ['section size past end', mod(0x01, 0x10, 0x00), /type section size 16 runs past.*offset 8/],
    ['never-ending LEB128', mod(0x01, ...new Array<number>(20).fill(0x80)), /LEB128 integer longer than 5 bytes.*offset 9/],
    ['LEB128 cut by end of input', mod(0x01, 0x80, 0x80), /unexpected end of data/],
    ['LEB128 over 32 bits', mod(0x01, 0xff, 0xff, 0xff, 0xff, 0x7f), /out of range/],
    ['huge vector count', mod(0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f), /type count 4294967295 exceeds the 0 bytes left.*offset 10/],
    ['huge name length', mod(0x02, 0x06, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f), /needs 4294967295 bytes/],
    ['content cut inside section', mod(0x01, 0x02, 0x01, 0x60), /type section: unexpected end of data.*offset 12/],
    ['trailing bytes in section', mod(0x01, 0x02, 0x00, 0x00), /1 unexpected bytes at the end/],
    ['unknown section', mod(0x0e, 0x00), /unknown section id 14/],
    ['sections out of order', mod(0x03, 0x01, 0x00, 0x01, 0x01, 0x00), /type section is duplicated or out of order/],
    ['bad type index', mod(0x03, 0x02, 0x01, 0x05), /type index 5 out of range/],
    ['export of missing function', mod(0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00), /missing function 0/],
  ];
  for (const [label, bytes, pattern] of cases) {
    assert.throws(() => inspectModule(bytes), isFormatError(pattern), label);
    assert.throws(() => prepareModule(bytes), isFormatError(pattern), label);
  }
});

test('every truncation and byte mutation is parsed or rejected with WasmFormatError, agreeing with V8', { timeout: 20000 }, () => {
  // Whenever V8 accepts a mutant, inspectModule must too, and prepareModule's
  // output must validate unless it refused for one of its documented reasons.
  let accepted = 0;
  const attempt = (bytes: Uint8Array): void => {
    const engineValid = WA.validate(bytes);
    if (engineValid) accepted++;
    for (const step of ['inspect', 'prepare'] as const) {
      try {
        if (step === 'inspect') inspectModule(bytes);
        else assert.ok(WA.validate(prepareModule(bytes).bytes) || !engineValid, 'rewrite of a valid module is valid');
      } catch (e) {
        if (!(e instanceof WasmFormatError)) throw e;
        if (engineValid && !/multiple memories|reserved name/.test(e.message))
          assert.fail(`${step} rejected a module V8 accepts: ${e.message}`);
        return;
      }
    }
  };
  let seed = 12345;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const valid of [wat(INSPECT_WAT, { threads: true, exceptions: true, simd: true }), wat(PREPARE_WAT('1 4'))]) {
    for (let n = 0; n < valid.length; n++) attempt(valid.subarray(0, n));
    for (let i = 0; i < 2000; i++) {
      const copy = valid.slice();
      copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      attempt(copy);
    }
  }
  assert.ok(accepted > 500, `only ${accepted} mutants were valid; the V8 cross-check proves little`);
});
