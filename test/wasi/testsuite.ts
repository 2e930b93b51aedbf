/**
 * Runs the public WASI preview1 test suite (WebAssembly/wasi-testsuite, ../shared/wasi-testsuite) through
 * `plume run` — the same CLI code path `npx plume run` takes — and judges each test by the suite's own .json
 * expectations (specification.md: args, env, root, exit_code, stdout). The 95 MB of prebuilt tests are
 * unpacked at run time into the git-ignored .tmp/, never committed.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
/** The suite's archive: `WASI_TESTSUITE` names another copy. */
export const SUITE_ARCHIVE = process.env['WASI_TESTSUITE'] ?? resolve(ROOT, '../shared/wasi-testsuite/preview1-tests.tar.zst');
const UNPACKED = join(ROOT, '.tmp/wasi-testsuite');
const CLI = join(ROOT, 'src/cli/main.ts');

export interface SuiteCase {
  /** `<suite>/<test>`, for example `rust/symlink_loop`. */
  readonly name: string;
  readonly wasm: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Host directory preopened as the guest's `/`. */
  readonly root: string | undefined;
  readonly exitCode: number;
  readonly stdout: string | undefined;
}

export interface CaseResult {
  readonly name: string;
  readonly pass: boolean;
  /** Why it failed, in one line. */
  readonly reason?: string;
}

/** Unpacks the archive once (a fresh copy each time, so fixture directories start as the suite ships them). */
export async function unpackSuite(): Promise<string> {
  rmSync(UNPACKED, { recursive: true, force: true });
  await promisify(execFile)('mkdir', ['-p', UNPACKED]);
  await promisify(execFile)('tar', ['--zstd', '-xf', SUITE_ARCHIVE, '-C', UNPACKED]);
  return join(UNPACKED, 'tests');
}

export function listCases(testsDir: string): SuiteCase[] {
  const cases: SuiteCase[] = [];
  for (const suite of readdirSync(testsDir).sort()) {
    const dir = join(testsDir, suite, 'testsuite/wasm32-wasip1');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) {
      if (!file.endsWith('.wasm')) continue;
      const base = file.slice(0, -'.wasm'.length);
      const specFile = join(dir, `${base}.json`);
      const spec = existsSync(specFile) ? (JSON.parse(readFileSync(specFile, 'utf8')) as LegacySpec) : {};
      cases.push(fromSpec(`${suite}/${base}`, join(dir, file), spec));
    }
  }
  return cases;
}

interface LegacySpec {
  args?: string[];
  env?: Record<string, string>;
  root?: string | null;
  dirs?: string[];
  exit_code?: number;
  stdout?: string;
  operations?: Operation[];
}

interface Operation {
  type: string;
  args?: string[];
  env?: Record<string, string>;
  root?: string | null;
  exit_code?: number;
  id?: string;
  payload?: string;
}

function fromSpec(name: string, wasm: string, spec: LegacySpec): SuiteCase {
  const dir = dirname(wasm);
  if (spec.operations) {
    const none: Operation = { type: '' };
    const run = spec.operations.find((op) => op.type === 'run') ?? none;
    const wait = spec.operations.find((op) => op.type === 'wait') ?? none;
    const read = spec.operations.find((op) => op.type === 'read' && (op.id ?? 'stdout') === 'stdout');
    return {
      name,
      wasm,
      args: run.args ?? [],
      env: run.env ?? {},
      root: run.root ? join(dir, run.root) : undefined,
      exitCode: wait.exit_code ?? 0,
      stdout: read ? (read.payload ?? '') : undefined,
    };
  }
  return {
    name,
    wasm,
    args: spec.args ?? [],
    env: spec.env ?? {},
    root: spec.root ? join(dir, spec.root) : undefined,
    exitCode: spec.exit_code ?? 0,
    // Checked only when given, as the suite's own runner does (test-runner/wasi_test_runner/test_case.py:
    // `stdout: Optional[str] = None`); specification.md's table lists "" as a default, but tests such as
    // rust/path_open_preopen print diagnostics on success under every runtime.
    stdout: spec.stdout,
  };
}

/** Removes the `*.cleanup` artefacts a previous run left (specification.md, "Execution Preparation"). */
function cleanup(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry.endsWith('.cleanup')) rmSync(path, { recursive: true, force: true });
    else if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) cleanup(path);
  }
}

/** One case through `plume run <wasm> --dir root::/ --env k=v -- args…`. */
export function runCase(c: SuiteCase, timeoutMs = 60_000): Promise<CaseResult> {
  const argv = ['--disable-warning=ExperimentalWarning', CLI, 'run', c.wasm, '--timeout', String(timeoutMs)];
  if (c.root) argv.push('--dir', `${c.root}::/`);
  for (const [k, v] of Object.entries(c.env)) argv.push('--env', `${k}=${v}`);
  argv.push('--', ...c.args);
  return new Promise((done) => {
    const child = spawn(process.execPath, argv, { cwd: c.root ?? dirname(c.wasm), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString().trim().split('\n').slice(-1)[0] ?? '';
      const exit = code ?? -1;
      if (exit !== c.exitCode) {
        done({ name: c.name, pass: false, reason: `exit ${signal ?? exit}, expected ${c.exitCode}: ${stderr.slice(0, 300)}` });
      } else if (c.stdout !== undefined && stdout !== c.stdout) {
        done({ name: c.name, pass: false, reason: `stdout ${JSON.stringify(stdout.slice(0, 200))}, expected ${JSON.stringify(c.stdout)}` });
      } else done({ name: c.name, pass: true });
    });
  });
}

/** Every case, `parallel` at a time (the machine is small: 2 by default). */
export async function runSuite(cases: readonly SuiteCase[], parallel = 2): Promise<CaseResult[]> {
  // Once, before any test runs: tests that share a fixture directory run side by side, each under its own
  // `*.cleanup` names, and cleaning before each would delete a running neighbour's files.
  for (const root of new Set(cases.map((c) => c.root))) if (root) cleanup(root);
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCase(cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return results;
}

export const caseName = (wasm: string): string => basename(wasm, '.wasm');
