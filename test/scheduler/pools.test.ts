/** Warm pools: grow with concurrency, shrink when idle (to minWarm, or to zero keeping the snapshot); stats and events. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { Plume, type FunctionStats } from '../../src/index.ts';
import type { InvocationEvent, TransferEvent } from '../../src/events.ts';
import { guest, rejection, text } from '../helpers.ts';

/** Polls stats() until `ok` holds (idle trimming runs on the workers' timers). */
async function until(plume: Plume, name: string, ok: (s: FunctionStats) => boolean, ms = 5000): Promise<FunctionStats> {
  const deadline = performance.now() + ms;
  for (;;) {
    const s = (await plume.stats())[name]!;
    if (ok(s) || performance.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Eight calls that sleep at once (suspended guests): each needs its own instance. */
const burst = (plume: Plume, name: string): Promise<unknown> =>
  Promise.all(Array.from({ length: 8 }, () => plume.invoke(name, 'sleep:30')));

describe('warm pools', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
  });
  after(() => plume.close());

  it('should mark the first call cold and the next one on the same worker warm', async () => {
    await plume.deploy('warm', guest('conformance-c.wasm'));
    const first = await plume.invokeDetailed('warm', 'echo:a', { near: 0 });
    const second = await plume.invokeDetailed('warm', 'echo:b', { near: 0 });
    assert.deepEqual([first.cold, second.cold], [true, false]);
    const stats = (await plume.stats())['warm']!;
    assert.equal(stats.coldStarts, 1);
    assert.equal(stats.invocations, 2);
  });

  it('should grow with concurrency and shrink to zero when idle, keeping the snapshot', async () => {
    await plume.deploy('shrink', guest('conformance-c.wasm'), { idleMs: 150 });
    await burst(plume, 'shrink');
    const grown = (await plume.stats())['shrink']!;
    assert.ok(grown.instances.idle >= 8, `idle after the burst: ${grown.instances.idle}`);
    assert.equal(grown.instances.busy, 0);
    const trimmed = await until(plume, 'shrink', (s) => s.instances.idle === 0);
    assert.equal(trimmed.instances.idle, 0, 'every idle instance was dropped');
    const next = await plume.invokeDetailed('shrink', 'echo:back');
    assert.equal(text(next.output), 'back');
    assert.equal(next.cold, true, 'the call after scale-to-zero restores a new instance');
  });

  it('should keep minWarm instances on each worker from deploy on, however long they stay idle', async () => {
    await plume.deploy('kept', guest('conformance-c.wasm'), { idleMs: 100, minWarm: 2 });
    assert.equal((await plume.stats())['kept']!.instances.idle, 4, 'two per worker, made at deploy');
    const first = await plume.invokeDetailed('kept', 'echo:x');
    assert.equal(first.cold, false);
    await burst(plume, 'kept');
    const trimmed = await until(plume, 'kept', (s) => s.instances.idle <= 4);
    assert.equal(trimmed.instances.idle, 4);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await plume.stats())['kept']!.instances.idle, 4, 'still there three idle periods later');
  });

  it('should count busy instances and queued calls while they wait', async () => {
    await plume.deploy('limited', guest('conformance-c.wasm'), { limits: { maxConcurrency: 2 } });
    const calls = Array.from({ length: 5 }, () => plume.invokeDetailed('limited', 'sleep:150'));
    const during = await until(plume, 'limited', (s) => s.instances.busy === 2);
    assert.equal(during.instances.busy, 2);
    assert.equal(during.queueDepth, 3);
    const results = await Promise.all(calls);
    assert.ok(
      results.slice(2).every((r) => r.queuedMs >= 100),
      `queued ${results.map((r) => r.queuedMs.toFixed(0)).join(',')} ms`,
    );
    assert.equal((await plume.stats())['limited']!.queueDepth, 0);
  });

  it('should refuse bad pool options with an error naming them', async () => {
    await assert.rejects(plume.deploy('bad', guest('conformance-c.wasm'), { idleMs: 0 }), { name: 'RangeError', message: /idleMs/ });
    await assert.rejects(plume.deploy('bad', guest('conformance-c.wasm'), { minWarm: -1 }), { name: 'RangeError', message: /minWarm/ });
  });

  it('should publish invocation events with code, queue time and cold flag, and transfer events per hop', async () => {
    await plume.deploy('chain', guest('chain.wasm'));
    const invocations: InvocationEvent[] = [];
    const transfers: TransferEvent[] = [];
    const onInvocation = (m: unknown): void => void invocations.push(m as InvocationEvent);
    const onTransfer = (m: unknown): void => void transfers.push(m as TransferEvent);
    subscribe('plume:function:invocation', onInvocation);
    subscribe('plume:data:transfer', onTransfer);
    try {
      assert.equal(text(await plume.invoke('chain', 'dag:abcdef')), 'FEDCBA');
      await rejection(plume.invoke('warm', 'fail'));
    } finally {
      unsubscribe('plume:function:invocation', onInvocation);
      unsubscribe('plume:data:transfer', onTransfer);
    }
    assert.deepEqual(
      invocations.map((e) => [e.function, e.code]),
      [
        ['chain', 'ok'],
        ['warm', 'PLUME_EFAILED'],
      ],
    );
    assert.equal(invocations[0]!.cold, true);
    assert.deepEqual(transfers, [
      { mode: 'embedded', bytesMoved: 6, bytesCopied: 6 },
      { mode: 'embedded', bytesMoved: 6, bytesCopied: 6 },
    ]);
  });
});
