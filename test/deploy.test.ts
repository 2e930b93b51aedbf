/** Deploy refuses bad modules with a clear message and never crashes the runtime. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Plume, PlumeError } from '../src/index.ts';
import { example, guest, text } from './helpers.ts';

const wabt = await (await import('wabt')).default();
const wat = (source: string): Uint8Array => wabt.parseWat('t.wat', source).toBinary({}).buffer;
const hello = readFileSync(example('hello/hello.wasm'));

describe('deploy', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 1 });
  });
  after(() => plume.close());

  const refuses = (bytes: Uint8Array, code: string, pattern: RegExp) =>
    assert.rejects(plume.deploy('bad', bytes), (e: PlumeError) => {
      assert.equal(e.code, code);
      assert.match(e.message, pattern);
      return true;
    });

  it('should refuse malformed and truncated bytes', async () => {
    await refuses(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'PLUME_EMODULE', /not a valid WebAssembly module/);
    await refuses(new Uint8Array(0), 'PLUME_EMODULE', /not a valid WebAssembly module/);
    await refuses(hello.subarray(0, hello.length - 7), 'PLUME_EMODULE', /not a valid WebAssembly module/);
  });

  it('should refuse a module without its entry export, naming the export', async () => {
    await refuses(wat('(module (func (export "other") (result i32) (i32.const 0)))'), 'PLUME_EENTRY', /'run'/);
    await refuses(wat('(module (func (export "run") (param i32) (result i32) (i32.const 0)))'), 'PLUME_EENTRY', /must have type/);
  });

  it('should refuse unknown imports, naming the import', async () => {
    await refuses(
      wat('(module (import "env" "foo" (func)) (func (export "run") (result i32) (i32.const 0)))'),
      'PLUME_EIMPORT',
      /'env\.foo'/,
    );
    await refuses(
      wat('(module (import "plume_v1" "nope" (func)) (func (export "run") (result i32) (i32.const 0)))'),
      'PLUME_EIMPORT',
      /'plume_v1\.nope'/,
    );
  });

  it('should refuse an oversized module', async () => {
    await refuses(new Uint8Array(129 * 1024 * 1024), 'PLUME_EMODULE', /over the 128 MB limit/);
  });

  it('should refuse a module whose initial memory exceeds the limit', async () => {
    await assert.rejects(
      plume.deploy('big', wat('(module (memory 100) (func (export "run") (result i32) (i32.const 0)))'), { limits: { memoryMb: 1 } }),
      (e: PlumeError) => e.code === 'PLUME_EMEMORY',
    );
  });

  it('should refuse bad names and limits with TypeError / RangeError', async () => {
    await assert.rejects(plume.deploy('no spaces', hello), TypeError);
    await assert.rejects(plume.deploy('x', hello, { limits: { timeoutMs: -1 } }), RangeError);
  });

  it('should report a trap during init and keep serving', async () => {
    await assert.rejects(
      plume.deploy('badinit', wat('(module (func (export "init") unreachable) (func (export "run") (result i32) (i32.const 0)))')),
      (e: PlumeError) => e.code === 'PLUME_ETRAP' && /during init/.test(e.message),
    );
    await plume.deploy('hello', hello);
    assert.equal(text(await plume.invoke('hello', 'x')), 'Hello, x!');
  });

  it('should make a new version on redeploy, finishing in-flight calls on the old one', async () => {
    await plume.deploy('v', guest('conformance-c.wasm'));
    const slow = plume.invoke('v', 'sleep:100');
    const info = await plume.deploy('v', hello);
    assert.equal(info.version, 2);
    assert.equal(text(await slow), 'slept');
    assert.equal(text(await plume.invoke('v', 'y')), 'Hello, y!');
  });

  it('should compile identical bytes once (content-hash cache)', async () => {
    await plume.deploy('h1', hello);
    await plume.deploy('h2', hello);
    assert.equal(text(await plume.invoke('h2', 'z')), 'Hello, z!');
  });

  it('should answer an unknown function with PLUME_ENOFUNC', async () => {
    await assert.rejects(plume.invoke('missing'), (e: PlumeError) => e.code === 'PLUME_ENOFUNC' && /'missing'/.test(e.message));
  });
});
