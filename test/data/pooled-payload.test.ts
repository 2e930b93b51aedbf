/**
 * Pooled output chunks: large outputs are packed into reused chunks, payloads are reference counted, and
 * concurrent chains that recycle chunks never see each other's bytes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CHUNK_BYTES, Payload, appendOutput, outputChunks } from '../../src/data/payload.ts';
import { Plume } from '../../src/index.ts';
import { guest, text } from '../helpers.ts';

const KB = 1024;

describe('pooled output chunks', () => {
  it('should keep a small output as exact copies and pack a large one into pooled chunks', () => {
    const small: Uint8Array[] = [];
    appendOutput(small, 0, new Uint8Array(100).fill(1));
    assert.equal(small.length, 1);
    assert.equal(small[0]!.buffer.byteLength, 100);
    assert.ok(!outputChunks.owns(small[0]!.buffer));

    const output: Uint8Array[] = [];
    let bytes = 0;
    for (let i = 0; i < 10; i++) {
      appendOutput(output, bytes, new Uint8Array(64 * KB).fill(i));
      bytes += 64 * KB;
    }
    // The first 16 KiB-sized write already passes the small limit, so all of it is pooled: 640 KiB in
    // 256 KiB chunks, one growing view per chunk.
    assert.deepEqual(
      output.map((c) => [c.byteOffset, c.length]),
      [
        [0, CHUNK_BYTES],
        [0, CHUNK_BYTES],
        [0, 128 * KB],
      ],
    );
    assert.ok(output.every((c) => outputChunks.owns(c.buffer)));
    const payload = new Payload(output, bytes);
    const all = new Uint8Array(bytes);
    assert.equal(payload.read(0, all, 0, bytes), bytes);
    for (let i = 0; i < 10; i++) assert.ok(all.subarray(i * 64 * KB, (i + 1) * 64 * KB).every((b) => b === i));
    const flat = payload.flatten();
    assert.ok(!outputChunks.owns(flat.buffer), 'a flattened copy is never a pooled chunk');
    assert.deepEqual(flat, all);
  });

  it('should give the chunks back when the last holder releases, and refuse use afterwards', () => {
    const output: Uint8Array[] = [];
    appendOutput(output, 0, new Uint8Array(300 * KB).fill(7));
    const payload = new Payload(output);
    const spare = outputChunks.spareBytes;
    payload.retain();
    payload.release();
    assert.equal(outputChunks.spareBytes, spare, 'one holder left');
    payload.release();
    assert.equal(outputChunks.spareBytes, spare + 2 * CHUNK_BYTES);
    payload.release(); // a second release of the last reference changes nothing
    assert.equal(outputChunks.spareBytes, spare + 2 * CHUNK_BYTES);
    assert.throws(() => payload.read(0, new Uint8Array(1), 0, 1), /used after its last holder released it/);
    assert.throws(() => payload.retain(), /retained after its last holder released it/);
    // The next large output reuses them.
    const next: Uint8Array[] = [];
    appendOutput(next, 0, new Uint8Array(20 * KB));
    assert.equal(outputChunks.spareBytes, spare + CHUNK_BYTES);
  });

  it('should leave payloads without pooled chunks to the collector', () => {
    const payload = Payload.of(new Uint8Array([1, 2, 3]));
    payload.release();
    payload.release();
    assert.equal(payload.flatten()[2], 3);
  });

  describe('in chained calls', () => {
    let plume: Plume;
    before(async () => {
      plume = await Plume.start({ workers: 2 });
      await plume.deploy('chain', guest('chain.wasm'), { limits: { timeoutMs: 10_000 } });
    });
    after(async () => {
      await plume?.close();
    });

    it('should carry large outputs through a DAG intact while other chains recycle the chunks', async () => {
      // dag:TEXT: f = #upper(TEXT), g = #reverse(f) started before f settles; run outputs g. Each text
      // is large (pooled) and different, and 40 run at once, so a chunk released too early would show.
      const texts = Array.from({ length: 40 }, (_, i) => {
        const letters = 'abcdefghijklmnopqrstuvwxyz';
        return Array.from({ length: 50 * KB + i * 997 }, (_, j) => letters[(i * 7 + j * 13) % 26]).join('');
      });
      for (let round = 0; round < 3; round++) {
        const outputs = await Promise.all(texts.map((t) => plume.invoke('chain', `dag:${t}`)));
        outputs.forEach((out, i) => assert.equal(text(out), [...texts[i]!.toUpperCase()].reverse().join(''), `chain ${i}`));
      }
    });
  });
});
