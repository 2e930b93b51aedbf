// Builds every example and test guest (.wasm next to its source) from source: `npm run build:examples`.
// Needs clang + lld + wasi-libc + libclang-rt (wasm32) for C, and AssemblyScript (devDependency) for .ts.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Kind = 'reactor' | 'command' | 'bare' | 'bare-imported-memory' | 'as';
const artefacts: { src: string; out: string; kind: Kind }[] = [
  { src: 'examples/hello/hello.ts', out: 'examples/hello/hello.wasm', kind: 'as' },
  { src: 'examples/c-echo/echo.c', out: 'examples/c-echo/echo.wasm', kind: 'reactor' },
  { src: 'examples/wasi-wc/wc.c', out: 'examples/wasi-wc/wc.wasm', kind: 'command' },
  { src: 'examples/noop/noop.c', out: 'examples/noop/noop.wasm', kind: 'bare' },
  { src: 'examples/workflows/text.c', out: 'examples/workflows/text.wasm', kind: 'reactor' },
  // the OCR steps (examples/ocr/README.md); ctc.c embeds ppocr_keys_v1.txt from node_modules at build time
  { src: 'examples/ocr/decode.c', out: 'examples/ocr/decode.wasm', kind: 'reactor' },
  { src: 'examples/ocr/det_prep.c', out: 'examples/ocr/det_prep.wasm', kind: 'reactor' },
  { src: 'examples/ocr/infer.c', out: 'examples/ocr/infer.wasm', kind: 'reactor' },
  { src: 'examples/ocr/db_post.c', out: 'examples/ocr/db_post.wasm', kind: 'reactor' },
  { src: 'examples/ocr/crop.c', out: 'examples/ocr/crop.wasm', kind: 'reactor' },
  { src: 'examples/ocr/cls.c', out: 'examples/ocr/cls.wasm', kind: 'reactor' },
  { src: 'examples/ocr/ctc.c', out: 'examples/ocr/ctc.wasm', kind: 'reactor' },
  { src: 'examples/ocr/format.c', out: 'examples/ocr/format.wasm', kind: 'reactor' },
  { src: 'test/guests/conformance.c', out: 'test/guests/conformance-c.wasm', kind: 'reactor' },
  { src: 'test/guests/conformance.ts', out: 'test/guests/conformance-as.wasm', kind: 'as' },
  { src: 'test/guests/chain-as.ts', out: 'test/guests/chain-as.wasm', kind: 'as' },
  { src: 'test/guests/state-as.ts', out: 'test/guests/state-as.wasm', kind: 'as' },
  { src: 'bench/guests/hostile.c', out: 'bench/guests/hostile.wasm', kind: 'reactor' },
  { src: 'test/guests/chain.c', out: 'test/guests/chain.wasm', kind: 'reactor' },
  { src: 'test/guests/state.c', out: 'test/guests/state.wasm', kind: 'reactor' },
  { src: 'bench/guests/transfer.c', out: 'bench/guests/transfer.wasm', kind: 'reactor' },
  { src: 'bench/guests/echo.c', out: 'bench/guests/echo.wasm', kind: 'reactor' },
  { src: 'bench/guests/batch.c', out: 'bench/guests/batch.wasm', kind: 'reactor' },
  { src: 'bench/guests/burn.c', out: 'bench/guests/burn.wasm', kind: 'reactor' },
  { src: 'bench/guests/wasi-ops.c', out: 'bench/guests/wasi-ops.wasm', kind: 'bare-imported-memory' },
  { src: 'bench/guests/wasi-sleep.c', out: 'bench/guests/wasi-sleep.wasm', kind: 'command' },
  { src: 'bench/guests/wasi-pipe.c', out: 'bench/guests/wasi-pipe.wasm', kind: 'command' },
  { src: 'test/guests/wasi-echo.c', out: 'test/guests/wasi-echo.wasm', kind: 'command' },
  { src: 'test/guests/wasi-cat.c', out: 'test/guests/wasi-cat.wasm', kind: 'command' },
  { src: 'test/guests/wasi-probe.c', out: 'test/guests/wasi-probe.wasm', kind: 'command' },
  { src: 'test/guests/nn-run.c', out: 'test/guests/nn-run.wasm', kind: 'command' },
  { src: 'test/guests/nn-as.ts', out: 'test/guests/nn-as.wasm', kind: 'as' },
  { src: 'test/guests/workflow.c', out: 'test/guests/workflow.wasm', kind: 'reactor' },
];

const clangBase = ['--target=wasm32-wasi', '-O2', '-Wall', '-Isdk/c', '-Wl,--strip-all'];
const flags: Record<Kind, string[]> = {
  reactor: [...clangBase, '-mexec-model=reactor'],
  command: clangBase,
  // no libc, no entry, exactly one 64 KiB page of memory (16 KiB of it stack)
  bare: [...clangBase, '-nostdlib', '-Wl,--no-entry', '-Wl,--initial-memory=65536', '-Wl,-z,stack-size=16384'],
  // A guest any WASI host can instantiate over a memory it made first (bench/wasi.ts: room for 1 MiB buffers).
  'bare-imported-memory': [
    ...clangBase,
    '-nostdlib',
    '-Wl,--no-entry',
    '-Wl,--import-memory',
    '-Wl,--initial-memory=1245184',
    '-Wl,-z,stack-size=16384',
  ],
  as: [],
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const abort = 'sdk/assemblyscript/index/plumeAbort'; // the SDK's abort handler, by its asc internal path

function die(message: string): never {
  console.error(`build-examples: ${message}`);
  process.exit(1);
}

// clang runs wasm-opt after linking when it finds one on PATH: always use binaryen's from node_modules (as
// `npm run` does), so that the output does not depend on how the script was started.
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env['PATH'] ?? ''}` };

function run(file: string, args: string[]): string {
  return execFileSync(file, args, { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

// --- toolchain checks ---
const needsClang = artefacts.some((a) => a.kind !== 'as');
if (needsClang) {
  try {
    run('clang', ['--version']);
  } catch {
    die('clang is missing (install clang, lld, wasi-libc and libclang-rt-dev-wasm32)');
  }
  const libc = run('clang', ['--target=wasm32-wasi', '-print-file-name=libc.a']);
  if (!existsSync(libc)) die('wasi-libc is missing for clang --target=wasm32-wasi (install wasi-libc)');
  const rt = run('clang', ['--target=wasm32-wasi', '-print-libgcc-file-name']);
  if (!existsSync(rt)) die(`${rt} is missing (install libclang-rt-dev-wasm32)`);
  if (!existsSync(run('clang', ['-print-prog-name=wasm-ld']))) die('wasm-ld is missing (install lld)');
}
let asc = '';
if (artefacts.some((a) => a.kind === 'as')) {
  try {
    asc = join(dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')), 'bin', 'asc.js');
  } catch {
    die('AssemblyScript (asc) is missing: run npm install');
  }
}

// --- build ---
for (const { src, out, kind } of artefacts) {
  try {
    if (kind === 'as') {
      run(process.execPath, [
        asc,
        src,
        '-o',
        out,
        '--runtime',
        'stub',
        '-O3',
        '--noAssert',
        '--exportStart',
        '_initialize',
        '--use',
        `abort=${abort}`,
      ]);
    } else {
      run('clang', [...flags[kind], src, '-o', out]);
    }
  } catch (error) {
    die(`${src} failed to build (compiler output above): ${(error as Error).message.split('\n')[0]}`);
  }
  console.log(`${out.padEnd(34)} ${String(statSync(join(root, out)).size).padStart(6)} bytes  ${kind.padEnd(7)} <- ${src}`);
}
