/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against a node on port 0.
 * Skipped, saying why, where Chromium is not installed (scripts/system-deps.sh installs it). Set
 * PLUME_UI_SCREENSHOTS=docs/ui to write a screenshot of each view there.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { guest } from '../helpers.ts';
import { deployBothWays, startNode, type TestNode } from '../gateway/support.ts';

const CHROMIUM = process.env['PLUME_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = process.env['PLUME_UI_SCREENSHOTS'];
const TOKEN = 'dashboard-test-token';
const HTML = '<img src=x onerror="window.__xss=1"><b>bold</b>';
const skip = existsSync(CHROMIUM)
  ? false
  : `Chromium not found at ${CHROMIUM}: install it with apt-get install chromium (scripts/system-deps.sh)`;

describe('the dashboard in Chromium', { skip }, () => {
  let node: TestNode;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    node = await startNode({ adminToken: TOKEN });
    // The greeting lands in the function's log: HTML in a log line.
    await node.plume.deploy('echo', guest('wasi-echo.wasm'), { env: { GREETING: HTML } });
    await deployBothWays(node.plume);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    // Any script error, CSP violation or dialog (an injected alert) fails the run at the end.
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await node?.close();
  });

  const view = async (id: string, ready: string): Promise<void> => {
    await page.click(`nav a[data-view="${id}"]`);
    await page.waitForSelector(ready);
  };
  const shoot = async (name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  };

  it('should refuse a wrong token at the login form and set no cookie', async () => {
    await page.goto(`${node.url}/ui`);
    assert.match(page.url(), /\/ui\/login$/);
    await shoot('login');
    await page.fill('#token', 'not-the-token');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    assert.equal(await page.textContent('[role=alert]'), 'That is not the admin token of this node.');
    assert.deepEqual(await page.context().cookies(), []);
    const api = await page.evaluate(async () => (await fetch('/ui/api/functions')).status);
    assert.equal(api, 401);
    // The browser logs the 403 and 401 just asked for; from here on nothing should fail.
    problems.length = 0;
  });

  it('should log in with the admin token and load the page fast from a warm node', async () => {
    await page.fill('#token', TOKEN);
    await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit]')]);
    const [cookie] = await page.context().cookies();
    assert.equal(cookie?.name, 'plume_ui');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    await page.waitForSelector('nav a[data-view="nodes"]');
    // Warm: load it again, then read the browser's own timing of that navigation.
    await page.goto(`${node.url}/ui/#/nodes`);
    await page.waitForSelector('.stat');
    const t = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return {
        ttfb: n.responseStart - n.startTime,
        dcl: n.domContentLoadedEventEnd - n.startTime,
        load: n.loadEventEnd - n.startTime,
        rendered: performance.now(),
      };
    });
    console.log(
      `dashboard page load (Navigation Timing, warm node, loopback): first byte ${t.ttfb.toFixed(1)} ms, DOMContentLoaded ${t.dcl.toFixed(1)} ms, load ${t.load.toFixed(1)} ms, nodes view drawn by ${t.rendered.toFixed(1)} ms`,
    );
    await shoot('nodes');
  });

  it('should list a deployed function with its numbers', async () => {
    await view('functions', 'tr[data-function="echo"]');
    assert.equal(await page.textContent('tr[data-function="echo"] td.name'), 'echo');
  });

  it('should invoke a function from the page and show its output as text, never as HTML', async () => {
    await page.click('tr[data-function="echo"] a:has-text("Invoke")');
    await page.waitForSelector('[data-input="body"]');
    await page.waitForFunction(() => (document.querySelector('[data-select="target"]') as HTMLSelectElement | null)?.value === 'echo');
    await page.fill('[data-input="body"]', HTML);
    await page.click('[data-action="invoke"]');
    await page.waitForSelector('[data-output]');
    assert.equal(await page.textContent('[data-output]'), HTML);
    assert.equal(await page.textContent('[data-status]'), '200');
    assert.equal(await page.locator('main img').count(), 0);
    await shoot('invoke');
  });

  it('should show a log line with HTML in it as text', async () => {
    await page.goto(`${node.url}/ui/#/logs/echo`);
    await page.waitForSelector('.log .line');
    const lines = await page.locator('.log .msg').allTextContents();
    assert.ok(lines.includes(`GREETING=${HTML}`), `log lines: ${JSON.stringify(lines)}`);
    assert.equal(await page.locator('main img').count(), 0);
    await shoot('logs');
  });

  it('should show a workflow run in the live trace view with each hop', async () => {
    await view('traces', '[data-stream="live"]');
    const res = await fetch(`${node.url}/workflow/both-ways`, { method: 'POST', body: 'hello' });
    assert.equal(await res.text(), 'HELLO olleh');
    const row = page.locator('.wf-row.workflow[data-name="both-ways"]').first();
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /ok/);
    for (const id of ['loud', 'back', 'both']) assert.equal((await page.locator(`.hops [data-step="${id}"]`).count()) > 0, true, id);
    const hop = await page.locator('.hops [data-hop="loud->both"]').first().textContent();
    assert.match(hop ?? '', /loud → both: embedded 5 B moved/);
    await shoot('traces');
  });

  it('should draw the workflow as its DAG with the mode and bytes of each edge', async () => {
    await view('workflows', '[data-workflow="both-ways"] svg.dag');
    for (const edge of ['$input->loud', '$input->back', 'loud->both', 'back->both', 'both->$output']) {
      assert.equal(await page.locator(`[data-edge="${edge}"]`).count(), 1, edge);
    }
    await page.waitForSelector('[data-edge="loud->both"] .edge-label');
    const label = await page.locator('[data-edge="loud->both"] .edge-label').allTextContents();
    assert.deepEqual(label, ['embedded', '5 B moved · 15 B copied']);
    await shoot('workflows');
    if (SHOTS) {
      // The functions view again, now that calls have numbers (calls/s needs two samples a second apart).
      await view('functions', 'tr[data-function="echo"]');
      await page.waitForTimeout(2500);
      await shoot('functions');
    }
  });

  it('should have raised no script error, CSP violation or dialog', () => {
    assert.deepEqual(problems, []);
  });
});
