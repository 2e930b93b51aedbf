/** The plume_v1 conformance suite: every import, run from a C guest and an AssemblyScript guest. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume, PlumeError } from '../src/index.ts';
import { guest, text } from './helpers.ts';

for (const [lang, file] of [
  ['C', 'conformance-c.wasm'],
  ['AssemblyScript', 'conformance-as.wasm'],
] as const) {
  describe(`plume_v1 conformance (${lang} guest)`, () => {
    let plume: Plume;
    const run = async (input: string): Promise<string> => text(await plume.invoke('conf', input));

    before(async () => {
      plume = await Plume.start({ workers: 1 });
      await plume.deploy('conf', guest(file), { limits: { maxOutputBytes: 200_000 } });
    });
    after(() => plume.close());

    it('should report the input size and read ranges, with 0 bytes past the end', async () => {
      assert.equal(await run('input'), 'size=5\nread=2:ut\npast=0:0\n');
    });

    it('should give monotonic and realtime clocks in nanoseconds', async () => {
      const [a, b, real] = (await run('clock')).trim().split('\n').map(BigInt);
      assert.ok(b! >= a!, 'monotonic clock went backwards');
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      assert.ok(real! > nowNs - 10_000_000_000n && real! < nowNs + 10_000_000_000n, `realtime ${real} is not near now`);
      assert.equal(await run('badclock'), '1');
    });

    it('should fill random bytes that differ between calls', async () => {
      const [x, y] = [await run('random'), await run('random')];
      assert.match(x, /^[0-9a-f]{64}$/);
      assert.notEqual(x, y);
    });

    it('should record guest logs for the function', async () => {
      assert.equal(await run('log'), 'ok');
      assert.ok(plume.logs('conf').some((l) => l.level === 'info' && l.message === 'hello from guest'));
    });

    it('should suspend on sleep and resume', async () => {
      const t = performance.now();
      assert.equal(await run('sleep:30'), 'slept');
      assert.ok(performance.now() - t >= 25);
    });

    it('should fail with the message given to fail, or the return code', async () => {
      await assert.rejects(run('fail'), (e: PlumeError) => e.code === 'PLUME_EFAILED' && /custom failure/.test(e.message));
      await assert.rejects(run('return:7'), (e: PlumeError) => e.code === 'PLUME_EFAILED' && /returned 7/.test(e.message));
      await assert.rejects(run('no-such-check'), (e: PlumeError) => /unknown check/.test(e.message));
    });

    it('should fail with PLUME_EINPUT or PLUME_ETOOBIG when the guest refuses its input, and answer inval for another reason', async () => {
      await assert.rejects(
        run('refuse:0'),
        (e: PlumeError) => e.code === 'PLUME_EINPUT' && e.message === "function 'conf' refused its input: refused input",
      );
      await assert.rejects(
        run('refuse:1'),
        (e: PlumeError) => e.code === 'PLUME_ETOOBIG' && /refused its input: refused input$/.test(e.message),
      );
      assert.equal(await run('refuse:2'), 'errno=1');
      // The refusal belongs to that call only: the next one fails as a plain failure again.
      await assert.rejects(run('fail'), (e: PlumeError) => e.code === 'PLUME_EFAILED');
    });

    it('should answer a pointer outside memory with inval, not a trap', async () => {
      assert.equal(await run('badptr'), '1');
    });

    it('should refuse output past the limit with too_big and fail the invocation', async () => {
      assert.equal((await run('bigout:1000')).length, 1000);
      await assert.rejects(run('bigout:300000'), (e: PlumeError) => e.code === 'PLUME_EOUTPUT');
    });

    it('should start every invocation from the snapshot taken after init', async () => {
      assert.equal(await run('init'), 'init=1');
      for (let i = 0; i < 3; i++) assert.equal(await run('counter'), '1');
    });

    it('should echo bytes', async () => {
      assert.equal(await run('echo:héllo'), 'héllo');
    });
  });
}
