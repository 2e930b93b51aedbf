/**
 * Bad input to `plume bench trace` (issue 14): a trace file with a missing column, a negative duration, a
 * field that is not a number or a row short of fields gets an error naming the file and the line; the
 * replay's options are checked; a peer that is not installed is reported missing, never replaced.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { TraceFileError } from '../../bench/trace/csv.ts';
import { loadTrace, TRACE_DIR } from '../../bench/trace/trace-data.ts';
import { buildWorkload } from '../../bench/trace/workload.ts';
import { findWorkerd } from '../../bench/trace/workerd.ts';
import { runCliSync } from '../support/cli.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the trace files with `file` rewritten by `edit` (its lines in, its lines out). */
function traceWith(file: string, edit: (lines: string[]) => string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'plume-trace-'));
  dirs.push(dir);
  cpSync(TRACE_DIR, dir, { recursive: true });
  const lines = readFileSync(join(dir, file), 'utf8').split('\n');
  writeFileSync(join(dir, file), edit(lines).join('\n'));
  return dir;
}

function traceError(dir: string): TraceFileError {
  try {
    loadTrace(dir);
  } catch (err) {
    assert.ok(err instanceof TraceFileError, `expected a TraceFileError, got ${String(err)}`);
    return err;
  }
  assert.fail('the trace loaded');
}

const cli = (args: string[]) => runCliSync(['bench', 'trace', ...args], 60_000);

describe('plume bench trace: bad input', () => {
  it('should load the shipped trace: the 2019 and 2021 functions, with invocations', () => {
    const trace = loadTrace();
    assert.ok(trace.functions.some((f) => f.source === 'azure2019'));
    assert.ok(trace.functions.some((f) => f.source === 'azure2021'));
    assert.ok(trace.functions.every((f) => f.perMinute.some((n) => n > 0)));
  });

  it('should name the file and line 1 when a column is missing from the header', () => {
    const dir = traceWith('durations.csv', (l) => [l[0]!.replace(',percentile_Average_50', ''), ...l.slice(1)]);
    const err = traceError(dir);
    assert.equal(err.line, 1);
    assert.match(err.message, /^durations\.csv:1: missing column 'percentile_Average_50'/);
  });

  it('should name the line of a negative duration', () => {
    const dir = traceWith('Azure2021_200.csv', (l) => [l[0]!, l[1]!, l[2]!.replace(/,[^,]*$/, ',-3.5'), ...l.slice(3)]);
    const err = traceError(dir);
    assert.match(err.message, /^Azure2021_200\.csv:3: column 'duration' is negative: -3\.5/);
  });

  it('should name the line and column of a field that is not a number', () => {
    const dir = traceWith('invocations.csv', (l) => [l[0]!, l[1]!.replace(/,5,/, ',five,'), ...l.slice(2)]);
    assert.match(traceError(dir).message, /^invocations\.csv:2: column '\d+' is not a number: 'five'/);
  });

  it('should name the line of a row short of fields', () => {
    const dir = traceWith('memory.csv', (l) => [l[0]!, l[1]!, l[2]!.replace(/,[^,]*$/, ''), ...l.slice(3)]);
    assert.match(traceError(dir).message, /^memory\.csv:3: 12 fields where the header has 13/);
  });

  it('should refuse a workflow shape that is not a percentage', () => {
    const dir = traceWith('dag_structure.csv', (l) => [l[0]!, l[1]!.replace('0.00%', 'lots'), ...l.slice(2)]);
    assert.match(traceError(dir).message, /^dag_structure\.csv:2: column 'WidthPercentile' is not a percentage: 'lots'/);
  });

  it('should refuse a speedup of 0 or less, and a bad function count', () => {
    for (const speedup of [0, -2, NaN]) {
      assert.throws(() => buildWorkload({ minutes: 1, speedup, seed: 1, work: 'wait' }), /--speedup must be a number > 0/);
    }
    assert.throws(() => buildWorkload({ minutes: 1, speedup: 1, seed: 1, work: 'wait', functions: 0 }), /--functions must be/);
    assert.throws(() => buildWorkload({ minutes: 0, speedup: 1, seed: 1, work: 'wait' }), /--minutes must be > 0/);
  });

  it('should refuse --speedup 0 and --speedup -1 on the command line, naming the option', () => {
    for (const value of ['0', '-1']) {
      const r = cli(['--quick', '--json', `--speedup=${value}`]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /--speedup/);
      assert.equal(r.stdout, '');
    }
    const r = cli(['--quick', '--cases', 'plume,knative']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown case 'knative'/);
  });

  it('should give the same arrivals for the same seed, and others for another', () => {
    const a = buildWorkload({ minutes: 3, speedup: 10, seed: 7, work: 'wait' });
    const b = buildWorkload({ minutes: 3, speedup: 10, seed: 7, work: 'wait' });
    const c = buildWorkload({ minutes: 3, speedup: 10, seed: 8, work: 'wait' });
    assert.deepEqual(a.arrivals, b.arrivals);
    assert.notDeepEqual(a.arrivals, c.arrivals);
    assert.ok(a.arrivals.every((x, i) => i === 0 || x.atMs >= a.arrivals[i - 1]!.atMs));
    assert.ok(a.arrivals.every((x) => x.atMs < (3 * 60_000) / 10));
  });

  it('should report workerd missing where the package cannot be found, instead of running anything else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-no-workerd-'));
    dirs.push(dir);
    const found = findWorkerd(pathToFileURL(join(dir, 'x.js')).href);
    assert.ok('missing' in found);
    assert.match(found.missing, /'workerd' is not installed/);
  });
});
