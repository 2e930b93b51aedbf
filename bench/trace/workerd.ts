/**
 * The `workerd` case: Cloudflare's runtime (the `workerd` npm package's binary) serving every trace
 * function as a Worker of its own (workerd-worker.js with trace-fn.wasm as its Wasm module), successors
 * bound as services (one in-process hop each), and an entry Worker routing `POST /f/NAME`. One process;
 * workerd loads every Worker at start-up and keeps it, so it has no cold starts to count during a replay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readyPort, stopChild } from './child.ts';

const COMPAT_DATE = '2025-01-01';

/**
 * The workerd binary and its version, or why it cannot run here (the case is then skipped); packages are
 * looked up from `from` (this file: the repository's node_modules).
 */
export function findWorkerd(from: string = import.meta.url): { binary: string; version: string } | { missing: string } {
  const require = createRequire(from);
  let pkg: string;
  try {
    pkg = require.resolve('workerd/package.json');
  } catch {
    return { missing: "the npm package 'workerd' is not installed (npm install --save-dev workerd)" };
  }
  const version = (require(pkg) as { version: string }).version;
  try {
    const platform = require.resolve(
      `@cloudflare/workerd-${process.platform}-${process.arch === 'x64' ? '64' : process.arch}/package.json`,
    );
    return { binary: join(dirname(platform), 'bin', 'workerd'), version };
  } catch {
    return { missing: `workerd ${version} has no binary for ${process.platform}-${process.arch}` };
  }
}

export interface WorkerdNode {
  readonly url: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** Writes the config (capnp) for `functions` and their `edges`, starts workerd, resolves once it listens. */
export async function startWorkerd(
  binary: string,
  module: string,
  functions: readonly string[],
  edges: Readonly<Record<string, readonly string[]>>,
): Promise<WorkerdNode> {
  const dir = mkdtempSync(join(tmpdir(), 'plume-workerd-'));
  const here = dirname(fileURLToPath(import.meta.url));
  copyFileSync(join(here, 'workerd-worker.js'), join(dir, 'worker.js'));
  copyFileSync(join(here, 'workerd-entry.js'), join(dir, 'entry.js'));
  copyFileSync(module, join(dir, 'trace-fn.wasm'));
  writeFileSync(join(dir, 'config.capnp'), capnpConfig(functions, edges));
  const child: ChildProcess = spawn(binary, ['serve', join(dir, 'config.capnp'), '--control-fd=3'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
  });
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    // --control-fd writes {"event":"listen","socket":"http","port":N} once the socket listens.
    const control = Object.assign(child, { stdout: child.stdio[3] as NodeJS.ReadableStream }) as ChildProcess;
    const port = await readyPort(control, 'workerd', /"socket":"http","port":(\d+)/);
    return {
      url: `http://127.0.0.1:${port}`,
      pid: child.pid!,
      close: async () => {
        await stopChild(child);
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** One Worker per function with its successors bound by name, and an entry Worker bound to them all. */
export function capnpConfig(functions: readonly string[], edges: Readonly<Record<string, readonly string[]>>): string {
  const bindings = (names: readonly string[]): string => names.map((n) => `(name = "${n}", service = "${n}")`).join(', ');
  const worker = (fn: string): string =>
    `    (name = "${fn}", worker = (compatibilityDate = "${COMPAT_DATE}", ` +
    `modules = [(name = "worker.js", esModule = embed "worker.js"), (name = "trace-fn.wasm", wasm = embed "trace-fn.wasm")], ` +
    `bindings = [${bindings(edges[fn] ?? [])}]))`;
  return [
    'using Workerd = import "/workerd/workerd.capnp";',
    'const config :Workerd.Config = (',
    '  services = [',
    `    (name = "entry", worker = (compatibilityDate = "${COMPAT_DATE}", modules = [(name = "entry.js", esModule = embed "entry.js")], bindings = [${bindings(functions)}])),`,
    functions.map(worker).join(',\n'),
    '  ],',
    '  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "entry")],',
    ');',
    '',
  ].join('\n');
}
