/** `plume demo` as a user runs it right after install: a real child process, the real models and sample. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { root } from './helpers.ts';

/** The text examples/ocr/make-sample.ts renders into examples/ocr/sample.png. */
const SAMPLE_LINES = ['Serverless inference with WebAssembly', 'Invoice 2024-117', 'Total due: 1,250.00 USD', 'Thank you for your order!'];
const STEPS = ['image', 'det_input', 'probs', 'boxes', 'lines', 'upright', 'logits', 'texts', 'result'];

const demo = (args: string[] = []) =>
  spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), 'demo', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });

interface DemoJson {
  lines: { text: string; confidence: number; box: number[] }[];
  timings: {
    setup_ms: number;
    first_run_ms: number;
    run_ms: number;
    stages: { step: string; function: string; calls: number; start_ms: number; end_ms: number }[];
  };
}

describe('plume demo', () => {
  it("should print the sample's lines, in reading order, and a timing table of its stages", () => {
    const r = demo();
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.split('\n');
    assert.equal(out[0], 'OCR of examples/ocr/sample.png: 4 lines');
    assert.deepEqual(
      out.slice(1, 5).map((line) => line.trim().split(/\s{2,}/)[0]),
      SAMPLE_LINES,
    );
    assert.match(r.stdout, /setup [\d.]+ ms \(compile, snapshots, model sessions\) · first run [\d.]+ ms · warm run [\d.]+ ms/);
    assert.match(r.stdout, /workflow 'ocr' ok in [\d.]+ ms/);
    for (const step of STEPS) assert.match(r.stdout, new RegExp(`^${step}\\s+ocr-`, 'm'));
  });

  it('should print the result and the timings as one JSON document with --json', () => {
    const r = demo(['--json']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as DemoJson;
    assert.deepEqual(
      doc.lines.map((l) => l.text),
      SAMPLE_LINES,
    );
    for (const line of doc.lines) {
      assert.ok(line.confidence >= 0.5 && line.confidence <= 1, JSON.stringify(line));
      assert.equal(line.box.length, 4);
      assert.ok(line.box[0]! < line.box[2]! && line.box[1]! < line.box[3]!, JSON.stringify(line));
    }
    // Reading order: each line's box starts below the previous one's top.
    for (let i = 1; i < doc.lines.length; i++) assert.ok(doc.lines[i]!.box[1]! > doc.lines[i - 1]!.box[1]!);
    const { timings } = doc;
    for (const key of ['setup_ms', 'first_run_ms', 'run_ms'] as const) assert.ok(timings[key] > 0, key);
    assert.deepEqual(
      timings.stages.map((s) => s.step),
      STEPS,
    );
    for (const stage of timings.stages) {
      assert.ok(stage.end_ms >= stage.start_ms && stage.end_ms <= timings.run_ms + 0.01, JSON.stringify(stage));
      // The per-line steps fan out: one call per line; the others run once.
      assert.equal(stage.calls, ['upright', 'logits', 'texts'].includes(stage.step) ? SAMPLE_LINES.length : 1, stage.step);
    }
  });

  it('should read another image with --input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-demo-'));
    const file = join(dir, 'note.png');
    const ink = await sharp({ text: { text: 'Ship it on Friday', font: 'sans', dpi: 200, rgba: false } })
      .negate()
      .png()
      .toBuffer();
    await sharp(ink).extend({ top: 30, bottom: 30, left: 30, right: 30, background: '#ffffff' }).png().toFile(file);
    const r = demo(['--input', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as DemoJson).lines.map((l) => l.text),
      ['Ship it on Friday'],
    );
  });

  it('should fail with one line naming the problem for a missing file and for bytes that are not a PNG', () => {
    const missing = demo(['--input', 'no-such-image.png']);
    assert.notEqual(missing.status, 0);
    assert.equal(missing.stderr, "plume: cannot read input file 'no-such-image.png': ENOENT\n");
    const dir = mkdtempSync(join(tmpdir(), 'plume-demo-'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const junk = demo(['--input', join(dir, 'notes.txt')]);
    assert.notEqual(junk.status, 0);
    assert.match(junk.stderr, /^plume: .*ocr-decode.*not a PNG image.*\n$/);
  });
});
