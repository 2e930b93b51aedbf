/** Hostile guests beside well-behaved ones: every well-behaved invocation succeeds, every hostile one fails clearly. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume, PlumeError } from '../src/index.ts';
import { benchGuest, example, guest, text } from './helpers.ts';

describe('isolation and limits', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('hostile', benchGuest('hostile.wasm'), { limits: { timeoutMs: 300, memoryMb: 16, maxOutputBytes: 1024 * 1024 } });
    await plume.deploy('hello', example('hello/hello.wasm'));
  });
  after(() => plume.close());

  const fails = (input: string, code: string, pattern: RegExp) =>
    assert.rejects(plume.invoke('hostile', input), (e: PlumeError) => {
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      assert.match(e.message, /'hostile'/);
      return true;
    });

  it('should turn traps into errors naming the function and the trap', async () => {
    await fails('trap', 'PLUME_ETRAP', /unreachable/);
    await fails('stack', 'PLUME_ETRAP', /stack overflow/);
  });

  it('should stop memory.grow at the limit', async () => {
    // The guest sees memory.grow return -1 and reports it itself; malloc until NULL ends at the limit.
    await fails('grow', 'PLUME_EFAILED', /memory\.grow failed/);
    await fails('oom', 'PLUME_EMEMORY', /16 MB/);
  });

  it('should stop output at the limit', async () => {
    await fails('bigout', 'PLUME_EOUTPUT', /output limit/);
  });

  it('should stop an infinite loop at its timeout and keep serving', async () => {
    await fails('loop', 'PLUME_ETIMEOUT', /timed out after 300 ms/);
    assert.equal(text(await plume.invoke('hostile', 'fine')), 'ok');
  });

  it('should complete every well-behaved invocation in a mix with hostile ones', async () => {
    const hostile = ['loop', 'trap', 'stack', 'grow', 'bigout', 'oom', 'loop'];
    const good = Array.from({ length: 200 }, (_, i) => plume.invoke('hello', `n${i}`).then(text));
    const bad = hostile.map((h) =>
      plume.invoke('hostile', h).then(
        () => 'succeeded',
        (e: PlumeError) => e.code,
      ),
    );
    // A call queued behind a looping guest runs on another worker (or a spare) when the loop's worker is
    // replaced: none fails, none hangs (issue 12).
    const results = await Promise.all(good);
    results.forEach((r, i) => assert.equal(r, `Hello, n${i}!`));
    for (const code of await Promise.all(bad)) assert.notEqual(code, 'succeeded');
  });

  it('should keep 1,000 invocations suspended on one worker and complete them all', async () => {
    const one = await Plume.start({ workers: 1 });
    try {
      await one.deploy('conf', guest('conformance-c.wasm'));
      const t = performance.now();
      const all = await Promise.all(Array.from({ length: 1000 }, () => one.invoke('conf', 'sleep:200').then(text)));
      assert.equal(all.length, 1000);
      assert.ok(all.every((r) => r === 'slept'));
      // 1,000 × 200 ms of sleep on one thread finish in about 200 ms only if none holds the thread.
      assert.ok(performance.now() - t < 2000, `took ${(performance.now() - t).toFixed(0)} ms`);
    } finally {
      await one.close();
    }
  });

  it('should time out a guest suspended past its timeout without replacing the worker', async () => {
    await plume.deploy('sleepy', guest('conformance-c.wasm'), { limits: { timeoutMs: 100 } });
    await assert.rejects(plume.invoke('sleepy', 'sleep:5000'), (e: PlumeError) => e.code === 'PLUME_ETIMEOUT');
    assert.equal(text(await plume.invoke('sleepy', 'echo:still here')), 'still here');
  });

  it("should keep a stateful function's state across calls", async () => {
    await plume.deploy('actor', guest('conformance-c.wasm'), { stateful: true });
    const counts = [];
    for (let i = 0; i < 3; i++) counts.push(text(await plume.invoke('actor', 'counter')));
    assert.deepEqual(counts, ['1', '2', '3']);
  });

  it('should queue invocations beyond maxConcurrency', async () => {
    await plume.deploy('one-at-a-time', guest('conformance-c.wasm'), { limits: { maxConcurrency: 1 } });
    const t = performance.now();
    await Promise.all([1, 2, 3].map(() => plume.invoke('one-at-a-time', 'sleep:50')));
    assert.ok(performance.now() - t >= 140, 'three 50 ms calls ran at once despite maxConcurrency 1');
  });
});

describe('closing', () => {
  it('should fail invocations still queued behind maxConcurrency instead of leaving them pending', async () => {
    const plume = await Plume.start({ workers: 1 });
    await plume.deploy('one', guest('conformance-c.wasm'), { limits: { maxConcurrency: 1 } });
    const running = plume.invoke('one', 'sleep:200').catch((e: PlumeError) => e.code);
    const queued = plume.invoke('one', 'echo:late').catch((e: PlumeError) => e.code);
    await new Promise((r) => setTimeout(r, 20));
    await plume.close();
    assert.equal(await queued, 'PLUME_ECLOSED');
    assert.equal(await running, 'PLUME_ECLOSED');
  });
});
