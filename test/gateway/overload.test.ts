/** Bounded queues: beyond a function's concurrency + queue the gateway answers 429, and loses no accepted call. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { guest } from '../helpers.ts';
import { errorOf, startNode, type TestNode } from './support.ts';

describe('gateway overload', () => {
  let node: TestNode;
  before(async () => {
    // One call of 'slow' runs at a time and two more may wait: the fourth concurrent call is refused.
    node = await startNode({ queue: 2 });
    const res = await fetch(`${node.url}/system/functions/slow?concurrency=1`, {
      method: 'PUT',
      body: readFileSync(guest('conformance-c.wasm')),
    });
    assert.equal(res.status, 201);
  });
  after(() => node.close());

  it('should answer 429 with Retry-After beyond concurrency + queue, and finish every accepted call', async () => {
    const sent = Array.from({ length: 10 }, () => fetch(`${node.url}/function/slow`, { method: 'POST', body: 'sleep:150' }));
    const answers = await Promise.all(
      sent.map(async (p) => {
        const res = await p;
        return { res, text: await res.clone().text() };
      }),
    );
    const ok = answers.filter((a) => a.res.status === 200);
    const refused = answers.filter((a) => a.res.status === 429);
    assert.equal(ok.length + refused.length, 10, answers.map((a) => `${a.res.status} ${a.text}`).join('\n'));
    assert.equal(ok.length, 3);
    for (const a of ok) assert.equal(a.text, 'slept');
    for (const { res } of refused) {
      assert.match(res.headers.get('retry-after')!, /^\d+$/);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
      const error = await errorOf(res);
      assert.equal(error.code, 'PLUME_EBUSY');
      assert.equal(
        error.message.split(';')[0],
        "function 'slow' is overloaded: 3 calls are running or queued (limit 1 running + 2 queued)",
      );
    }
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    assert.match(metrics, /^plume_function_invocations_total\{function="slow",code="ok"\} 3$/m);
    assert.match(metrics, /^plume_function_invocations_total\{function="slow",code="PLUME_EBUSY"\} 7$/m);
  });

  it('should count asynchronous calls against the same bound, and run each accepted one', async () => {
    const accepted: string[] = [];
    let refused = 0;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${node.url}/async-function/slow`, { method: 'POST', body: 'sleep:100' });
      if (res.status === 202) accepted.push(res.headers.get('x-call-id')!);
      else {
        assert.equal(res.status, 429);
        assert.ok(res.headers.get('retry-after'));
        refused++;
      }
    }
    assert.equal(accepted.length, 3);
    assert.equal(refused, 2);
    for (const id of accepted) {
      let res = await fetch(`${node.url}/async-function/slow/${id}`);
      while (res.status === 202) {
        await new Promise((r) => setTimeout(r, 50));
        res = await fetch(`${node.url}/async-function/slow/${id}`);
      }
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'slept');
    }
    // The door is open again once the backlog drained.
    const after = await fetch(`${node.url}/function/slow`, { method: 'POST', body: 'sleep:1' });
    assert.equal(after.status, 200);
  });

  it('should let a closing node finish the calls it accepted', async () => {
    const other = await startNode({ queue: 8 });
    await other.plume.deploy('slow', guest('conformance-c.wasm'), { limits: { maxConcurrency: 1 } });
    const calls = Array.from({ length: 4 }, () => fetch(`${other.url}/function/slow`, { method: 'POST', body: 'sleep:100' }));
    await new Promise((r) => setTimeout(r, 50));
    const closing = other.gateway.close();
    const answers = await Promise.all(calls.map(async (p) => (await p).text()));
    await closing;
    await other.plume.close();
    assert.deepEqual(answers, ['slept', 'slept', 'slept', 'slept']);
  });
});
