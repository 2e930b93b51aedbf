/**
 * `plume bench trace --quick --json` as a user runs it (issue 14): one JSON document on stdout whose rows
 * hold every case's fields, never its numbers (benchmarks are not timed tests); then `plume bench report`
 * turns that document into an HTML page that Chromium draws with data points in every chart.
 * PLUME_REPORT_SCREENSHOT=FILE.png writes a screenshot of the page there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { findWorkerd } from '../../bench/trace/workerd.ts';
import { runCliSync } from '../support/cli.ts';

const CHROMIUM = process.env['PLUME_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOT = process.env['PLUME_REPORT_SCREENSHOT'];
const hasWorkerd = !('missing' in findWorkerd());

const plume = (args: string[]) => runCliSync(['bench', ...args], 240_000);

interface Row {
  readonly case: string;
  readonly [field: string]: number | string;
}
interface TraceDoc {
  scenario: string;
  node: string;
  cpus: number;
  results: Row[];
  workload: Record<string, number | string>;
  series: { case: string; latency_cdf: [number, number][]; memory: [number, number][]; minutes: { offered: number; cold: number }[] }[];
}

const FIELDS = [
  'arrivals',
  'completed',
  'errors',
  'dropped',
  'calls',
  'cold_starts',
  'cold_share',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'p999_ms',
  'overhead_p99_ms',
  'peak_rss_mb',
  'memory_mb_s',
  'cpu_s',
];

const dir = mkdtempSync(join(tmpdir(), 'plume-bench-trace-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('plume bench trace', () => {
  let doc: TraceDoc | undefined;

  it('should print one JSON document with every case replaying the same arrivals', { timeout: 300_000 }, () => {
    const r = plume(['trace', '--quick', '--json']);
    assert.equal(r.status, 0, r.stderr);
    doc = JSON.parse(r.stdout) as TraceDoc; // exactly one document: JSON.parse refuses anything after it
    assert.equal(doc.scenario, 'trace');
    assert.match(doc.node, /^v24\./);
    const cases = ['plume', 'process-per-function', ...(hasWorkerd ? ['workerd'] : [])];
    assert.deepEqual(
      doc.results.map((row) => row.case),
      cases,
    );
    if (!hasWorkerd) assert.match(r.stderr, /workerd: skipped/);
    const arrivals = Number(doc.workload['arrivals']);
    assert.ok(arrivals > 0);
    for (const row of doc.results) {
      for (const f of FIELDS) assert.equal(typeof row[f], 'number', `${row.case}.${f}`);
      assert.equal(row['arrivals'], arrivals, `${row.case}: the same arrivals`);
      assert.equal(Number(row['completed']) + Number(row['errors']) + Number(row['dropped']), arrivals, row.case);
      assert.equal(row['errors'], 0, `${row.case}: ${r.stderr}`);
      assert.ok(Number(row['cold_share']) >= 0 && Number(row['cold_share']) <= 1);
      assert.ok(Number(row['calls']) >= Number(row['completed']), `${row.case}: chained calls count too`);
      assert.ok(Number(row['peak_rss_mb']) > 0 && Number(row['cpu_s']) > 0, `${row.case}: its processes were metered`);
      assert.ok(Number(row['p50_ms']) <= Number(row['p99_ms']));
    }
    // Scale-to-zero and a fresh process per instance both start cold at least once.
    assert.ok(Number(doc.results[0]!['cold_starts']) > 0);
    assert.ok(Number(doc.results[1]!['instances_started']) > 0);
    assert.ok(Number(doc.results[0]!['instances_replaced']) >= 0, 'Plume reports the instances it made off the call path');
    // The floor counts at least the first call of each function called.
    const floor = Number(doc.workload['cold_floor']);
    assert.ok(floor > 0 && floor <= Number(doc.workload['calls']), `cold_floor ${floor}`);
    assert.ok(Number(doc.workload['work_p99_ms']) > 0);
    assert.equal(doc.series.length, cases.length);
    for (const s of doc.series) {
      assert.ok(s.latency_cdf.length > 0 && s.memory.length > 0);
      assert.equal(
        s.minutes.reduce((n, m) => n + m.offered, 0),
        arrivals,
      );
    }
  });

  it(
    'should render a report whose every chart Chromium draws with data points',
    { skip: existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (apt-get install chromium)`, timeout: 120_000 },
    async () => {
      assert.ok(doc, 'the trace run above produced a document');
      const from = join(dir, 'docs');
      spawnSync('mkdir', ['-p', from]);
      writeFileSync(join(from, 'trace.json'), JSON.stringify(doc));
      const out = join(dir, 'report.html');
      const r = plume(['report', '--from', from, '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const requests: string[] = [];
        page.on('request', (req) => void (req.url().startsWith('file:') || requests.push(req.url())));
        await page.goto(pathToFileURL(out).href);
        const figures = await page.$$eval('figure', (figs) =>
          figs.map((f) => ({
            title: f.querySelector('figcaption')?.textContent ?? '',
            marks: f.querySelectorAll('svg .mark-line path, svg .mark-symbol path, svg .mark-rect path').length,
            width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
          })),
        );
        const titles = figures.map((f) => f.title).join(' | ');
        for (const want of [/Latency CDF/, /Cold starts over trace time/, /Memory over time/, /Throughput vs offered/, /CWASI/]) {
          assert.match(titles, want);
        }
        for (const f of figures) {
          assert.ok(f.marks > 0, `'${f.title}' drew no data points`);
          assert.ok(f.width > 100, `'${f.title}' has no size on the page`);
        }
        assert.ok((await page.$$('section#trace table tbody tr')).length >= 2);
        assert.deepEqual(requests, [], 'the report loads nothing from the network');
        if (SHOT) await page.screenshot({ path: SHOT, fullPage: true });
      } finally {
        await browser.close();
      }
    },
  );
});
