/** The SPSC ring: ordering, wrap-around, refusal when full, and the sleep/wake handshake. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SLEEPING, WAKE } from '../../src/executor/layout.ts';
import { Ring } from '../../src/executor/ring.ts';

const drainAll = (ring: Ring): [number, number, number, string][] => {
  const out: [number, number, number, string][] = [];
  ring.drain((type, id, arg, payload) => out.push([type, id, arg, Buffer.from(payload).toString()]));
  return out;
};

describe('Ring', () => {
  it('should deliver records in order with their fields and payloads', () => {
    const ring = Ring.create(4096);
    assert.ok(ring.write(1, 10, 100, Buffer.from('first')));
    assert.ok(ring.write(2, 11, 101, undefined));
    assert.ok(ring.write(3, 12, 102, Buffer.from('third')));
    assert.deepEqual(drainAll(ring), [
      [1, 10, 100, 'first'],
      [2, 11, 101, ''],
      [3, 12, 102, 'third'],
    ]);
    assert.ok(ring.isEmpty());
  });

  it('should wrap around the end without splitting a record, many times', () => {
    const ring = Ring.create(4096);
    for (let i = 0; i < 2000; i++) {
      const payload = Buffer.from('x'.repeat(i % 700));
      assert.ok(ring.write(1, i, 0, payload), `write ${i} refused`);
      const [[, id, , body]] = drainAll(ring) as [[number, number, number, string]];
      assert.equal(id, i);
      assert.equal(body.length, i % 700);
    }
  });

  it('should refuse a record when full or too big, and accept again once drained', () => {
    const ring = Ring.create(4096);
    assert.equal(ring.write(1, 0, 0, new Uint8Array(ring.maxPayload + 1)), false);
    let n = 0;
    while (ring.write(1, n, 0, new Uint8Array(500))) n++;
    assert.ok(n >= 7 && n <= 8, `fit ${n} records of 500 bytes in 4096`);
    assert.equal(drainAll(ring).length, n);
    assert.ok(ring.write(1, 0, 0, new Uint8Array(500)));
  });

  it('should not sleep when a record was published between the check and the wait', async () => {
    const ring = Ring.create(4096);
    // Force the interleaving: the producer publishes after the consumer read WAKE but before it waits.
    const seqBefore = Atomics.load(ring.control, WAKE);
    ring.write(1, 1, 0, undefined);
    assert.notEqual(Atomics.load(ring.control, WAKE), seqBefore, 'publish must bump WAKE');
    await ring.wait(); // returns at once: the ring is not empty
    assert.equal(Atomics.load(ring.control, SLEEPING), 0);
    assert.equal(drainAll(ring).length, 1);
  });

  it('should wake a consumer sleeping in another thread', async () => {
    const ring = Ring.create(4096);
    const consumer = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       parentPort.on('message', () => {}); // a pending waitAsync alone does not keep a thread alive
       const c = new Int32Array(workerData, 0, 64);
       const seq = Atomics.load(c, ${WAKE});
       Atomics.store(c, ${SLEEPING}, 1);
       parentPort.postMessage('sleeping');
       const r = Atomics.waitAsync(c, ${WAKE}, seq);
       if (r.async) r.value.then((v) => parentPort.postMessage(v));
       else parentPort.postMessage(r.value);`,
      { eval: true, workerData: ring.buffer },
    );
    const messages: string[] = [];
    const woke = new Promise<void>((resolve) =>
      consumer.on('message', (m: string) => {
        messages.push(m);
        if (m === 'sleeping') {
          ring.write(1, 1, 0, undefined);
          ring.wake();
        } else resolve();
      }),
    );
    await woke;
    await consumer.terminate();
    // 'ok': woken by notify; 'not-equal': the publish landed before waitAsync. Either way no wake-up is lost.
    assert.equal(messages[0], 'sleeping');
    assert.ok(['ok', 'not-equal'].includes(messages[1]!), messages[1]);
  });

  it('should reject a capacity that is not a power of two', () => {
    assert.throws(() => Ring.create(5000), RangeError);
  });
});
