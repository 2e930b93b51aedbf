/** Batched functions end to end: a real C guest (bench/guests/batch.c) gets one list per batch. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/index.ts';
import type { InvocationEvent } from '../../src/events.ts';
import { rejection, text } from '../helpers.ts';

const BATCH = fileURLToPath(new URL('../../bench/guests/batch.wasm', import.meta.url));
/** Cheap calls: 100 µs fixed + 10 µs per item. */
const env = { BATCH_FIXED_US: '100', BATCH_ITEM_US: '10' };

describe('batched functions', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('adaptive', BATCH, { env, batch: { mode: 'adaptive' } });
    await plume.deploy('fixed', BATCH, { env, batch: { mode: 'fixed', maxSize: 4, maxWaitMs: 5000, capacity: 1 } });
    await plume.deploy('slow-fixed', BATCH, { env, batch: { mode: 'fixed', maxSize: 10, maxWaitMs: 300 } });
    await plume.deploy('single', BATCH, { env, batch: { mode: 'none' } });
  });
  after(() => plume.close());

  it('should give each caller its own output when a batch runs as one invocation', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => plume.invokeDetailed('adaptive', `item-${i}`)));
    results.forEach((r, i) => assert.equal(text(r.output), `ok:item-${i}`));
    // Two workers take the first two calls alone; the other 18 queue and go as one batch.
    assert.deepEqual(
      results.slice(0, 2).map((r) => r.batchSize),
      [1, 1],
    );
    assert.ok(
      results.slice(2).every((r) => r.batchSize > 1),
      `sizes ${results.map((r) => r.batchSize).join(',')}`,
    );
    assert.ok(results.slice(2).every((r) => r.queuedMs > 0));
  });

  it('should form batches of maxSize under fixed', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => plume.invokeDetailed('fixed', `${i}`)));
    assert.deepEqual(
      results.map((r) => r.batchSize),
      [4, 4, 4, 4, 4, 4, 4, 4],
    );
    assert.deepEqual(
      results.map((r) => text(r.output)),
      ['ok:0', 'ok:1', 'ok:2', 'ok:3', 'ok:4', 'ok:5', 'ok:6', 'ok:7'],
    );
  });

  it('should hand a function deployed with mode none a list of one', async () => {
    const r = await plume.invokeDetailed('single', 'alone');
    assert.equal(text(r.output), 'ok:alone');
    assert.equal(r.batchSize, 1);
  });

  it('should fail every caller of a batch with PLUME_EOUTPUT when the guest outputs one item too few', async () => {
    const errors = await Promise.all(['a', '!short', 'b', 'c'].map((input) => rejection(plume.invoke('fixed', input))));
    for (const e of errors) {
      assert.equal(e.code, 'PLUME_EOUTPUT');
      assert.equal(e.message, "batched function 'fixed' output 3 items for a batch of 4");
    }
  });

  it('should fail every caller with PLUME_EOUTPUT when the guest output is not a list', async () => {
    const errors = await Promise.all(['a', 'b', '!raw', 'c'].map((input) => rejection(plume.invoke('fixed', input))));
    for (const e of errors) {
      assert.equal(e.code, 'PLUME_EOUTPUT');
      assert.match(e.message, /^batched function 'fixed' must output a list of 4 outputs: malformed list/);
    }
  });

  it('should count items waiting for a batch in the queue depth of stats()', async () => {
    const pending = [plume.invoke('slow-fixed', 'x'), plume.invoke('slow-fixed', 'y')];
    assert.equal((await plume.stats())['slow-fixed']?.queueDepth, 2);
    assert.deepEqual((await Promise.all(pending)).map(text), ['ok:x', 'ok:y']);
    assert.equal((await plume.stats())['slow-fixed']?.queueDepth, 0);
  });

  it('should publish one invocation event per caller of a batch', async () => {
    const seen: InvocationEvent[] = [];
    const listener = (m: unknown): void => void seen.push(m as InvocationEvent);
    subscribe('plume:function:invocation', listener);
    try {
      await Promise.all(['1', '2', '3', '4'].map((input) => plume.invoke('fixed', input)));
      await rejection(plume.invoke('nobody'));
    } finally {
      unsubscribe('plume:function:invocation', listener);
    }
    const fixed = seen.filter((e) => e.function === 'fixed');
    assert.equal(fixed.length, 4);
    assert.ok(fixed.every((e) => e.code === 'ok' && e.ms >= e.queuedMs && e.queuedMs >= 0));
  });

  it('should refuse a bad batch option at deploy with an error naming the field', async () => {
    await assert.rejects(plume.deploy('bad', BATCH, { batch: { mode: 'sometimes' as 'none' } }), {
      name: 'TypeError',
      message: /batch\.mode/,
    });
    await assert.rejects(plume.deploy('bad', BATCH, { batch: { mode: 'fixed', maxSize: 0 } }), {
      name: 'RangeError',
      message: /batch\.maxSize/,
    });
    assert.throws(() => plume.describe('bad'), /no function named 'bad'/);
  });
});
