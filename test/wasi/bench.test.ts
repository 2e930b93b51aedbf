/** `plume bench wasi --json` as a user runs it: one JSON document, both layers, every case (the contract, not the figures). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../helpers.ts';

describe('plume bench wasi', () => {
  it("should print one JSON document with every case for Plume's layer and for node:wasi", () => {
    const r = spawnSync(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), 'bench', 'wasi', '--json', '--quick'],
      {
        cwd: root,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { scenario: string; results: { case: string; size_kb?: number; n: number; p50_ms: number }[] };
    assert.equal(doc.scenario, 'wasi');
    const cases = doc.results.map((x) => `${x.case}${x.size_kb === undefined ? '' : `@${x.size_kb}`}`).sort();
    const expected = [
      'fd_write-file@1',
      'fd_write-file@1024',
      'fd_write-stdout@1',
      'fd_write-stdout@1024',
      'open-read-close',
      'readdir-1000',
    ];
    const sleepers = ['plume/noop-beside-pipe-readers', 'plume/noop-beside-sleepers', 'plume/noop-idle'];
    assert.deepEqual(cases, [...expected.map((c) => `node-wasi/${c}`), ...expected.map((c) => `plume/${c}`), ...sleepers].sort());
    for (const x of doc.results) assert.ok(x.n > 0 && x.p50_ms > 0, JSON.stringify(x));
  });
});
