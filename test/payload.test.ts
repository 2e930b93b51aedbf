/** Payload: range reads across chunk boundaries, in any order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Payload, appendOutput } from '../src/data/payload.ts';

describe('Payload', () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 300), bytes.subarray(300, 300), bytes.subarray(300, 777), bytes.subarray(777)];
  const payload = new Payload(chunks);

  it('should read any range across chunk boundaries, forwards and backwards', () => {
    assert.equal(payload.length, 1000);
    for (const [offset, len] of [
      [0, 1000],
      [0, 1],
      [299, 3],
      [776, 10],
      [999, 5],
      [150, 700],
      [10, 20],
      [1000, 4],
      [1200, 4],
    ] as const) {
      const dst = new Uint8Array(len + 2);
      const n = payload.read(offset, dst, 1, len);
      const expected = bytes.subarray(Math.min(offset, 1000), Math.min(offset + len, 1000));
      assert.equal(n, expected.length, `read(${offset}, ${len})`);
      assert.deepEqual(dst.subarray(1, 1 + n), expected);
    }
  });

  it('should read sequentially in small steps and flatten once', () => {
    const out = new Uint8Array(1000);
    for (let at = 0; at < 1000; at += 7) payload.read(at, out, at, 7);
    assert.deepEqual(out, bytes);
    assert.deepEqual(payload.flatten(), bytes);
    assert.equal(payload.flatten(), payload.flatten());
  });

  it('should copy ranges in and out of shared memory (a shared guest memory, a shared input)', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(64 * 1024));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 7) % 256;
    const output: Uint8Array[] = [];
    // Past the small-output limit, from an offset: pooled chunks filled from the shared source.
    appendOutput(output, 0, shared, 100, 40_100, true);
    appendOutput(output, 40_000, shared, 0, 10);
    const payload = new Payload(output, 40_010);
    const into = new Uint8Array(new SharedArrayBuffer(40_020));
    assert.equal(payload.read(0, into, 5, 40_010, true), 40_010);
    assert.deepEqual(into.subarray(5, 40_005), shared.subarray(100, 40_100));
    assert.deepEqual(into.subarray(40_005, 40_015), shared.subarray(0, 10));
    const fromShared = new Payload([shared.subarray(10, 20), shared.subarray(0, 5)]);
    const out = new Uint8Array(15);
    assert.equal(fromShared.read(3, out, 0, 15), 12);
    assert.deepEqual(out.subarray(0, 12), Uint8Array.from([...shared.subarray(13, 20), ...shared.subarray(0, 5)]));
    payload.release();
  });
});
