/** Affinity-aware placement: a chain stays on one worker under light load and spreads under heavy load. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/index.ts';
import {
  COLOCATE_SLACK,
  OVERDUE_FACTOR,
  OVERDUE_FLOOR_MS,
  OVERDUE_UNKNOWN_MS,
  overdueAfterMs,
  placeCall,
  TINY_PACK_LIMIT,
} from '../../src/scheduler/index.ts';
import { example, guest, root, text } from '../helpers.ts';
import { join } from 'node:path';

const bench = (file: string): string => join(root, 'bench', file);

/** The decision without its `stuck` flag (tested on its own below). */
const place = (...args: Parameters<typeof placeCall>) => {
  const { worker, placement } = placeCall(...args);
  return { worker, placement };
};

describe('placeCall', () => {
  it('should stay on the hinted worker while its load is within the slack of the least loaded', () => {
    assert.deepEqual(place([0, 0, 0], 2), { worker: 2, placement: 'colocated' });
    assert.deepEqual(place([5, 3, 5], 0, { slack: 2 }), { worker: 0, placement: 'colocated' });
  });

  it('should spread to the least loaded worker once the hinted one is busier than the slack allows', () => {
    assert.deepEqual(place([6, 3, 4], 0, { slack: 2 }), { worker: 1, placement: 'spread' });
  });

  it('should pick the least loaded worker (lowest index on a tie) without a hint', () => {
    assert.deepEqual(place([2, 1, 1]), { worker: 1, placement: 'any' });
  });

  it('should send a tiny call to the busiest worker below the pack limit, not wake an idle one', () => {
    assert.deepEqual(place([0, 0], undefined, { tiny: true }), { worker: 0, placement: 'any' });
    assert.deepEqual(place([0, 3, 1], undefined, { tiny: true }), { worker: 1, placement: 'any' });
    assert.deepEqual(place([TINY_PACK_LIMIT, 2, 0], undefined, { tiny: true }), { worker: 1, placement: 'any' });
    assert.deepEqual(place([TINY_PACK_LIMIT, TINY_PACK_LIMIT + 1], undefined, { tiny: true }), { worker: 0, placement: 'any' });
    // A hint still wins: the chain's worker, within the slack.
    assert.deepEqual(place([3, 0], 1, { tiny: true }), { worker: 1, placement: 'colocated' });
  });

  it('should give a worker over its memory limit no calls while another has room, hinted ones included', () => {
    const full = [true, false, false];
    assert.deepEqual(place([0, 2, 1], undefined, { avoid: full }), { worker: 2, placement: 'any' });
    assert.deepEqual(place([0, 2, 1], 0, { avoid: full }), { worker: 2, placement: 'spread' });
    assert.deepEqual(place([0, 2, 1], undefined, { avoid: full, tiny: true }), { worker: 1, placement: 'any' });
    // Every worker over its limit: memory no longer decides, load does.
    assert.deepEqual(place([3, 1], undefined, { avoid: [true, true] }), { worker: 1, placement: 'any' });
    assert.deepEqual(place([3, 1], 0, { avoid: [true, true], slack: 2 }), { worker: 0, placement: 'colocated' });
  });

  it('should never queue a tiny call behind a worker whose running call is not tiny', () => {
    // Worker 1 is the busiest, but runs a long call: the tiny call joins worker 2, which runs tiny ones.
    assert.deepEqual(place([0, 3, 1], undefined, { tiny: true, joinable: [true, false, true] }), { worker: 2, placement: 'any' });
    // No joinable worker: the least loaded one that is not avoided.
    assert.deepEqual(place([2, 1], undefined, { tiny: true, joinable: [false, false] }), { worker: 1, placement: 'any' });
  });

  it('should send a call without a hint to the worker that ran its function last when it is among the least loaded', () => {
    assert.deepEqual(place([0, 0], undefined, { warm: 1 }), { worker: 1, placement: 'any' });
    assert.deepEqual(place([1, 2, 1], undefined, { warm: 2 }), { worker: 2, placement: 'any' });
    // Never to a busier worker: calls of one function that come together still spread.
    assert.deepEqual(place([1, 0], undefined, { warm: 0 }), { worker: 1, placement: 'any' });
    assert.deepEqual(place([0, 0], undefined, { warm: 1, avoid: [false, true] }), { worker: 0, placement: 'any' });
    // A hint wins over it, and a tiny call packs as before.
    assert.deepEqual(place([0, 0], 1, { warm: 0 }), { worker: 1, placement: 'colocated' });
    assert.deepEqual(place([0, 3], undefined, { warm: 0, tiny: true }), { worker: 1, placement: 'any' });
  });

  it('should say when every worker is avoided (stuck), and only then', () => {
    assert.equal(placeCall([1, 1], undefined, { avoid: [true, false] }).stuck, false);
    assert.equal(placeCall([1, 1], undefined, { avoid: [true, true] }).stuck, true);
    assert.equal(placeCall([1, 1]).stuck, false);
  });
});

describe('overdueAfterMs', () => {
  it('should give a function its usual time times the factor, never below the floor, and unknown ones more', () => {
    assert.equal(overdueAfterMs(100_000), 100 * OVERDUE_FACTOR);
    assert.equal(overdueAfterMs(10), OVERDUE_FLOOR_MS);
    assert.equal(overdueAfterMs(undefined), OVERDUE_UNKNOWN_MS);
  });
});

