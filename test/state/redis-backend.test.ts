/** The Redis global tier against the StateBackend contract, plus what only Redis has: outages and other nodes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlumeError } from '../../src/errors.ts';
import { RedisBackend } from '../../src/state/redis-backend.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';
import { backendContract } from './backend.contract.ts';

let server: RedisServer;
let backends = 0;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.stop();
});

// A fresh prefix per backend keeps tests apart on the one server.
backendContract('RedisBackend', (options) => new RedisBackend({ url: server.url, prefix: `contract-${++backends}:`, ...options }));

const unavailable = (url: string) => (e: PlumeError) => e.code === 'PLUME_ESTATE_UNAVAILABLE' && e.message.includes(url);

/** Fails the test if anything escapes as an unhandled rejection or exception while `body` runs. */
async function withoutStrayErrors(body: () => Promise<void>): Promise<void> {
  const stray: unknown[] = [];
  const record = (e: unknown): void => void stray.push(e);
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  try {
    await body();
    await sleep(50);
  } finally {
    process.off('unhandledRejection', record);
    process.off('uncaughtException', record);
  }
  assert.deepEqual(stray, []);
}

describe('RedisBackend', () => {
  it('should fail fast with PLUME_ESTATE_UNAVAILABLE naming the URL when Redis was never there', async () => {
    const dead = await startRedis();
    await dead.stop();
    const state = new RedisBackend({ url: dead.url });
    await withoutStrayErrors(async () => {
      const started = performance.now();
      await assert.rejects(state.get('k'), unavailable(dead.url));
      await assert.rejects(state.set('k', new Uint8Array(1)), unavailable(dead.url));
      assert.ok(performance.now() - started < 2000);
      await state.close();
    });
  });

  it('should fail every call fast while Redis is down, and work again once it is back on its port', async () => {
    const own = await startRedis();
    const state = new RedisBackend({ url: own.url });
    try {
      await withoutStrayErrors(async () => {
        await state.set('k', new TextEncoder().encode('before'));
        const held = (await state.lock('L', 60_000, 'holder'))!;
        await own.stop();
        const started = performance.now();
        await assert.rejects(state.get('k'), unavailable(own.url));
        await assert.rejects(state.set('k', new Uint8Array(1)), unavailable(own.url));
        await assert.rejects(state.compareAndSet('k', 0, new Uint8Array(1)), unavailable(own.url));
        await assert.rejects(state.append('log', new Uint8Array(1)), unavailable(own.url));
        await assert.rejects(state.acquire('L', 1000, 'waiter', { timeoutMs: 30_000 }), unavailable(own.url));
        await assert.rejects(state.unlock(held), unavailable(own.url));
        const ms = performance.now() - started;
        assert.ok(ms < 2000, `six calls failed in ${ms.toFixed(0)} ms`);

        await own.restart();
        // The restarted server is empty (no persistence): the value is gone, but the backend serves again.
        assert.equal(await eventually(() => state.get('k')), undefined);
        assert.ok((await state.set('k', new Uint8Array([1]))) > 0);
        assert.ok(await state.lock('L', 1000, 'after-restart'));
      });
    } finally {
      await state.close();
      await own.stop();
    }
  });

  it('should wake a waiter on another node (another connection) right after unlock', async () => {
    const prefix = `nodes-${++backends}:`;
    const nodeA = new RedisBackend({ url: server.url, prefix });
    const nodeB = new RedisBackend({ url: server.url, prefix });
    try {
      const held = (await nodeA.lock('L', 60_000, 'a'))!;
      const waiting = nodeB.acquire('L', 60_000, 'b', { timeoutMs: 10_000 });
      await sleep(50);
      const released = performance.now();
      assert.equal(await nodeA.unlock(held), true);
      const lease = await waiting;
      const ms = performance.now() - released;
      assert.ok(ms < 100, `node B got the lock ${ms.toFixed(1)} ms after node A's unlock`);
      assert.equal(lease.owner, 'b');
      assert.equal(await nodeA.lock('L', 1000, 'a'), undefined);
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });

  it('should share values between nodes with the same prefix and keep other prefixes apart', async () => {
    const url = server.url;
    const one = new RedisBackend({ url, prefix: 'shared:' });
    const two = new RedisBackend({ url, prefix: 'shared:' });
    const other = new RedisBackend({ url, prefix: 'other:' });
    try {
      const version = await one.set('k', new Uint8Array([7]));
      assert.deepEqual(await two.get('k'), { value: new Uint8Array([7]), version });
      assert.equal(await other.get('k'), undefined);
    } finally {
      await Promise.all([one.close(), two.close(), other.close()]);
    }
  });

  it('should keep the password out of its URL and messages, and refuse a URL that is not redis://', async () => {
    const dead = await startRedis();
    await dead.stop();
    const state = new RedisBackend({ url: `redis://:s3cret@127.0.0.1:${dead.port}` });
    assert.ok(!state.url.includes('s3cret'));
    await assert.rejects(state.get('k'), (e: PlumeError) => e.code === 'PLUME_ESTATE_UNAVAILABLE' && !e.message.includes('s3cret'));
    await state.close();
    assert.throws(
      () => new RedisBackend({ url: 'http://127.0.0.1:6379' }),
      (e: Error) => e instanceof TypeError && /url/.test(e.message),
    );
  });
});
