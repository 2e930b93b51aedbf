/** The `plume` command as a user runs it, in child processes: one-shot commands, and `plume up` nodes. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { root } from '../helpers.ts';

export const CLI = ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts')];

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end, blocking this process (for commands that need nothing from it, like benchmarks). */
export function runCliSync(args: string[], timeoutMs: number): Run {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI in a child process without blocking this one (a node under test may live here). */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child);
}

/** Waits for a child spawned with piped stdout and stderr to close: its exit status and all it printed. */
export async function collect(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}

export interface UpNode {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** `plume up` on a free port: resolves with its URL once it prints it (it listens from then on). */
export async function startUp(args: string[]): Promise<UpNode> {
  const child = spawn(process.execPath, [...CLI, 'up', '--port', '0', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = once(child, 'close');
  const [first] = (await Promise.race([once(child.stdout.setEncoding('utf8'), 'data'), exited])) as [string | number];
  if (typeof first !== 'string') throw new Error(`plume up exited (${first}): ${stderr}`);
  return {
    url: first.trim(),
    child,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** POSTs `body` to the node's `path`, with the bearer token if given: the status, text and content type. */
export async function post(
  node: Pick<UpNode, 'url'>,
  path: string,
  body: string,
  token?: string,
): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${node.url}${path}`, { method: 'POST', body, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}
