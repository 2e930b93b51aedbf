/** The host side of the data plane: invokeMany (call_many for TypeScript) and handing an input over without a copy. */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PayloadStore } from '../../src/data/store.ts';
import { Plume } from '../../src/index.ts';
import { PlumeError } from '../../src/errors.ts';
import { example, guest, text } from '../helpers.ts';

const MB = 1024 * 1024;

describe('host-side data plane', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('hello', example('hello/hello.wasm'));
    await plume.deploy('conformance', guest('conformance-c.wasm'));
  });
  after(async () => {
    await plume?.close();
  });

  it('should run many calls at once and settle each on its own, in order', async () => {
    const results = await plume.invokeMany([
      { name: 'hello', input: 'a' },
      { name: 'conformance', input: 'fail' },
      { name: 'nobody' },
      { name: 'hello', input: new TextEncoder().encode('b') },
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    assert.equal(text((results[0] as PromiseFulfilledResult<Uint8Array>).value), 'Hello, a!');
    assert.equal(text((results[3] as PromiseFulfilledResult<Uint8Array>).value), 'Hello, b!');
    const failed = (results[1] as PromiseRejectedResult).reason as PlumeError;
    assert.equal(failed.code, 'PLUME_EFAILED');
    assert.match(failed.message, /custom failure/);
    assert.equal(((results[2] as PromiseRejectedResult).reason as PlumeError).code, 'PLUME_ENOFUNC');
    assert.deepEqual(await plume.invokeMany([]), []);
    await assert.rejects(plume.invokeMany('hello' as never), /invokeMany takes an array/);
  });

  it('should hand a large input over without a copy when the caller gives it up', async () => {
    const bytes = randomFillSync(new Uint8Array(4 * MB));
    const echo = (input: Uint8Array) => plume.invoke('conformance', input, { transfer: true });
    const framed = (): Uint8Array => {
      const input = new Uint8Array(5 + bytes.length);
      input.set(Buffer.from('echo:'));
      input.set(bytes, 5);
      return input;
    };

    // An ArrayBuffer the view covers whole moves to the worker: it is detached here.
    const moved = framed();
    assert.ok(Buffer.from(await echo(moved)).equals(bytes));
    assert.equal(moved.byteLength, 0, 'the transferred input is detached');

    // A pooled shared buffer is lent, not moved: still readable afterwards, and never copied.
    const lease = await new PayloadStore().acquire(5 + bytes.length);
    lease.bytes.set(framed());
    assert.ok(Buffer.from(await echo(lease.bytes)).equals(bytes));
    assert.equal(lease.bytes.length, 5 + bytes.length);
    lease.release();

    // A view into part of a buffer cannot move: it is copied, and the caller's bytes stay.
    const outer = new Uint8Array(8 + 5 + bytes.length);
    outer.set(framed(), 8);
    const part = outer.subarray(8);
    assert.ok(Buffer.from(await echo(part)).equals(bytes));
    assert.equal(part.length, 5 + bytes.length);
  });
});
