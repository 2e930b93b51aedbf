/** Starts peer-server.ts in a child process for the socket modes' peer-death test. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DoomedPeer } from './contract.ts';

const script = fileURLToPath(new URL('./peer-server.ts', import.meta.url));

export async function spawnPeer(mode: 'local' | 'networked'): Promise<DoomedPeer> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`the ${mode} peer exited before listening`);
  const { address } = JSON.parse(first.value) as { address: string };
  const responding = lines.next().then(({ value }) => {
    if (value !== 'responding') throw new Error(`the ${mode} peer said '${value}', not 'responding'`);
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  };
  return {
    address,
    responding,
    kill: () => {
      // Stop reading for 50 ms first: the child fills the socket buffers meanwhile, so the kill lands with
      // part of the 100 MB delivered and the rest unsent, rather than before the first byte.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      kill();
    },
    cleanup: async () => {
      kill();
      await exited;
      // A killed server cannot unlink its socket file.
      if (mode === 'local') await rm(address, { force: true });
    },
  };
}
