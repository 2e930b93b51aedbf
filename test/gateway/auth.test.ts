/** Bearer tokens: the admin token guards /system, invoke tokens guard their functions and workflows. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { example } from '../helpers.ts';
import { errorOf, startNode, type TestNode } from './support.ts';

const ADMIN = 'admin-secret';
const echo = readFileSync(example('c-echo/echo.wasm'));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('gateway auth', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode({ adminToken: ADMIN, workflowDir: example('workflows') });
  });
  after(() => node.close());

  it('should refuse /system without a token (401) or with a wrong one (403)', async () => {
    const missing = await fetch(`${node.url}/system/functions`);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(await errorOf(missing), {
      code: 'PLUME_EAUTH',
      message: 'missing Authorization header: /system routes need the admin token (Authorization: Bearer <token>)',
    });
    const wrong = await fetch(`${node.url}/system/functions`, { headers: bearer('guess') });
    assert.equal(wrong.status, 403);
    assert.deepEqual(await errorOf(wrong), {
      code: 'PLUME_EFORBIDDEN',
      message: 'the bearer token is not valid: /system routes need the admin token',
    });
    const basic = await fetch(`${node.url}/system/functions`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    assert.equal(basic.status, 401);
    assert.match((await errorOf(basic)).message, /must be 'Bearer <token>'/);
  });

  it('should refuse a deploy without the admin token before reading the module', async () => {
    const res = await fetch(`${node.url}/system/functions/echo`, { method: 'PUT', body: echo });
    assert.equal(res.status, 401);
    assert.equal((await fetch(`${node.url}/function/echo`, { method: 'POST', body: 'x' })).status, 404);
  });

  it('should deploy with the admin token, and leave a function without an invoke token open', async () => {
    const res = await fetch(`${node.url}/system/functions/open`, { method: 'PUT', body: echo, headers: bearer(ADMIN) });
    assert.equal(res.status, 201);
    const call = await fetch(`${node.url}/function/open`, { method: 'POST', body: 'abc' });
    assert.equal(call.status, 200);
    assert.equal(await call.text(), 'cba');
  });

  it('should require the invoke token of a protected function (or the admin token), sync and async', async () => {
    const res = await fetch(`${node.url}/system/functions/closed`, {
      method: 'PUT',
      body: echo,
      headers: { ...bearer(ADMIN), 'x-plume-invoke-token': 'let-me-in' },
    });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).protected, true);

    for (const path of ['/function/closed', '/async-function/closed']) {
      const missing = await fetch(`${node.url}${path}`, { method: 'POST', body: 'abc' });
      assert.equal(missing.status, 401, path);
      assert.match((await errorOf(missing)).message, /function 'closed' needs its invoke token/);
      const wrong = await fetch(`${node.url}${path}`, { method: 'POST', body: 'abc', headers: bearer('nope') });
      assert.equal(wrong.status, 403, path);
      assert.equal((await errorOf(wrong)).code, 'PLUME_EFORBIDDEN');
    }
    const invoked = await fetch(`${node.url}/function/closed`, { method: 'POST', body: 'abc', headers: bearer('let-me-in') });
    assert.equal(await invoked.text(), 'cba');
    const asAdmin = await fetch(`${node.url}/function/closed`, { method: 'POST', body: 'xyz', headers: bearer(ADMIN) });
    assert.equal(await asAdmin.text(), 'zyx');
    const queued = await fetch(`${node.url}/async-function/closed`, { method: 'POST', body: 'abc', headers: bearer('let-me-in') });
    assert.equal(queued.status, 202);
    // The result is guarded like the function.
    const result = `${node.url}/async-function/closed/${queued.headers.get('x-call-id')}`;
    assert.equal((await fetch(result)).status, 401);
    let fetched = await fetch(result, { headers: bearer('let-me-in') });
    while (fetched.status === 202) fetched = await fetch(result, { headers: bearer('let-me-in') });
    assert.equal(await fetched.text(), 'cba');
  });

  it('should not accept an invoke token for /system', async () => {
    const res = await fetch(`${node.url}/system/functions`, { headers: bearer('let-me-in') });
    assert.equal(res.status, 403);
  });

  it('should guard a workflow applied with an invoke token', async () => {
    const applied = await fetch(`${node.url}/system/workflows`, {
      method: 'POST',
      body: readFileSync(example('workflows/chain.yaml')),
      headers: { ...bearer(ADMIN), 'x-plume-invoke-token': 'wf-token' },
    });
    assert.equal(applied.status, 201);
    assert.equal((await fetch(`${node.url}/workflow/shout-back`, { method: 'POST', body: 'hi' })).status, 401);
    assert.equal((await fetch(`${node.url}/workflow/shout-back`, { method: 'POST', body: 'hi', headers: bearer('other') })).status, 403);
    const run = await fetch(`${node.url}/workflow/shout-back`, { method: 'POST', body: 'hi', headers: bearer('wf-token') });
    assert.equal(await run.text(), 'IH');
  });

  it('should serve /healthz and /metrics without a token', async () => {
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    const metrics = await fetch(`${node.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /plume_function_invocations_total\{function="closed",code="ok"\} \d+/);
  });
});
