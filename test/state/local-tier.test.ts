/** The local tier: chunked SharedArrayBuffer copies, dirty-chunk push, shared read-only values, Redis outages. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PlumeError } from '../../src/errors.ts';
import type { StateKey } from '../../src/state/backend.ts';
import { DEFAULT_CHUNK_BYTES, LocalTier } from '../../src/state/local-tier.ts';
import { MemoryBackend } from '../../src/state/memory-backend.ts';
import { RedisBackend } from '../../src/state/redis-backend.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';

const C = DEFAULT_CHUNK_BYTES;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const pattern = (length: number, seed = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (i + seed) % 251);

/** A real MemoryBackend that also records which ranges it was asked to write and how often it was read. */
class RecordingBackend extends MemoryBackend {
  setRanges: [offset: number, length: number][] = [];
  gets = 0;

  override async setRange(key: StateKey, offset: number, data: Uint8Array): Promise<number> {
    this.setRanges.push([offset, data.length]);
    return super.setRange(key, offset, data);
  }

  override async get(key: StateKey): Promise<Awaited<ReturnType<MemoryBackend['get']>>> {
    this.gets++;
    return super.get(key);
  }
}

describe('LocalTier', () => {
  it('should push only the dirty chunks, one setRange per run of adjacent chunks', async () => {
    const global = new RecordingBackend();
    const tier = new LocalTier(global);
    const original = pattern(10 * C);
    await global.set('model', original);
    assert.ok((await tier.pull('model'))! > 0);

    await global.setRange('model', 8 * C, bytes('another node wrote this chunk'));
    tier.write('model', 2 * C + 10, bytes('abc'));
    tier.write('model', 6 * C - 2, bytes('wxyz')); // the last bytes of chunk 5, the first of chunk 6
    global.setRanges = [];
    const version = await tier.push('model');

    assert.deepEqual(global.setRanges, [
      [2 * C, C],
      [5 * C, 2 * C],
    ]);
    const expected = original.slice();
    expected.set(bytes('abc'), 2 * C + 10);
    expected.set(bytes('wxyz'), 6 * C - 2);
    expected.set(bytes('another node wrote this chunk'), 8 * C);
    assert.deepEqual(await global.get('model'), { value: expected, version });
    assert.equal(await tier.push('model'), undefined, 'nothing is dirty after a push');
    assert.equal(global.setRanges.length, 2);
  });

  it('should grow a value past its end, reading zeros in between, and push only the new chunk', async () => {
    const global = new RecordingBackend();
    const tier = new LocalTier(global);
    await global.set('k', pattern(100));
    await tier.pull('k');
    tier.write('k', 3 * C + 5, bytes('tail'));
    assert.equal(tier.size('k'), 3 * C + 9);
    assert.deepEqual(tier.read('k', 100, 8), new Uint8Array(8));
    await tier.push('k');
    assert.deepEqual(global.setRanges, [[3 * C, 9]]);
    const value = (await global.get('k'))!.value;
    assert.equal(value.length, 3 * C + 9);
    assert.deepEqual(value.subarray(0, 100), pattern(100));
    assert.deepEqual(value.subarray(100, 3 * C + 5), new Uint8Array(3 * C - 95));
  });

  it('should read and write locally, cut reads at the end, and hold values in growable shared chunks', () => {
    const tier = new LocalTier(new MemoryBackend(), { chunkBytes: 4 });
    assert.equal(tier.read('k', 0, 4), undefined);
    tier.write('k', 2, bytes('hello'));
    assert.deepEqual(tier.read('k', 0, 100), new Uint8Array([0, 0, ...bytes('hello')]));
    assert.deepEqual(tier.read('k', 50, 4), new Uint8Array(0));
    const chunks = tier.chunks('k')!;
    assert.deepEqual(
      chunks.map((c) => [c instanceof SharedArrayBuffer, c.byteLength, c.maxByteLength]),
      [
        [true, 4, 4],
        [true, 3, 4],
      ],
    );
    assert.throws(
      () => new LocalTier(new MemoryBackend(), { chunkBytes: 0 }),
      (e: Error) => e instanceof RangeError && /chunkBytes/.test(e.message),
    );
  });

  it('should replace local writes on pull, rewriting the same chunks in place, and drop a key gone globally', async () => {
    const global = new MemoryBackend();
    const tier = new LocalTier(global, { chunkBytes: 4 });
    const v1 = await global.set('k', bytes('abcdefgh'));
    assert.equal(await tier.pull('k'), v1);
    const before = tier.chunks('k')!;
    tier.write('k', 0, bytes('XY'));
    const v2 = await global.set('k', bytes('12345'));
    assert.equal(await tier.pull('k'), v2);
    assert.deepEqual(tier.read('k', 0, 100), bytes('12345'));
    assert.equal(tier.chunks('k')![0], before[0], 'views of a chunk stay valid across pulls');
    assert.deepEqual(new Uint8Array(before[1]!), new Uint8Array([0x35, 0, 0, 0]), 'bytes past the end are zero');
    assert.equal(await tier.push('k'), undefined, 'pull discarded the unpushed write');
    await global.delete('k');
    assert.equal(await tier.pull('k'), undefined);
    assert.equal(tier.size('k'), undefined);
  });

  it('should refuse a local write past the backend’s maxValueBytes with PLUME_ETOOBIG', () => {
    const tier = new LocalTier(new MemoryBackend({ maxValueBytes: 1024 }));
    tier.write('k', 1020, new Uint8Array(4));
    assert.throws(
      () => tier.write('k', 1020, new Uint8Array(5)),
      (e: PlumeError) => e.code === 'PLUME_ETOOBIG',
    );
  });

  it('should give every caller the same SharedArrayBuffer for a read-only value, fetched once', async () => {
    const global = new RecordingBackend();
    const tier = new LocalTier(global);
    const weights = pattern(3 * C + 7);
    await global.set('weights', weights);
    const [a, b, c] = await Promise.all([tier.readOnlyShared('weights'), tier.readOnlyShared('weights'), tier.readOnlyShared('weights')]);
    const later = await tier.readOnlyShared(new TextEncoder().encode('weights'));
    assert.ok(a instanceof SharedArrayBuffer);
    for (const other of [b, c, later]) assert.equal(other, a);
    assert.deepEqual(new Uint8Array(a), weights);
    assert.equal(global.gets, 1);

    assert.equal(await tier.readOnlyShared('dictionary'), undefined);
    await global.set('dictionary', bytes('a b c'));
    assert.deepEqual(new Uint8Array((await tier.readOnlyShared('dictionary'))!), bytes('a b c'), 'a missing key is not remembered');
  });

  describe('over Redis', () => {
    let server: RedisServer;
    before(async () => {
      server = await startRedis();
    });
    after(async () => {
      await server.stop();
    });

    it('should round-trip a multi-chunk value from one node’s tier to another’s', async () => {
      const nodeA = new RedisBackend({ url: server.url, prefix: 'roundtrip:' });
      const nodeB = new RedisBackend({ url: server.url, prefix: 'roundtrip:' });
      try {
        const tierA = new LocalTier(nodeA);
        const tierB = new LocalTier(nodeB);
        const value = pattern(3 * C + 3, 7);
        tierA.write('k', 0, value);
        const pushed = await tierA.push('k');
        assert.equal(await tierB.pull('k'), pushed);
        assert.deepEqual(tierB.read('k', 0, value.length), value);

        tierB.write('k', C + 1, bytes('from B'));
        await tierB.push('k');
        await tierA.pull('k');
        assert.deepEqual(tierA.read('k', C + 1, 6), bytes('from B'));
        assert.deepEqual(tierA.read('k', 0, C), value.subarray(0, C));
      } finally {
        await Promise.all([nodeA.close(), nodeB.close()]);
      }
    });

    it('should keep reading and writing locally while Redis is down, and push the dirty chunks once it is back', async () => {
      const own = await startRedis();
      const global = new RedisBackend({ url: own.url });
      try {
        const tier = new LocalTier(global);
        await global.set('k', pattern(2 * C));
        await tier.pull('k');
        await own.stop();

        tier.write('k', C + 4, bytes('offline'));
        assert.deepEqual(tier.read('k', C + 4, 7), bytes('offline'));
        assert.deepEqual(tier.read('k', 0, 4), pattern(4));
        const down = (e: PlumeError) => e.code === 'PLUME_ESTATE_UNAVAILABLE';
        await assert.rejects(tier.push('k'), down);
        await assert.rejects(tier.pull('k'), down);
        await assert.rejects(tier.readOnlyShared('weights'), down);
        assert.deepEqual(tier.read('k', C + 4, 7), bytes('offline'), 'a failed pull leaves the local copy alone');

        // The restarted Redis is empty, so after the push it holds exactly what was sent: the dirty chunk.
        await own.restart();
        const version = await eventually(() => tier.push('k'));
        const value = (await global.get('k'))!;
        assert.equal(value.version, version);
        assert.deepEqual(value.value.subarray(0, C), new Uint8Array(C));
        assert.deepEqual(value.value.subarray(C), tier.read('k', C, C));
      } finally {
        await global.close();
        await own.stop();
      }
    });
  });
});
