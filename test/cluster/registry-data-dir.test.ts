/**
 * A node without Redis keeps its deployments in a data directory (`plume up --data-dir`, docs/cluster.md,
 * Registry): a restart, even after SIGKILL, serves the same functions (with their options and invoke
 * tokens), workflows and removals; a folder another live node holds, or one that cannot be written, stops
 * the start with one clear line; bad files in it are logged and skipped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { root } from '../helpers.ts';
import { runCli, startUp, type UpNode, post as call } from '../support/cli.ts';
import { eventually } from '../support/redis.ts';

const HELLO = join(root, 'examples/hello/hello.wasm');
const ECHO = join(root, 'examples/c-echo/echo.wasm');
const CHAIN = join(root, 'examples/workflows/chain.yaml');

async function kill(node: UpNode): Promise<void> {
  node.child.kill('SIGKILL');
  await new Promise((r) => node.child.once('close', r));
}

describe('the registry in a data directory', () => {
  const folders: string[] = [];
  const nodes: UpNode[] = [];
  const folder = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-data-'));
    folders.push(dir);
    return dir;
  };
  const up = async (dir: string): Promise<UpNode> => {
    const node = await startUp(['--workers', '1', '--data-dir', dir]);
    nodes.push(node);
    return node;
  };
  after(() => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  it('should serve after a SIGKILL and restart what was deployed, applied and removed before', async () => {
    const dir = join(folder(), 'state');
    let node = await up(dir);
    const deploy = ['deploy', 'greet', HELLO, '--url', node.url, '--invoke-token', 'sesame', '--content-type', 'text/plain'];
    assert.equal((await runCli([...deploy, '--timeout', '2000', '--concurrency', '2'])).status, 0);
    assert.equal((await runCli(['deploy', 'gone', ECHO, '--url', node.url])).status, 0);
    const applied = await runCli(['workflow', 'apply', CHAIN, '--url', node.url, '--invoke-token', 'wf']);
    assert.equal(applied.status, 0, applied.stderr);
    assert.equal((await runCli(['rm', 'gone', '--url', node.url])).status, 0);

    await kill(node);
    node = await up(dir);
    await eventually(async () => assert.match(node.stderr(), /registry: 2 entries loaded from .*state\n/));
    const greeted = await call(node, '/function/greet', 'again', 'sesame');
    assert.deepEqual([greeted.text, greeted.type], ['Hello, again!', 'text/plain']);
    assert.equal((await call(node, '/function/greet', 'again')).status, 401, 'its invoke token is enforced after the restart');
    const info = (await (await fetch(`${node.url}/system/functions/greet`)).json()) as {
      limits: { timeoutMs: number; maxConcurrency: number };
    };
    assert.deepEqual([info.limits.timeoutMs, info.limits.maxConcurrency], [2000, 2]);
    assert.equal((await call(node, '/function/gone', 'x')).status, 404, 'a removal is kept too');
    assert.equal((await call(node, '/workflow/shout-back', 'hello', 'wf')).text, 'OLLEH');
    assert.equal((await call(node, '/workflow/shout-back', 'hello')).status, 401);
    assert.deepEqual(readdirSync(join(dir, 'files')).length, 2, 'the removed function’s module is deleted; hello and text.wasm stay');
    assert.equal(
      readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.tmp')).length,
      0,
      'every write was renamed into place',
    );
    assert.equal(await node.stop(), 0);
  });

  it('should refuse a second node on a data directory a live node holds, and take over one a killed node left', async () => {
    const dir = folder();
    const first = await up(dir);
    const second = await runCli(['up', '--port', '0', '--workers', '1', '--data-dir', dir]);
    assert.equal(second.status, 1);
    assert.match(
      second.stderr,
      new RegExp(
        `^plume: the data directory ${dir} is in use by another plume node \\(pid ${first.child.pid}\\): give this node its own --data-dir, or --no-data-dir\\n$`,
      ),
    );
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first node is unaffected');
    await kill(first);
    const next = await up(dir);
    assert.equal((await fetch(`${next.url}/healthz`)).status, 200);
  });

  it('should refuse a data directory that cannot be written, in one line', async () => {
    const file = join(folder(), 'a-file');
    writeFileSync(file, 'not a folder');
    const r = await runCli(['up', '--port', '0', '--workers', '1', '--data-dir', join(file, 'state')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^plume: the data directory .*a-file\/state cannot be written \(ENOTDIR\): pick a writable one with --data-dir/);
    // PLUME_DATA_DIR stands for --data-dir (the Kubernetes base sets it).
    const fromEnv = await runCli(['up', '--port', '0', '--workers', '1'], { PLUME_DATA_DIR: join(file, 'env') });
    assert.equal(fromEnv.status, 1);
    assert.match(fromEnv.stderr, /^plume: the data directory .*a-file\/env cannot be written \(ENOTDIR\)/);
  });

  it('should log and skip a corrupt entry, a tampered module and a missing one, and serve the rest', async () => {
    const dir = folder();
    const node = await up(dir);
    for (const name of ['good', 'tampered', 'corrupt', 'dangling']) {
      const module = name === 'good' ? HELLO : name === 'tampered' ? ECHO : HELLO;
      assert.equal((await runCli(['deploy', name, module, '--url', node.url])).status, 0);
    }
    assert.equal(await node.stop(), 0);

    const entry = (name: string): { sha256: string } => JSON.parse(readFileSync(join(dir, 'functions', `${name}.json`), 'utf8'));
    const tampered = entry('tampered').sha256;
    writeFileSync(join(dir, 'files', tampered), readFileSync(HELLO));
    writeFileSync(join(dir, 'functions', 'corrupt.json'), '{"version":1,');
    writeFileSync(
      join(dir, 'functions', 'dangling.json'),
      JSON.stringify({ version: 1, sha256: 'e'.repeat(64), options: {}, settings: {} }),
    );

    const again = await up(dir);
    await eventually(async () => assert.match(again.stderr(), /registry: 1 entries loaded from .* \(3 skipped\)/));
    const log = again.stderr();
    assert.match(log, new RegExp(`skipped function 'tampered': refused: its file ${tampered} has the hash`));
    assert.match(log, /skipped function 'corrupt': the entry is corrupt/);
    assert.match(log, /skipped function 'dangling': its file e{64} is missing from the registry/);
    assert.equal((await call(again, '/function/good', 'ok')).text, 'Hello, ok!');
    for (const name of ['tampered', 'corrupt', 'dangling']) assert.equal((await call(again, `/function/${name}`, 'x')).status, 404);
    // Deploying the same bytes again heals the tampered file.
    assert.equal((await runCli(['deploy', 'tampered', ECHO, '--url', again.url])).status, 0);
    assert.equal(await again.stop(), 0);
    const healed = await up(dir);
    assert.equal((await call(healed, '/function/tampered', 'ab')).text, 'ba');
  });
});
