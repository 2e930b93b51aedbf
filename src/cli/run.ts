/** `plume run`: one invocation, in process, output bytes to stdout, the exit code of a WASI command as ours. */
import { resolve } from 'node:path';
import { Plume } from '../runtime.ts';
import type { DeployOptions } from '../engine/compile.ts';
import { parseEnvPairs } from '../gateway/protocol.ts';
import { readInput } from './input.ts';

interface RunOptions {
  data?: string;
  input?: string;
  memory?: number;
  timeout?: number;
  entry?: string;
  env: string[];
  dir: string[];
}

export async function runCommand(module: string, args: string[], opts: RunOptions): Promise<void> {
  const input = await readInput(opts);
  const deploy: DeployOptions = {
    args,
    env: parseEnvPairs(opts.env, '--env'),
    dirs: parseDirs(opts.dir),
    limits: {
      ...(opts.memory === undefined ? {} : { memoryMb: opts.memory }),
      ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }),
    },
    ...(opts.entry === undefined ? {} : { entry: opts.entry }),
  };
  const plume = await Plume.start({ workers: 1, logTo: process.stderr });
  try {
    await plume.deploy('main', module, deploy);
    const result = await plume.invokeDetailed('main', input);
    await new Promise<void>((done) => process.stdout.write(result.output, () => done()));
    if (result.exitCode) process.exitCode = result.exitCode;
  } finally {
    await plume.close();
  }
}

function parseDirs(specs: string[]): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const spec of specs) {
    const [host, guest = host] = spec.split('::');
    if (!host) throw new TypeError(`--dir expects HOST_DIR[::GUEST_DIR], got '${spec}'`);
    dirs[guest!] = resolve(host);
  }
  return dirs;
}
