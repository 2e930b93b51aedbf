/** The payload store: pooled shared buffers, a budget, and acquires that wait while it is spent. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PayloadStore } from '../../src/data/store.ts';
import { rejection } from '../helpers.ts';

const KB = 1024;
const MB = 1024 * KB;

describe('payload store', () => {
  it('should lease exactly the length asked, over a shared buffer of the next power of two', async () => {
    const store = new PayloadStore();
    const lease = await store.acquire(100 * KB);
    assert.equal(lease.bytes.length, 100 * KB);
    assert.ok(lease.bytes.buffer instanceof SharedArrayBuffer);
    assert.equal(lease.bytes.buffer.byteLength, 128 * KB);
    assert.deepEqual(store.stats, { heldBytes: 128 * KB, inUseBytes: 128 * KB, spareBytes: 0, waiting: 0 });
    const tiny = await store.acquire(0);
    assert.equal(tiny.bytes.buffer.byteLength, 64 * KB, 'the smallest class is 64 KiB');
  });

  it('should hand a released buffer to the next payload of its class', async () => {
    const store = new PayloadStore();
    const first = await store.acquire(3 * MB);
    first.bytes.fill(1);
    first.release();
    first.release(); // idempotent
    assert.deepEqual(store.stats, { heldBytes: 4 * MB, inUseBytes: 0, spareBytes: 4 * MB, waiting: 0 });
    const second = await store.acquire(4 * MB);
    assert.equal(second.bytes.buffer, first.bytes.buffer);
    assert.equal((await store.acquire(3 * MB)).bytes.buffer === first.bytes.buffer, false, 'a buffer is leased once at a time');
  });

  it('should take a forgotten buffer out of the store and its budget', async () => {
    const store = new PayloadStore({ maxBytes: 4 * MB });
    const lease = await store.acquire(4 * MB);
    lease.forget();
    assert.deepEqual(store.stats, { heldBytes: 0, inUseBytes: 0, spareBytes: 0, waiting: 0 });
    assert.notEqual((await store.acquire(4 * MB)).bytes.buffer, lease.bytes.buffer);
  });

  it('should make an acquire wait while the budget is spent, first come first served', async () => {
    const store = new PayloadStore({ maxBytes: 4 * MB });
    const held = await store.acquire(3 * MB);
    const order: string[] = [];
    const a = store.acquire(2 * MB).then((l) => (order.push('a'), l));
    const b = store.acquire(64 * KB).then((l) => (order.push('b'), l));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(store.stats.waiting, 2);
    assert.deepEqual(order, [], 'b waits behind a even though it would fit');
    held.release();
    await Promise.all([a, b]);
    assert.deepEqual(order, ['a', 'b']);
  });

  it('should drop spare buffers of other sizes to make room', async () => {
    const store = new PayloadStore({ maxBytes: 4 * MB });
    (await store.acquire(2 * MB)).release();
    (await store.acquire(1 * MB)).release();
    assert.equal(store.stats.spareBytes, 3 * MB);
    const big = await store.acquire(3 * MB);
    assert.equal(big.bytes.buffer.byteLength, 4 * MB);
    assert.deepEqual(store.stats, { heldBytes: 4 * MB, inUseBytes: 4 * MB, spareBytes: 0, waiting: 0 });
  });

  it('should keep at most spareBytes of spare buffers', async () => {
    const store = new PayloadStore({ spareBytes: 1 * MB });
    const leases = await Promise.all([store.acquire(MB), store.acquire(MB)]);
    for (const lease of leases) lease.release();
    assert.deepEqual(store.stats, { heldBytes: MB, inUseBytes: 0, spareBytes: MB, waiting: 0 });
    store.trim();
    assert.deepEqual(store.stats, { heldBytes: 0, inUseBytes: 0, spareBytes: 0, waiting: 0 });
  });

  it('should refuse a payload that can never fit, and abort a waiting acquire', async () => {
    const store = new PayloadStore({ maxBytes: 2 * MB });
    const never = await rejection(store.acquire(3 * MB));
    assert.equal(never.code, 'PLUME_EINPUT');
    assert.equal(never.message, 'a payload of 3145728 bytes cannot fit the payload store (maxBytes 2097152)');
    const held = await store.acquire(2 * MB);
    const controller = new AbortController();
    const waiting = store.acquire(MB, controller.signal);
    controller.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    assert.equal(store.stats.waiting, 0);
    held.release();
    assert.throws(() => new PayloadStore({ maxBytes: 1 }), RangeError);
    await assert.rejects(store.acquire(-1), RangeError);
  });
});
