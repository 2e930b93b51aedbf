/**
 * The generic Batcher: which batches each policy forms under concurrent submits, results in order, errors
 * to every member; and the adaptive policy's models, fed known numbers. Batches finish when the test says
 * so (a gate), so every interleaving is forced, never slept into.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { PlumeError } from '../../src/errors.ts';
import { adaptiveSize, ArrivalRate, Batcher, checkBatchPolicy, ServiceModel, type BatchPolicy } from '../../src/scheduler/index.ts';
import { rejection } from '../helpers.ts';

interface Pending {
  readonly items: number[];
  readonly finish: (results?: string[]) => void;
  readonly fail: (error: Error) => void;
}

/** A batcher whose batches wait in `batches` until the test finishes them; results are `item×10`. */
function gated(policy: BatchPolicy): { batcher: Batcher<number, string>; batches: Pending[] } {
  const batches: Pending[] = [];
  const batcher = new Batcher<number, string>({
    name: 'gated',
    policy,
    run: (items) =>
      new Promise((resolve, reject) => {
        batches.push({ items, finish: (results) => resolve(results ?? items.map((i) => `${i * 10}`)), fail: reject });
      }),
  });
  return { batcher, batches };
}

const sizes = (batches: Pending[]): number[] => batches.map((b) => b.items.length);
/** Lets settled batches run their continuations (results, the next dispatch). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('should run every item at once, alone, with mode none', async () => {
    const { batcher, batches } = gated({ mode: 'none' });
    const results = [1, 2, 3, 4].map((i) => batcher.submitDetailed(i));
    assert.deepEqual(sizes(batches), [1, 1, 1, 1]);
    for (const b of batches) b.finish();
    const done = await Promise.all(results);
    assert.deepEqual(
      done.map((r) => [r.value, r.batchSize]),
      [
        ['10', 1],
        ['20', 1],
        ['30', 1],
        ['40', 1],
      ],
    );
  });

  it('should form full batches at once and a partial one after maxWaitMs with mode fixed', async () => {
    const { batcher, batches } = gated({ mode: 'fixed', maxSize: 3, maxWaitMs: 40, capacity: 1 });
    const results = [1, 2, 3, 4, 5, 6, 7].map((i) => batcher.submitDetailed(i));
    assert.deepEqual(sizes(batches), [3], 'a full batch goes at once; capacity 1 holds the next');
    assert.equal(batcher.queueDepth, 4);
    batches[0]!.finish();
    await settle();
    assert.deepEqual(sizes(batches), [3, 3]);
    batches[1]!.finish();
    await settle();
    assert.deepEqual(sizes(batches), [3, 3], 'the last item waits for more');
    while (batches.length < 3) await new Promise((r) => setTimeout(r, 5));
    batches[2]!.finish();
    const done = await Promise.all(results);
    assert.deepEqual(
      done.map((r) => r.value),
      ['10', '20', '30', '40', '50', '60', '70'],
    );
    assert.deepEqual(
      done.map((r) => r.batchSize),
      [3, 3, 3, 3, 3, 3, 1],
    );
    assert.ok(done[6]!.queuedMs >= 39, `the lone item waited ${done[6]!.queuedMs} ms`);
  });

  it('should dispatch at once while capacity is free and batch the backlog with mode adaptive', async () => {
    const { batcher, batches } = gated({ mode: 'adaptive', capacity: 2 });
    const results = [1, 2, 3, 4, 5, 6, 7].map((i) => batcher.submitDetailed(i));
    assert.deepEqual(sizes(batches), [1, 1], 'two free slots: the first two run alone, at once');
    assert.equal(batcher.queueDepth, 5);
    batches[0]!.finish();
    await settle();
    assert.deepEqual(sizes(batches), [1, 1, 5], 'a freed slot takes the whole backlog');
    batches[1]!.finish();
    batches[2]!.finish();
    const done = await Promise.all(results);
    assert.deepEqual(
      done.map((r) => r.value),
      ['10', '20', '30', '40', '50', '60', '70'],
    );
    assert.equal(done[0]!.queuedMs < 5, true, 'no wait while a slot is free');
  });

  it('should cap adaptive batches at maxSize', async () => {
    const { batcher, batches } = gated({ mode: 'adaptive', capacity: 1, maxSize: 4 });
    const results = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => batcher.submit(i));
    batches[0]!.finish();
    await settle();
    batches[1]!.finish();
    await settle();
    batches[2]!.finish();
    await settle();
    assert.deepEqual(sizes(batches), [1, 4, 4, 1]);
    batches[3]!.finish();
    assert.equal((await Promise.all(results)).length, 10);
  });

  it('should fail every member of a batch with the error of its run', async () => {
    const { batcher, batches } = gated({ mode: 'fixed', maxSize: 3, maxWaitMs: 1000 });
    const results = [1, 2, 3].map((i) => rejection(batcher.submit(i)));
    batches[0]!.fail(new PlumeError('PLUME_ETRAP', 'the batch trapped'));
    for (const error of await Promise.all(results)) {
      assert.equal(error.code, 'PLUME_ETRAP');
      assert.equal(error.message, 'the batch trapped');
    }
  });

  it('should fail every member with PLUME_EOUTPUT when run returns the wrong number of results', async () => {
    const { batcher, batches } = gated({ mode: 'fixed', maxSize: 3, maxWaitMs: 1000 });
    const results = [1, 2, 3].map((i) => rejection(batcher.submit(i)));
    batches[0]!.finish(['only one']);
    for (const error of await Promise.all(results)) {
      assert.equal(error.code, 'PLUME_EOUTPUT');
      assert.match(error.message, /'gated' returned 1 results for a batch of 3/);
    }
  });

  it('should keep serving after a batch failed', async () => {
    const { batcher, batches } = gated({ mode: 'adaptive', capacity: 1 });
    const failed = assert.rejects(batcher.submit(1), /boom/);
    const later = batcher.submit(2);
    batches[0]!.fail(new Error('boom'));
    await failed;
    await settle();
    batches[1]!.finish();
    assert.equal(await later, '20');
  });

  it('should fail queued items with PLUME_ECLOSED on close, and refuse new ones', async () => {
    const { batcher } = gated({ mode: 'fixed', maxSize: 10, maxWaitMs: 1000 });
    const queued = rejection(batcher.submit(1));
    batcher.close();
    assert.equal((await queued).code, 'PLUME_ECLOSED');
    assert.equal((await rejection(batcher.submit(2))).code, 'PLUME_ECLOSED');
  });

  it('should publish plume:batch:formed with the size and the wait of each batch', async () => {
    const seen: unknown[] = [];
    const listener = (message: unknown): void => void seen.push(message);
    subscribe('plume:batch:formed', listener);
    try {
      const { batcher, batches } = gated({ mode: 'adaptive', capacity: 1 });
      const results = [1, 2, 3].map((i) => batcher.submit(i));
      batches[0]!.finish();
      await settle();
      batches[1]!.finish();
      await Promise.all(results);
    } finally {
      unsubscribe('plume:batch:formed', listener);
    }
    assert.deepEqual(
      seen.map((m) => [(m as { function: string }).function, (m as { size: number }).size]),
      [
        ['gated', 1],
        ['gated', 2],
      ],
    );
  });

  it('should refuse a bad policy with an error naming the field', () => {
    assert.throws(() => checkBatchPolicy({ mode: 'sometimes' as 'none' }), { name: 'TypeError', message: /batch\.mode/ });
    assert.throws(() => checkBatchPolicy({ mode: 'fixed', maxSize: 0 }), { name: 'RangeError', message: /batch\.maxSize/ });
    assert.throws(() => checkBatchPolicy({ mode: 'fixed', maxWaitMs: -1 }), { name: 'RangeError', message: /batch\.maxWaitMs/ });
    assert.throws(() => checkBatchPolicy({ mode: 'adaptive', targetP90Ms: 0 }), { name: 'RangeError', message: /batch\.targetP90Ms/ });
    assert.throws(() => checkBatchPolicy({ mode: 'adaptive', capacity: 1.5 }), { name: 'RangeError', message: /batch\.capacity/ });
  });
});

describe('adaptive batching model', () => {
  it('should fit the fixed and per-item cost from batch durations', () => {
    const model = new ServiceModel();
    for (const n of [1, 5, 10, 3, 8, 2]) model.observe(n, 2 + 0.2 * n);
    assert.ok(Math.abs(model.fixedMs - 2) < 1e-6, `fixed ${model.fixedMs}`);
    assert.ok(Math.abs(model.perItemMs - 0.2) < 1e-6, `per item ${model.perItemMs}`);
    assert.ok(Math.abs(model.cost(20) - 6) < 1e-6);
  });

  it('should assume the whole cost is per item until batch sizes vary', () => {
    const model = new ServiceModel();
    for (let i = 0; i < 5; i++) model.observe(1, 2.2);
    assert.equal(model.fixedMs, 0);
    assert.ok(Math.abs(model.perItemMs - 2.2) < 1e-9);
  });

  it('should follow a cost that changes', () => {
    const model = new ServiceModel();
    for (const n of [1, 5, 10, 3]) model.observe(n, 2 + 0.2 * n);
    for (let i = 0; i < 400; i++) model.observe((i % 10) + 1, 4 + 0.4 * ((i % 10) + 1));
    assert.ok(Math.abs(model.fixedMs - 4) < 0.01 && Math.abs(model.perItemMs - 0.4) < 0.01, `${model.fixedMs} + ${model.perItemMs}`);
  });

  it('should measure the arrival rate', () => {
    const rate = new ArrivalRate(500);
    for (let t = 0; t < 5000; t += 0.5) rate.arrive(t);
    assert.ok(Math.abs(rate.at(5000) - 2) < 0.05, `rate ${rate.at(5000)} per ms`);
    assert.ok(rate.at(10_000) < 0.01, 'the rate decays once arrivals stop');
  });

  it('should cap the size by the latency objective, and let stability override it', () => {
    const base = { maxSize: 32, capacity: 2, fixedMs: 2, perItemMs: 0.2, targetP90Ms: 10 };
    // p90 ≈ cost(n) × (1 + 1/2) ≤ 10 → cost ≤ 6.67 ms → n ≤ 23
    assert.equal(adaptiveSize({ ...base, rate: 0.5 }), 23);
    // 6 per ms (7.5 with headroom) needs n ≥ 7.5 × 2 / (2 − 7.5 × 0.2) = 30
    assert.equal(adaptiveSize({ ...base, rate: 6 }), 30);
    // past what any batch size serves: as big as allowed
    assert.equal(adaptiveSize({ ...base, rate: 10 }), 32);
    assert.equal(adaptiveSize({ ...base, rate: 0.5, targetP90Ms: undefined }), 32, 'no objective: maxSize');
    assert.equal(adaptiveSize({ ...base, rate: 0, targetP90Ms: 1 }), 1, 'never below one');
  });
});
