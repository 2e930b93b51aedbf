/** Chained calls: futures, await without holding the thread, DAGs, fan-out, errors, timeouts, cancel. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume, PlumeError } from '../src/index.ts';
import { example, guest, text } from './helpers.ts';

for (const [lang, file] of [
  ['C', 'chain.wasm'],
  ['AssemblyScript', 'chain-as.wasm'],
] as const) {
  describe(`chained calls (${lang} guest)`, () => {
    let plume: Plume;
    const run = async (input: string): Promise<string> => text(await plume.invoke('chain', input));

    before(async () => {
      plume = await Plume.start({ workers: 2 });
      await plume.deploy('chain', guest(file), { limits: { timeoutMs: 5000 } });
      await plume.deploy('hello', example('hello/hello.wasm'));
    });
    after(() => plume.close());

    it("should call another export of the caller's own module and await its output", async () => {
      assert.equal(await run('seq:hello'), 'HELLO');
    });

    it('should call a deployed function by name', async () => {
      assert.equal(await run('named:hello:chain'), 'Hello, chain!');
    });

    it('should pass a pending future as the input of another call (a DAG)', async () => {
      assert.equal(await run('dag:abc'), 'CBA');
    });

    it('should fan out with call_many and join', async () => {
      const n = 200;
      const expected = Array.from({ length: n }, (_, i) => i * i).reduce((a, b) => a + b, 0);
      assert.equal(await run(`fanout:${n}`), String(expected));
    });

    it("should give the caller a callee's error as errno failed plus its message", async () => {
      assert.equal(await run('error'), "failed:7:function 'chain#failing' failed: callee says no");
    });

    it('should time out an await and cancel a call', async () => {
      assert.equal(await run('timeout:50'), '5', 'errno timeout: the await gave up before its callee finished');
      assert.equal(await run('cancel'), '6');
    });

    it('should fail the caller clearly when its scenario is unknown', async () => {
      await assert.rejects(run('what'), (e: PlumeError) => e.code === 'PLUME_EFAILED' && /unknown scenario/.test(e.message));
    });
  });
}

describe('chained calls: errnos at call time (C guest)', () => {
  let plume: Plume;
  const run = async (input: string): Promise<string> => text(await plume.invoke('chain', input));
  before(async () => {
    plume = await Plume.start({ workers: 1 });
    await plume.deploy('chain', guest('chain.wasm'));
  });
  after(() => plume.close());

  it('should answer noent for an unknown function or own export, and badf for an unknown future', async () => {
    assert.equal(await run('noent'), '3');
    assert.equal(await run('named:nobody:x'), '3');
    assert.equal(await run('named:#nope:x'), '3');
    assert.equal(await run('badf'), '4');
  });

  it('should record every hop with its mode, bytes moved and bytes copied in the trace', async () => {
    const result = await plume.invokeDetailed('chain', 'dag:abcdef');
    assert.equal(text(result.output), 'FEDCBA');
    const hops = (result.trace ?? []).map((h) => `${h.from}>${h.to}:${h.mode}:${h.bytesMoved}:${h.bytesCopied}`);
    // #upper reads its 6-byte input; #reverse gets #upper's output by reference and reads it all.
    assert.deepEqual(hops.sort(), ['chain>chain#reverse:embedded:6:6', 'chain>chain#upper:embedded:6:6']);
    assert.equal((await plume.invokeDetailed('chain', 'badf')).trace, undefined, 'a call without hops carries no trace');
  });

  it('should hand a reused instance a memory whose dirtied pages are zero again', async () => {
    // One worker: every call after the first reuses the instance the previous one dirtied.
    for (let i = 0; i < 3; i++) assert.equal(await run('dirty'), 'clean', `call ${i + 1}`);
  });

  it('should let a callee keep an output by reference after its caller cancels that future', async () => {
    // #count holds #fill's 64 KiB (pooled) output; the caller's cancel and a second #fill must not reuse it.
    assert.equal(await run(`handoff:${64 * 1024}`), String(64 * 1024));
    assert.equal(await run('cancel-input'), '6', 'a cancelled future is no input: errno canceled');
  });

  it('should give a cancelled output back while the next producers reuse its memory', async () => {
    // Each reader cancels its future after reading: every output must still be its own producer's bytes.
    assert.equal(await run(`fanin:60:${300 * 1024}`), String(60 * 300 * 1024));
  });

  it('should keep many callers suspended in await on one worker', async () => {
    let done = 0;
    const callers = Array.from({ length: 300 }, () => plume.invoke('chain', 'timeout:100').then((r) => (done++, text(r))));
    // Callers that held their thread would run one after another: a quick call would wait for them all.
    assert.equal(text(await plume.invoke('chain', 'seq:quick')), 'QUICK');
    assert.ok(done < 300, `the quick call waited for all ${done} callers`);
    const outs = await Promise.all(callers);
    assert.ok(outs.every((o) => o === '5'));
  });
});

describe('input limits', () => {
  it('should refuse an input over maxInputBytes from a client and from a chained call', async () => {
    const plume = await Plume.start({ workers: 1 });
    try {
      await plume.deploy('small', example('hello/hello.wasm'), { limits: { maxInputBytes: 16 } });
      await plume.deploy('chain', guest('chain.wasm'));
      await assert.rejects(
        plume.invoke('small', 'x'.repeat(17)),
        (e: PlumeError) => e.code === 'PLUME_EINPUT' && /over its limit of 16/.test(e.message),
      );
      assert.equal(text(await plume.invoke('small', 'x'.repeat(16))), `Hello, ${'x'.repeat(16)}!`);
      // chain.c outputs the errno when `call` refuses: too_big is 2.
      assert.equal(text(await plume.invoke('chain', `named:small:${'y'.repeat(17)}`)), '2');
      assert.equal(text(await plume.invoke('chain', 'named:small:ok')), 'Hello, ok!');
    } finally {
      await plume.close();
    }
  });
});
