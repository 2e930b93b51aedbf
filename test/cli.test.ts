/** `plume run` and `plume bench` as a user runs them: a real child process, real files. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { benchGuest, example, guest, root } from './helpers.ts';

const plume = (args: string[], stdin?: string) =>
  spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    input: stdin ?? '',
    timeout: 120_000,
  });

describe('plume run', () => {
  it('should print exactly "Hello, world!" for the hello example', () => {
    const r = plume(['run', 'examples/hello/hello.wasm', '--data', 'world']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Hello, world!');
  });

  it('should read the input from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    writeFileSync(join(dir, 'in.txt'), 'file input');
    const r = plume(['run', example('hello/hello.wasm'), '--input', join(dir, 'in.txt')]);
    assert.equal(r.stdout, 'Hello, file input!');
  });

  it('should run a WASI command with stdin as input, env and arguments', () => {
    const r = plume(['run', guest('wasi-echo.wasm'), '--data', 'abc', '--env', 'GREETING=hi', '--', 'one', 'two']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'abc');
    assert.match(r.stderr, /GREETING=hi/);
    assert.match(r.stderr, /argv\[1\]=one/);
    assert.match(r.stderr, /argv\[2\]=two/);
  });

  it("should exit with a WASI command's exit code", () => {
    const ok = plume(['run', example('wasi-wc/wc.wasm'), '--data', 'a b\nc\n']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^\s*2\s+3\s+6\s*$/);
    const failed = plume(['run', example('wasi-wc/wc.wasm'), '--', '--fail']);
    assert.equal(failed.status, 3);
  });

  it('should fail with one line on stderr for a missing file, bad bytes, a trap, and bad options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    writeFileSync(join(dir, 'junk.wasm'), 'not wasm at all');
    for (const [args, pattern] of [
      [['run', 'nope.wasm'], /cannot read module 'nope\.wasm': ENOENT/],
      [['run', join(dir, 'junk.wasm')], /not a valid WebAssembly module/],
      [['run', benchGuest('hostile.wasm'), '--data', 'trap'], /trapped: unreachable/],
      [['run', benchGuest('hostile.wasm'), '--data', 'loop', '--timeout', '200'], /timed out after 200 ms/],
      [['run', example('hello/hello.wasm'), '--data', 'a', '--input', 'b'], /either --data or --input/],
      [['run', example('hello/hello.wasm'), '--memory', 'lots'], /positive number/],
      [['run', example('hello/hello.wasm'), '--input', 'missing.txt'], /cannot read input file 'missing\.txt'/],
    ] as const) {
      const r = plume([...args]);
      assert.notEqual(r.status, 0, `${args.join(' ')} succeeded`);
      assert.match(r.stderr, pattern);
      // Guest log lines start with '[function]'; the error itself is exactly one line.
      assert.equal(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('[')).length,
        1,
        r.stderr,
      );
    }
  });

  it('should only reach host directories granted with --dir', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    writeFileSync(join(dir, 'data.txt'), 'granted');
    const granted = plume(['run', guest('wasi-cat.wasm'), '--dir', `${dir}::/data`, '--', '/data/data.txt']);
    assert.equal(granted.status, 0, granted.stderr);
    assert.equal(granted.stdout, 'granted');
    const denied = plume(['run', guest('wasi-cat.wasm'), '--', join(dir, 'data.txt')]);
    assert.equal(denied.status, 2);
    assert.equal(denied.stdout, '');
  });
});

describe('plume bench', () => {
  it('should print one JSON document in the contract for coldstart', () => {
    const r = plume(['bench', 'coldstart', '--json', '--quick']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.scenario, 'coldstart');
    assert.match(doc.node, /^v24\./);
    assert.ok(doc.cpus >= 1);
    const cases = doc.results.map((x: { case: string }) => x.case);
    assert.deepEqual(cases, ['cold', 'restore', 'restore', 'restore-prefaulted', 'restore-prefaulted', 'warm', 'throughput']);
    for (const row of doc.results.filter((x: { case: string }) => x.case !== 'throughput')) {
      assert.ok(row.p50_ms > 0 && row.p90_ms >= row.p50_ms && row.p99_ms >= row.p90_ms);
    }
    assert.deepEqual(
      doc.results.filter((x: { case: string }) => x.case === 'restore').map((x: { snapshot_kb: number }) => x.snapshot_kb),
      [64, 1024],
    );
    assert.ok(doc.results.at(-1).throughput_rps > 0);
  });

  it('should measure idle-instance density in the contract', () => {
    const r = plume(['bench', 'density', '--json', '--instances', '2000']);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout).results;
    assert.deepEqual(
      rows.map((x: { case: string }) => x.case),
      ['idle-instances', 'idle-instances-used'],
    );
    for (const row of rows) {
      assert.ok(row.instances >= 2000);
      assert.ok(row.per_instance_kb > 0 && row.instances_per_gib > 0 && row.rss_mb > 0);
    }
    // A used instance's reset zeroes its whole 64 KiB page, so it must cost more than a never-run one.
    assert.ok(rows[1].per_instance_kb > rows[0].per_instance_kb + 32, JSON.stringify(rows));
  });

  it('should print the transfer cases per size, with CWASI beside them on stderr', () => {
    const r = plume(['bench', 'transfer', '--json', '--quick']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.scenario, 'transfer');
    for (const size of [2, 10]) {
      const cases = doc.results.filter((x: { size_mb: number }) => x.size_mb === size).map((x: { case: string }) => x.case);
      assert.deepEqual(cases, ['embedded/by-ref', 'embedded/full-read', 'local/full-read', 'networked/full-read', 'tcp-raw', 'memcpy']);
    }
    for (const row of doc.results) assert.ok(row.p50_ms > 0 && row.p99_ms >= row.p50_ms, JSON.stringify(row));
    assert.match(r.stderr, /CWASI \(SEC 2023\)/);
  });

  it('should print fan-out and fan-in per-request figures, with CWASI beside them', () => {
    const r = plume(['bench', 'fanout', '--json', '--quick']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(
      doc.results.map((x: { case: string; n: number }) => `${x.case}:${x.n}`),
      ['fanout:100', 'fanin:100'],
    );
    for (const row of doc.results) assert.ok(row.p50_ms > 0 && row.p99_ms >= row.p50_ms && row.throughput_rps > 0, JSON.stringify(row));
    assert.match(r.stderr, /fanout\s+4\.8/);
  });

  it('should refuse an unknown scenario', () => {
    const r = plume(['bench', 'nope']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown scenario 'nope'/);
  });
});
