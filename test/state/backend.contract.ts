/**
 * The StateBackend contract, written once and run against every backend (memory-backend.test.ts,
 * redis-backend.test.ts). `create` makes a fresh, empty backend; the suite closes it after each test.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlumeError } from '../../src/errors.ts';
import { DEFAULT_MAX_VALUE_BYTES, type StateBackend } from '../../src/state/backend.ts';

export type BackendFactory = (options?: { maxValueBytes?: number }) => StateBackend;

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined): string | undefined => data && new TextDecoder().decode(data);
const code = (expected: string) => (e: PlumeError) => e.code === expected;

export function backendContract(name: string, factory: BackendFactory): void {
  describe(`${name} (StateBackend contract)`, () => {
    const open: StateBackend[] = [];
    const create: BackendFactory = (options) => {
      const backend = factory(options);
      open.push(backend);
      return backend;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((backend) => backend.close()));
    });

    describe('values and versions', () => {
      it('should return undefined for a key never set, and the bytes and version of one that was', async () => {
        const state = create();
        assert.equal(await state.get('missing'), undefined);
        const version = await state.set('greeting', bytes('hello'));
        assert.ok(version >= 1);
        const got = await state.get('greeting');
        assert.deepEqual(got && { value: text(got.value), version: got.version }, { value: 'hello', version });
      });

      it('should keep any bytes, including empty values, NULs and binary keys, with their exact lengths', async () => {
        const state = create();
        const binaryKey = new Uint8Array([0, 0xff, 0x0a, 0]);
        const value = new Uint8Array([0, 1, 0, 255, 0]);
        await state.set(binaryKey, value);
        await state.set(new Uint8Array([0, 0xff]), new Uint8Array(0));
        assert.deepEqual((await state.get(binaryKey))?.value, value);
        assert.deepEqual((await state.get(new Uint8Array([0, 0xff])))?.value, new Uint8Array(0));
        assert.equal(await state.get(new Uint8Array([0, 0xff, 0x0a])), undefined);
      });

      it('should treat a string key and its UTF-8 bytes as one key', async () => {
        const state = create();
        await state.set('clé', bytes('v'));
        assert.equal(text((await state.get(bytes('clé')))?.value), 'v');
      });

      it('should store a copy, unaffected by later changes to the caller’s array', async () => {
        const state = create();
        const value = bytes('abc');
        await state.set('k', value);
        value[0] = 0x7a;
        assert.equal(text((await state.get('k'))?.value), 'abc');
      });

      it('should give every write a larger version, and never reuse one after a delete', async () => {
        const state = create();
        const v1 = await state.set('k', bytes('a'));
        const v2 = await state.set('k', bytes('b'));
        const v3 = await state.setRange('k', 1, bytes('c'));
        assert.ok(v1 < v2 && v2 < v3, `${v1} < ${v2} < ${v3}`);
        assert.equal((await state.get('k'))?.version, v3);
        assert.equal(await state.delete('k'), true);
        assert.ok((await state.set('k', bytes('d'))) > v3);
      });
    });

    describe('ranges', () => {
      it('should read a range, cut at the end of the value, and undefined for a missing key', async () => {
        const state = create();
        await state.set('k', bytes('0123456789'));
        assert.equal(text(await state.getRange('k', 2, 3)), '234');
        assert.equal(text(await state.getRange('k', 8, 100)), '89');
        assert.equal(text(await state.getRange('k', 50, 5)), '');
        assert.equal(text(await state.getRange('k', 0, 0)), '');
        assert.equal(await state.getRange('missing', 0, 4), undefined);
      });

      it('should write a range in place, extend with zeros, and create a missing key', async () => {
        const state = create();
        await state.set('k', bytes('aaaa'));
        await state.setRange('k', 1, bytes('bb'));
        assert.equal(text((await state.get('k'))?.value), 'abba');
        await state.setRange('k', 6, bytes('c'));
        assert.deepEqual((await state.get('k'))?.value, new Uint8Array([97, 98, 98, 97, 0, 0, 99]));
        await state.setRange('new', 2, bytes('x'));
        assert.deepEqual((await state.get('new'))?.value, new Uint8Array([0, 0, 120]));
      });

      it('should make the value at least `offset` long when the bytes are empty', async () => {
        const state = create();
        await state.setRange('k', 3, new Uint8Array(0));
        assert.deepEqual((await state.get('k'))?.value, new Uint8Array(3));
        await state.setRange('k', 1, new Uint8Array(0));
        assert.deepEqual((await state.get('k'))?.value, new Uint8Array(3));
      });
    });

    describe('compare-and-set', () => {
      it('should create only when the key does not exist (expected version 0)', async () => {
        const state = create();
        const first = await state.compareAndSet('k', 0, bytes('first'));
        assert.equal(first.ok, true);
        assert.deepEqual(await state.compareAndSet('k', 0, bytes('second')), { ok: false, version: first.version });
        assert.equal(text((await state.get('k'))?.value), 'first');
      });

      it('should set when the version matches and report the current version when it does not', async () => {
        const state = create();
        const v1 = await state.set('k', bytes('one'));
        const swapped = await state.compareAndSet('k', v1, bytes('two'));
        assert.ok(swapped.ok && swapped.version > v1);
        assert.deepEqual(await state.compareAndSet('k', v1, bytes('stale')), { ok: false, version: swapped.version });
        assert.deepEqual(await state.compareAndSet('missing', 5, bytes('x')), { ok: false, version: 0 });
        assert.equal(text((await state.get('k'))?.value), 'two');
      });

      it('should let exactly one of many concurrent swaps from the same version win', async () => {
        const state = create();
        const v = await state.set('k', bytes('0'));
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => state.compareAndSet('k', v, bytes(String(i)))));
        const winners = results.filter((r) => r.ok);
        assert.equal(winners.length, 1);
        assert.equal((await state.get('k'))?.version, winners[0]!.version);
      });
    });

    describe('append', () => {
      it('should append entries in order, count them, and read them from an index', async () => {
        const state = create();
        assert.deepEqual(await state.readAppended('log'), []);
        assert.equal(await state.append('log', bytes('a')), 1);
        assert.equal(await state.append('log', new Uint8Array(0)), 2);
        assert.equal(await state.append('log', new Uint8Array([0, 1])), 3);
        assert.deepEqual(await state.readAppended('log'), [bytes('a'), new Uint8Array(0), new Uint8Array([0, 1])]);
        assert.deepEqual(await state.readAppended('log', 2), [new Uint8Array([0, 1])]);
        assert.deepEqual(await state.readAppended('log', 9), []);
      });

      it('should keep the append log apart from the value and its version', async () => {
        const state = create();
        const v = await state.set('k', bytes('value'));
        await state.append('k', bytes('entry'));
        assert.deepEqual(await state.get('k'), { value: bytes('value'), version: v });
        assert.deepEqual(await state.readAppended('k'), [bytes('entry')]);
      });
    });

    describe('delete', () => {
      it('should remove the value and the append log, and say whether anything existed', async () => {
        const state = create();
        await state.set('k', bytes('v'));
        await state.append('k', bytes('e'));
        await state.append('only-log', bytes('e'));
        assert.equal(await state.delete('k'), true);
        assert.equal(await state.delete('only-log'), true);
        assert.equal(await state.get('k'), undefined);
        assert.deepEqual(await state.readAppended('k'), []);
        assert.equal(await state.delete('k'), false);
      });
    });

    describe('locks', () => {
      it('should give the lock to one owner at a time, with increasing fencing tokens', async () => {
        const state = create();
        const a = await state.lock('L', 10_000, 'a');
        assert.ok(a);
        assert.equal(await state.lock('L', 10_000, 'b'), undefined);
        assert.ok(await state.lock('other', 10_000, 'b'), 'locks on other keys are independent');
        assert.equal(await state.unlock(a), true);
        assert.equal(await state.unlock(a), false, 'a second unlock of the same lease');
        const b = await state.lock('L', 10_000, 'b');
        assert.ok(b && b.token > a.token, 'fencing tokens increase');
        assert.equal(b.owner, 'b');
      });

      it('should hand the lock to a waiter right after unlock, without waiting for the lease', async () => {
        const state = create();
        const held = (await state.lock('L', 60_000, 'holder'))!;
        let acquired = false;
        const waiter = state.acquire('L', 60_000, 'waiter', { timeoutMs: 10_000 }).then((lease) => ((acquired = true), lease));
        await sleep(50);
        assert.equal(acquired, false, 'the waiter must wait while the lock is held');
        const released = performance.now();
        assert.equal(await state.unlock(held), true);
        const lease = await waiter;
        const ms = performance.now() - released;
        assert.ok(ms < 100, `the waiter got the lock ${ms.toFixed(1)} ms after unlock`);
        assert.equal(lease.owner, 'waiter');
        assert.ok(lease.token > held.token);
      });

      it('should exclude every other owner while one holds the lock (no lost updates)', async () => {
        const state = create();
        await state.set('counter', bytes('0'));
        let inside = 0;
        let most = 0;
        const worker = async (i: number): Promise<void> => {
          for (let round = 0; round < 3; round++) {
            const lease = await state.acquire('L', 10_000, `worker-${i}`, { timeoutMs: 10_000 });
            most = Math.max(most, ++inside);
            const n = Number(text((await state.get('counter'))?.value));
            await sleep(1);
            await state.set('counter', bytes(String(n + 1)));
            inside--;
            assert.equal(await state.unlock(lease), true);
          }
        };
        await Promise.all(Array.from({ length: 6 }, (_, i) => worker(i)));
        assert.equal(most, 1);
        assert.equal(text((await state.get('counter'))?.value), '18');
      });

      it('should let the next owner in when a lease expires, and refuse the stale owner’s unlock', async () => {
        const state = create();
        const stale = (await state.lock('L', 100, 'stale'))!;
        const started = performance.now();
        const next = await state.acquire('L', 10_000, 'next', { timeoutMs: 5000 });
        const waited = performance.now() - started;
        assert.ok(waited >= 80 && waited < 1000, `waited ${waited.toFixed(0)} ms for a 100 ms lease`);
        assert.ok(next.token > stale.token);
        assert.equal(await state.unlock(stale), false);
        assert.equal(await state.lock('L', 10_000, 'third'), undefined, 'the stale unlock must not free the lock');
        assert.equal(await state.unlock(next), true);
      });

      it('should fail with PLUME_ELOCKED, naming the holder, when the wait times out', async () => {
        const state = create();
        await state.lock('L', 60_000, 'holder');
        const started = performance.now();
        await assert.rejects(state.acquire('L', 1000, 'waiter', { timeoutMs: 100 }), (e: PlumeError) => {
          return e.code === 'PLUME_ELOCKED' && /"holder"/.test(e.message);
        });
        const ms = performance.now() - started;
        assert.ok(ms >= 95 && ms < 1000, `gave up after ${ms.toFixed(0)} ms`);
      });

      it('should refuse bad lease arguments naming them', async () => {
        const state = create();
        await assert.rejects(state.lock('L', 0, 'a'), (e: Error) => e instanceof RangeError && /leaseMs/.test(e.message));
        await assert.rejects(state.lock('L', 1000, ''), (e: Error) => e instanceof TypeError && /owner/.test(e.message));
        await assert.rejects(
          state.acquire('L', 1000, 'a', { timeoutMs: -1 }),
          (e: Error) => e instanceof RangeError && /timeoutMs/.test(e.message),
        );
      });
    });

    describe('limits and lifecycle', () => {
      it('should refuse values above maxValueBytes with PLUME_ETOOBIG, and default to 512 MiB', async () => {
        assert.equal(create().maxValueBytes, DEFAULT_MAX_VALUE_BYTES);
        const state = create({ maxValueBytes: 1024 });
        assert.ok((await state.set('k', new Uint8Array(1024))) > 0);
        await assert.rejects(state.set('k', new Uint8Array(1025)), code('PLUME_ETOOBIG'));
        await assert.rejects(state.setRange('k', 1000, new Uint8Array(25)), code('PLUME_ETOOBIG'));
        await assert.rejects(state.compareAndSet('k', 0, new Uint8Array(2000)), code('PLUME_ETOOBIG'));
        await assert.rejects(state.append('k', new Uint8Array(1025)), code('PLUME_ETOOBIG'));
        assert.equal((await state.get('k'))?.value.length, 1024);
        assert.throws(() => create({ maxValueBytes: 0 }), RangeError);
      });

      it('should refuse negative offsets with a RangeError naming them', async () => {
        const state = create();
        await assert.rejects(state.getRange('k', -1, 1), (e: Error) => e instanceof RangeError && /offset/.test(e.message));
        await assert.rejects(state.setRange('k', 1.5, bytes('x')), (e: Error) => e instanceof RangeError && /offset/.test(e.message));
      });

      it('should fail pending waits and later calls with PLUME_ECLOSED after close', async () => {
        const state = create();
        await state.lock('L', 60_000, 'holder');
        const waiting = state.acquire('L', 1000, 'waiter', { timeoutMs: 10_000 });
        await sleep(20);
        await state.close();
        await assert.rejects(waiting, code('PLUME_ECLOSED'));
        await assert.rejects(state.get('k'), code('PLUME_ECLOSED'));
      });
    });
  });
}
