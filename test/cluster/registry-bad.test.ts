/**
 * Bad entries in the Redis registry (docs/cluster.md, Registry): a module whose bytes do not have the hash
 * the entry names is refused, an entry that does not parse and one whose module is missing are skipped;
 * each is logged, and the node keeps serving everything else, including what it served under that name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { root } from '../helpers.ts';
import { runCli, startUp, type UpNode } from '../support/cli.ts';
import { eventually, startRedis, type RedisServer } from '../support/redis.ts';

const HELLO = join(root, 'examples/hello/hello.wasm');
const ECHO = join(root, 'examples/c-echo/echo.wasm');
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function call(node: UpNode, name: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${node.url}/function/${name}`, { method: 'POST', body });
  return { status: res.status, text: await res.text() };
}

describe('bad entries in the Redis registry', () => {
  let redis: RedisServer;
  let client: Redis;
  const nodes: UpNode[] = [];
  const up = async (): Promise<UpNode> => {
    const node = await startUp(['--workers', '1', '--redis', redis.url]);
    nodes.push(node);
    return node;
  };

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    client.on('error', () => {}); // Redis is stopped on purpose below
  });
  after(async () => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    client.disconnect();
    await redis.stop();
  });

  it('should refuse a tampered module, skip corrupt and dangling entries, and keep serving the rest', async () => {
    const a = await up();
    assert.equal((await runCli(['deploy', 'good', HELLO, '--url', a.url])).status, 0);
    assert.equal((await runCli(['deploy', 'kept', HELLO, '--url', a.url])).status, 0);

    // A new version of 'kept' whose module bytes are not the ones its hash names (tampered in Redis).
    const echo = readFileSync(ECHO);
    const claimed = sha(echo);
    await client.set(`plume:cluster:module:${claimed}`, readFileSync(HELLO));
    await client.hset('plume:cluster:functions', 'kept', JSON.stringify({ version: 9, sha256: claimed, options: {}, settings: {} }));
    await client.publish('plume:cluster:registry', JSON.stringify({ kind: 'function', name: 'kept', version: 9 }));
    await eventually(async () => assert.match(a.stderr(), /skipped function 'kept': refused: its file [0-9a-f]{64} has the hash/));
    assert.equal((await call(a, 'kept', 'still')).text, 'Hello, still!', 'the version it served stays');

    // Unparseable, and naming a module nobody stored.
    await client.hset('plume:cluster:functions', 'corrupt', '{"version":1,"sha256":');
    await client.hset(
      'plume:cluster:functions',
      'dangling',
      JSON.stringify({ version: 1, sha256: 'f'.repeat(64), options: {}, settings: {} }),
    );
    await client.hset('plume:cluster:functions', 'typed', JSON.stringify({ version: 'one', sha256: claimed, options: {}, settings: {} }));
    // Options the deploy route never sets: a host folder granted to the guest through Redis.
    const hello = sha(readFileSync(HELLO));
    const dirs = { version: 1, sha256: hello, options: { dirs: { '/host': '/' } }, settings: {} };
    await client.hset('plume:cluster:functions', 'escalate', JSON.stringify(dirs));

    // A node starting now meets all of them at once.
    const b = await up();
    // The summary follows the URL; the lines about each bad entry come before it.
    await eventually(async () => assert.match(b.stderr(), /registry: 1 entries loaded from .* \(5 skipped\)/));
    const log = b.stderr();
    assert.match(
      log,
      /skipped function 'kept': refused: its file [0-9a-f]{64} has the hash [0-9a-f]{64} \(the bytes are not what was deployed\)/,
    );
    assert.match(log, /skipped function 'corrupt': the entry is corrupt/);
    assert.match(log, /skipped function 'typed': the entry is corrupt \(version must be a positive integer\)/);
    assert.match(log, new RegExp(`skipped function 'dangling': its file ${'f'.repeat(64)} is missing from the registry`));
    assert.match(log, /skipped function 'escalate': this node cannot apply it \(the entry's options.dirs is not valid\)/);
    assert.equal((await call(b, 'escalate', 'B')).status, 404);
    assert.equal((await call(b, 'good', 'B')).text, 'Hello, B!');
    // b never loads the tampered bytes: it lists no 'kept' of its own, and a call of it there runs on its
    // peer a (linked through Redis), which still serves the version it had.
    const own = ((await (await fetch(`${b.url}/system/functions`)).json()) as { name: string }[]).map((f) => f.name);
    assert.ok(!own.includes('kept'), 'a node that never served it does not serve tampered bytes');
    assert.equal((await call(b, 'kept', 'B')).text, 'Hello, B!', "a's version, through the peer link");
    assert.equal((await call(b, 'corrupt', 'B')).status, 404);
    assert.equal((await fetch(`${b.url}/readyz`)).status, 200, 'bad entries do not keep a node from being ready');

    // Nothing deployed is lost: a good deploy of the same name replaces the bad entry everywhere.
    assert.equal((await runCli(['deploy', 'kept', ECHO, '--url', b.url])).status, 0);
    await eventually(async () => assert.equal((await call(a, 'kept', 'ab')).text, 'ba'));
    assert.equal((await call(b, 'kept', 'ab')).text, 'ba');
  });

  it('should answer 503 to a deploy while Redis is away, and keep serving when Redis comes back empty', async () => {
    const a = await up();
    assert.equal((await runCli(['deploy', 'survivor', HELLO, '--url', a.url])).status, 0);
    await redis.stop();
    const refused = await fetch(`${a.url}/system/functions/while-down`, { method: 'PUT', body: readFileSync(HELLO) });
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'PLUME_ESTATE_UNAVAILABLE');
    assert.match(a.stderr(), /function 'while-down' is served here but could not be recorded/);
    assert.equal((await call(a, 'survivor', 'down')).text, 'Hello, down!', 'Redis away: what the node serves stays');

    await redis.restart(); // empty, as a Redis without persistence comes back
    await eventually(async () => assert.match(a.stderr(), /is empty, but this node serves \d+ entries from it: keeping them/), 10_000);
    assert.equal((await call(a, 'survivor', 'back')).text, 'Hello, back!');
    // A deploy records again once Redis is back.
    assert.equal((await runCli(['deploy', 'after', ECHO, '--url', a.url])).status, 0);
    assert.ok(await client.hget('plume:cluster:functions', 'after'));
  });

  it('should refuse to start when Redis cannot be reached, in one line', async () => {
    const r = await runCli(['up', '--port', '0', '--workers', '1', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^plume: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.*\): start it, fix --redis, or pass --redis-optional to start single-node\n$/,
    );
  });
});
