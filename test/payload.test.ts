/** Payload: range reads across chunk boundaries, in any order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Payload } from '../src/data/payload.ts';

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
});
