/** Workflow files by content hash (`/system/files`) and the bundle that applies a spec with them. Issue 17. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { FileStore } from '../../src/gateway/files.ts';
import { BUNDLE_TYPE } from '../../src/gateway/protocol.ts';
import { example } from '../helpers.ts';
import { errorOf, startNode, type TestNode } from './support.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const echo = readFileSync(example('c-echo/echo.wasm'));
const SPEC = 'name: files\nfunctions:\n  f-echo: { module: ../elsewhere/echo.wasm }\nsteps:\n  - { id: a, function: f-echo }\n';

describe('workflow files on the node', () => {
  let node: TestNode;
  const call = (method: string, path: string, body?: string | Uint8Array, type?: string): Promise<Response> =>
    fetch(node.url + path, {
      method,
      ...(body === undefined ? {} : { body: body as string | Uint8Array<ArrayBuffer> }),
      ...(type ? { headers: { 'content-type': type } } : {}),
    });
  const bundle = (files: Record<string, unknown>): Promise<Response> =>
    call('POST', '/system/workflows', JSON.stringify({ spec: SPEC, files }), BUNDLE_TYPE);
  before(async () => {
    node = await startNode();
  });
  after(() => node.close());

  it('should keep a file under its hash, and apply a bundle whose paths name hashes (even outside the spec folder)', async () => {
    const hash = sha256(echo);
    assert.equal((await call('GET', `/system/files/${hash}`)).status, 404);
    const put = await call('PUT', `/system/files/${hash}`, echo);
    assert.equal(put.status, 201);
    assert.deepEqual(await put.json(), { sha256: hash, bytes: echo.length });
    assert.deepEqual(await (await call('GET', `/system/files/${hash}`)).json(), { sha256: hash, bytes: echo.length });

    const applied = await bundle({ '../elsewhere/echo.wasm': { sha256: hash } });
    assert.equal(applied.status, 201, await applied.clone().text());
    assert.equal(await (await call('POST', '/workflow/files', 'abc')).text(), 'cba');
    const listed = (await (await call('GET', '/system/files')).json()) as { files: unknown[]; received: unknown };
    assert.deepEqual(listed.files, [{ sha256: hash, bytes: echo.length }]);
    assert.deepEqual(listed.received, { files: 1, bytes: echo.length });
  });

  it('should refuse a body that is not what its hash says, a malformed hash, and a bundle naming a file the node lacks', async () => {
    const wrong = await call('PUT', `/system/files/${sha256(echo)}`, echo.subarray(0, 100));
    assert.equal(wrong.status, 400);
    assert.match(
      (await errorOf(wrong)).message,
      /^file body has sha256 [0-9a-f]{64}, not the [0-9a-f]{64} its URL names \(a truncated upload\?\)$/,
    );
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', echo],
    ] as const) {
      const bad = await call(method, '/system/files/ABC', body);
      assert.equal(bad.status, 400, method);
      assert.deepEqual(await errorOf(bad), { code: 'PLUME_EINPUT', message: "'ABC' is not a sha256 (64 lower-case hex digits)" });
    }
    const absent = 'a'.repeat(64);
    const missing = await bundle({ '../elsewhere/echo.wasm': { sha256: absent } });
    assert.equal(missing.status, 400);
    assert.deepEqual(await errorOf(missing), {
      code: 'PLUME_ESPEC',
      message: `workflow bundle: file '../elsewhere/echo.wasm' (sha256 ${absent}) is not on the node: PUT it to /system/files/${absent} first`,
    });
    const malformed = await bundle({ '../elsewhere/echo.wasm': { sha256: 42 } });
    assert.equal(malformed.status, 400);
    assert.match((await errorOf(malformed)).message, /file '\.\.\/elsewhere\/echo\.wasm' must be \{ "sha256": "<64 hex digits>" \}/);
    const unsent = await bundle({});
    assert.equal(unsent.status, 400);
    assert.match(
      (await errorOf(unsent)).message,
      /functions\.f-echo\.module \(line 3\): '\.\.\/elsewhere\/echo\.wasm' did not come with the spec/,
    );
  });

  it('should still take a bundle with the file bytes in base64', async () => {
    const applied = await bundle({ '../elsewhere/echo.wasm': echo.toString('base64') });
    assert.equal(applied.status, 201, await applied.clone().text());
  });
});

describe('FileStore', () => {
  it('should drop the least recently used files past its byte limit, never the one just stored', () => {
    const store = new FileStore(10);
    const file = (n: number, fill: number): [string, Uint8Array] => {
      const bytes = new Uint8Array(n).fill(fill);
      return [sha256(bytes), bytes];
    };
    const [a, b, c, big] = [file(4, 1), file(4, 2), file(4, 3), file(20, 4)];
    store.put(...a);
    store.put(...b);
    assert.ok(store.get(a[0])); // a is now the most recently used
    store.put(...c);
    assert.deepEqual(
      store.list().map((f) => f.sha256),
      [a[0], c[0]],
    );
    store.put(...big);
    assert.deepEqual(
      store.list().map((f) => f.sha256),
      [big[0]],
    );
    assert.equal(store.bytes, 20);
    assert.deepEqual(store.received, { files: 4, bytes: 32 });
  });
});
