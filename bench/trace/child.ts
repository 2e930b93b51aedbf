/** Child processes of the trace cases: started with their configuration, ready once they print `ready PORT`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly url: string;
}

const READY_MS = 60_000;

/** Runs `script` (a .ts file next to this one) under this Node; resolves once it listens. */
export async function startChild(script: string, config: unknown): Promise<Child> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', file, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await readyPort(child, script);
  return { process: child, pid: child.pid!, url: `http://127.0.0.1:${port}` };
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * The port of the child's first line, `ready PORT` (or `PREFIX PORT` for `pattern`); rejects if it exits
 * first or stays silent past `readyMs`.
 */
export function readyPort(child: ChildProcess, what: string, pattern = /^ready (\d+)$/, readyMs = READY_MS): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const fail = (why: string): void => {
      clearTimeout(timer);
      lines.close();
      child.kill('SIGKILL');
      reject(new Error(`${what}: ${why}`));
    };
    const onExit = (code: number | null, signal: string | null): void => fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
    const timer = setTimeout(() => fail(`not ready within ${readyMs / 1000} s`), readyMs);
    child.once('exit', onExit);
    lines.on('line', (line) => {
      const port = Number(pattern.exec(line)?.[1]);
      if (!port) return;
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      lines.close();
      resolve(port);
    });
  });
}