describe('placement by memory (workerMemoryMb)', () => {
  it('should send calls away from a worker that holds more memory than its limit', async () => {
    const plume = await Plume.start({ workers: 2, workerMemoryMb: 40 });
    try {
      const limits = { maxOutputBytes: 64 * 1024 * 1024, memoryMb: 64 };
      await plume.deploy('produce', bench('guests/transfer.wasm'), { entry: 'produce', limits });
      await plume.deploy('echo', example('c-echo/echo.wasm'));
      // Worker 0 grows an instance to 48 MiB, which stays with the idle instance.
      assert.equal((await plume.invokeDetailed('produce', String(48 * 1024 * 1024), { near: 0 })).worker, 0);
      await new Promise((resolve) => setTimeout(resolve, 150)); // the worker publishes its memory (every 50 ms when idle)
      for (let i = 0; i < 4; i++) {
        const r = await plume.invokeDetailed('echo', 'ab', i % 2 ? { near: 0 } : {});
        assert.equal(text(r.output), 'ba');
        assert.equal(r.worker, 1, `call ${i} ran on worker ${r.worker}`);
      }
    } finally {
      await plume.close();
    }
  });

  it('should refuse a limit that is not a positive number of MiB', async () => {
    await assert.rejects(Plume.start({ workerMemoryMb: 0 }), {
      name: 'RangeError',
      message: /workerMemoryMb must be a positive number of MiB, got 0/,
    });
  });
});

describe('placement through the runtime', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('echo', example('c-echo/echo.wasm'));
    await plume.deploy('conf', guest('conformance-c.wasm'));
    await plume.deploy('noop', example('noop/noop.wasm'));
  });
  after(() => plume.close());

  it('should keep a chain of steps on one worker under light load', async () => {
    let near = 1;
    let data = 'chain';
    for (let step = 0; step < 6; step++) {
      const r = await plume.invokeDetailed('echo', data, { near });
      assert.equal(r.worker, 1, `step ${step} ran on worker ${r.worker}`);
      assert.equal(r.placement, 'colocated');
      near = r.worker;
      data = text(r.output);
    }
    assert.equal(data, 'chain', 'six reversals give the input back');
  });

  it('should spread calls hinted at one worker when they pile up there', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, () => plume.invokeDetailed('conf', 'sleep:20', { near: 0 })));
    assert.ok(results.every((r) => text(r.output) === 'slept'));
    const onZero = results.filter((r) => r.worker === 0).length;
    const spread = results.filter((r) => r.placement === 'spread');
    assert.ok(spread.length > 0 && spread.every((r) => r.worker === 1), 'spread calls go to the other worker');
    // Worker 0 keeps at most COLOCATE_SLACK calls more than worker 1.
    assert.ok(onZero - (40 - onZero) <= COLOCATE_SLACK + 1, `${onZero} of 40 on worker 0`);
  });

  // Which worker a tiny call joins depends on how fast the machine runs it (its mean run time), so the
  // packing rule is tested on placeCall above; here only what holds on any machine.
  it('should complete concurrent tiny calls, and spread calls that run long over both workers', async () => {
    for (let i = 0; i < 5; i++) await plume.invoke('noop');
    const tiny = await Promise.all(Array.from({ length: 12 }, () => plume.invokeDetailed('noop')));
    for (const r of tiny) assert.equal(r.placement, 'any');
    // Four calls that each wait 20 ms are in flight together: the least loaded worker takes each in turn.
    const slow = await Promise.all(Array.from({ length: 4 }, () => plume.invokeDetailed('conf', 'sleep:20')));
    assert.deepEqual(new Set(slow.map((r) => r.worker)), new Set([0, 1]));
  });

  it("should send a function's next call to the worker that holds its idle instance, warm", async () => {
    await plume.deploy('affine', guest('conformance-c.wasm'));
    // Calls that wait are never tiny (tiny calls pack by their own rule).
    const first = await plume.invokeDetailed('affine', 'sleep:1', { near: 1 });
    assert.deepEqual([first.worker, first.cold], [1, true]);
    // Both workers are idle: without its instance there, the call would go to worker 0 and create one.
    const next = await plume.invokeDetailed('affine', 'sleep:1');
    assert.deepEqual([next.worker, next.cold, text(next.output)], [1, false, 'slept']);
    // Busier than the other, that worker is passed over.
    const sleepers = [plume.invoke('conf', 'sleep:200', { near: 1 })];
    const away = await plume.invokeDetailed('affine', 'sleep:1');
    assert.equal(away.worker, 0);
    await Promise.all(sleepers);
  });

  it("should say 'any' when no worker was hinted", async () => {
    assert.equal((await plume.invokeDetailed('echo', 'x')).placement, 'any');
  });

  it('should refuse a hint that names no worker', async () => {
    await assert.rejects(plume.invokeDetailed('echo', 'x', { near: 2 }), {
      name: 'RangeError',
      message: /near must be a worker index from 0 to 1, got 2/,
    });
    await assert.rejects(plume.invokeDetailed('echo', 'x', { near: -1 }), { name: 'RangeError', message: /near/ });
  });
});
