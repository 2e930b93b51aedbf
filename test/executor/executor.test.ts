/** The executor's paths around the rings: payloads too big for a ring, and logs of WASI reactors. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/index.ts';
import { example, guest, text } from '../helpers.ts';

describe('executor', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await plume.deploy('conf', guest('conformance-c.wasm'));
    await plume.deploy('echo', example('c-echo/echo.wasm'));
    await plume.deploy('chain', guest('chain.wasm'));
    await plume.deploy('hello', example('hello/hello.wasm'));
  });
  after(() => plume.close());

  // The trace once went on the result ring and a result too big for it by message: the message could
  // arrive first and the trace was lost (issue 12). Now a call's trace and result take one channel.
  it('should keep the trace of a call whose output is too big for the ring', async () => {
    const name = 'x'.repeat(1536 * 1024);
    for (let i = 0; i < 5; i++) {
      const { output, trace } = await plume.invokeDetailed('chain', `named:hello:${name}`);
      assert.equal(output.length, name.length + 'Hello, !'.length);
      assert.deepEqual(
        trace?.map((h) => [h.from, h.to, h.mode]),
        [['chain', 'hello', 'embedded']],
      );
    }
  });

  it('should carry inputs and outputs larger than a ring through the message fallback', async () => {
    const body = 'ab'.repeat(3 * 1024 * 1024); // 6 MiB: above the 1 MiB ring record limit both ways
    const out = text(await plume.invoke('conf', `echo:${body}`));
    assert.equal(out.length, body.length);
    assert.equal(out, body);
  });

  it('should keep many concurrent calls apart (ids never cross)', async () => {
    const outs = await Promise.all(Array.from({ length: 2000 }, (_, i) => plume.invoke('conf', `echo:${i}`).then(text)));
    outs.forEach((o, i) => assert.equal(o, String(i)));
  });

  it("should capture a C reactor's log line into the function's log", async () => {
    assert.equal(text(await plume.invoke('echo', 'abc')), 'cba');
    assert.ok(
      plume.logs('echo').some((l) => /reversed 3 bytes/.test(l.message)),
      JSON.stringify(plume.logs('echo')),
    );
  });
});
