/** `plume bench report --from DIR` refuses a directory without documents and a file that is not one. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCliSync } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'plume-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const report = (from: string) => runCliSync(['bench', 'report', '--from', from, '--out', join(dir, 'r.html')], 60_000);

describe('plume bench report: bad input', () => {
  it('should refuse a directory with no .json files', () => {
    const r = report(dir);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no \.json files/);
  });

  it('should name a file that is not a bench document', () => {
    writeFileSync(join(dir, 'a.json'), '{"hello": 1}');
    const r = report(dir);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /a\.json: not a document of plume bench --json/);
    writeFileSync(join(dir, 'a.json'), 'not json');
    assert.match(report(dir).stderr, /a\.json: not a JSON document/);
  });
});
