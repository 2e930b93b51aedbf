/**
 * Async accept latency (issue 11 target: p99 ≤ 5 ms): the time from sending `POST /async-function/noop`
 * to reading its 202, on a `plume up` node with the queue in memory (the baseline) and on one with
 * `--redis` (XADD + pending record before the 202), same run, same client. The nodes are separate
 * processes; the client is this one. Run: `npx node --disable-warning=ExperimentalWarning bench/async-accept.ts [--quick]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startUp, type UpNode } from '../test/support/cli.ts';
import { startRedis } from '../test/support/redis.ts';
import { latency } from './report.ts';

const quick = process.argv.includes('--quick');
const N = quick ? 300 : 3000;
const noop = readFileSync(fileURLToPath(new URL('../examples/noop/noop.wasm', import.meta.url)));

async function measure(node: UpNode, concurrency: number): Promise<ReturnType<typeof latency> & { refused: number }> {
  const samples: number[] = [];
  let refused = 0;
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < N) {
      next++;
      const started = performance.now();
      const res = await fetch(`${node.url}/async-function/noop`, { method: 'POST', body: 'x' });
      await res.arrayBuffer();
      if (res.status === 202) samples.push(performance.now() - started);
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { ...latency(samples), refused };
}

const redis = await startRedis();
const results: Record<string, unknown>[] = [];
try {
  for (const mode of ['memory', 'redis'] as const) {
    const node = await startUp(['--workers', '1', ...(mode === 'redis' ? ['--redis', redis.url] : [])]);
    try {
      await fetch(`${node.url}/system/functions/noop`, { method: 'PUT', body: noop });
      await measure(node, 4); // warm-up: connections, JIT, the scripts loaded into Redis
      for (const concurrency of [1, 16]) results.push({ case: `accept/${mode}`, concurrency, ...(await measure(node, concurrency)) });
    } finally {
      await node.stop();
    }
  }
} finally {
  await redis.stop();
}
process.stdout.write(`${JSON.stringify({ scenario: 'async-accept', calls: N, results }, null, 1)}\n`);
