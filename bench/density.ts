/**
 * `plume bench density`: how many idle instances of a one-page function one node holds, and what each costs
 * in resident memory. V8 reserves ~10 GiB of address space per Wasm memory for its guard regions, which caps
 * a process at ~16 k memories; past that the node must run with --disable-wasm-trap-handler (explicit
 * bounds checks), so this scenario measures in a child process started with that flag.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Plume } from '../src/runtime.ts';
import { round, type CaseResult } from './report.ts';

const NOOP = fileURLToPath(new URL('../examples/noop/noop.wasm', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const FLAG = '--disable-wasm-trap-handler';

/**
 * Cases: `idle-instances` — restored from the snapshot and never run (a one-page function whose snapshot
 * is all zero touches no page); `idle-instances-used` — each ran one call and was reset, which zeroes its
 * whole page, as instances of a pool that has served traffic.
 */
export function density(instances = 25_000): CaseResult[] {
  return [false, true].map((exercise) => {
    const out = execFileSync(
      process.execPath,
      [FLAG, '--expose-gc', '--disable-warning=ExperimentalWarning', SELF, String(instances), String(exercise)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
    );
    return JSON.parse(out) as CaseResult;
  });
}

async function measure(instances: number, exercise: boolean): Promise<CaseResult> {
  const plume = await Plume.start();
  try {
    await plume.deploy('noop', NOOP);
    await plume.invoke('noop');
    const before = rss();
    const perWorker = Math.ceil(instances / plume.workers);
    const held = await plume.prewarm('noop', perWorker, { exercise });
    await plume.invoke('noop');
    const after = rss();
    const perInstance = (after - before) / held;
    return {
      case: exercise ? 'idle-instances-used' : 'idle-instances',
      instances: held,
      rss_mb: round(after / 2 ** 20),
      per_instance_kb: round(perInstance / 1024),
      instances_per_gib: Math.floor(2 ** 30 / perInstance),
    };
  } finally {
    await plume.close();
  }
}

function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
}

if (process.argv[1] === SELF) {
  process.stdout.write(JSON.stringify(await measure(Number(process.argv[2]), process.argv[3] === 'true')));
}
