/**
 * The `plume` case's node, in a process of its own so that its memory and CPU are measured apart from the
 * load generator: the embedded runtime (one worker per core, the default pools: an instance idle 30 s is
 * dropped, the next call restores one from the snapshot and counts as cold) behind plain HTTP.
 * `POST /f/NAME` invokes NAME with the body; `GET /stats` sums cold starts, calls and instances replaced
 * off the call path over all functions (the workers count chained calls too). Argument: `{"functions": [...], "module": PATH}`; prints `ready PORT`.
 */
import { readFile } from 'node:fs/promises';
import { Plume } from '../../src/runtime.ts';
import { serve } from './serve.ts';

const config = JSON.parse(process.argv[2] ?? '') as { functions: string[]; module: string };
const plume = await Plume.start();
const module = new Uint8Array(await readFile(config.module));
for (const name of config.functions) await plume.deploy(name, module);

const { server, port } = await serve(async (path, input) => {
  if (path === '/stats') {
    const stats = Object.values(await plume.stats());
    return JSON.stringify({
      cold: stats.reduce((n, s) => n + s.coldStarts, 0),
      calls: stats.reduce((n, s) => n + s.invocations, 0),
      replaced: stats.reduce((n, s) => n + s.instancesReplaced, 0),
    });
  }
  return plume.invoke(decodeURIComponent(path.slice('/f/'.length)), input);
});
process.stdout.write(`ready ${port}\n`);

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void plume.close().then(() => process.exit(0));
});
