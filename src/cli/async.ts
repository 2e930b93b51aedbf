/**
 * `plume async ls [--failed]`: the recent async calls of a running node (of every node, when they share a
 * Redis), or the callbacks dead-lettered after their last attempt. Reads `/system/async` (admin token).
 */
import type { CallRecord, DeadLetter } from '../cluster/async-queue.ts';
import { table } from '../workflow/timeline.ts';
import { NodeClient, type ClientOptions } from './client.ts';

export interface AsyncLsOptions extends ClientOptions {
  failed?: boolean;
  json?: boolean;
  limit?: number;
}

export async function asyncLsCommand(opts: AsyncLsOptions): Promise<void> {
  const node = new NodeClient(opts);
  const query = { limit: opts.limit?.toString() };
  if (opts.failed) {
    const { failed } = await node.json<{ failed: DeadLetter[] }>('GET', '/system/async/failed', { query });
    if (opts.json) return print(JSON.stringify(failed));
    const rows = [
      ['CALL', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'AT', 'CALLBACK', 'LAST ERROR'],
      ...failed.map((d) => [
        d.id,
        d.function,
        String(d.status),
        String(d.attempts),
        new Date(d.at).toISOString(),
        d.callbackUrl,
        d.lastError,
      ]),
    ];
    return print(failed.length ? table(rows, []).join('\n') : 'no dead letters');
  }
  const { durable, calls } = await node.json<{ durable: boolean; calls: CallRecord[] }>('GET', '/system/async', { query });
  if (opts.json) return print(JSON.stringify({ durable, calls }));
  const rows = [
    ['CALL', 'FUNCTION', 'STATE', 'STATUS', 'RUNS', 'NODE', 'ACCEPTED'],
    ...calls.map((c) => [c.id, c.function, c.state, String(c.status), String(c.runs), c.node ?? '-', new Date(c.acceptedAt).toISOString()]),
  ];
  print(`${durable ? 'durable (Redis)' : 'in memory'}: ${calls.length} calls\n${table(rows, []).join('\n')}`);
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
