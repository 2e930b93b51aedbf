/**
 * Client commands that manage and call functions on a running node: `deploy`, `invoke`, `ls`, `rm`, `logs`,
 * `model add`. Each is one request of the HTTP contract (docs/gateway.md).
 */
import type { FunctionInfo, LogLine } from '../runtime.ts';
import { Headers } from '../gateway/protocol.ts';
import { readFileOr } from '../read-file.ts';
import { table } from '../workflow/timeline.ts';
import { NodeClient, type ClientOptions } from './client.ts';
import { readInput } from './input.ts';

export interface DeployCommandOptions extends ClientOptions {
  memory?: number;
  timeout?: number;
  entry?: string;
  env: string[];
  stateful?: boolean;
  concurrency?: number;
  queue?: number;
  contentType?: string;
  invokeToken?: string;
}

type Listed = FunctionInfo & { contentType: string; protected: boolean; outstanding: number };

export async function deployCommand(name: string, module: string, opts: DeployCommandOptions): Promise<void> {
  const node = new NodeClient(opts);
  const bytes = await readFileOr('PLUME_EMODULE', 'module', module);
  const info = await node.json<Listed>('PUT', `/system/functions/${encodeURIComponent(name)}`, {
    body: bytes,
    headers: opts.invokeToken === undefined ? {} : { [Headers.invokeToken]: opts.invokeToken },
    query: {
      memory: opts.memory?.toString(),
      timeout: opts.timeout?.toString(),
      entry: opts.entry,
      env: opts.env,
      stateful: opts.stateful ? 'true' : undefined,
      concurrency: opts.concurrency?.toString(),
      queue: opts.queue?.toString(),
      contentType: opts.contentType,
    },
  });
  process.stdout.write(`deployed ${info.name} version ${info.version} (${info.kind}) at ${node.url}\n`);
}

export async function invokeCommand(name: string, opts: ClientOptions & { data?: string; input?: string; async?: boolean }): Promise<void> {
  const node = new NodeClient(opts);
  const body = await readInput(opts);
  if (opts.async) {
    const { callId, result } = await node.json<{ callId: string; result: string }>('POST', `/async-function/${encodeURIComponent(name)}`, {
      body,
    });
    process.stdout.write(`${callId}\n`);
    process.stderr.write(`result: GET ${node.url}${result}\n`);
    return;
  }
  const res = await node.request('POST', `/function/${encodeURIComponent(name)}`, { body });
  await write(new Uint8Array(await res.arrayBuffer()));
}

export async function lsCommand(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const list = await new NodeClient(opts).json<Listed[]>('GET', '/system/functions');
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(list)}\n`);
    return;
  }
  const rows = [
    ['NAME', 'VERSION', 'KIND', 'CONCURRENCY', 'IN FLIGHT', 'TOKEN'],
    ...list.map((f) => [
      f.name,
      String(f.version),
      f.stateful ? `${f.kind} (stateful)` : f.kind,
      String(f.limits.maxConcurrency),
      String(f.outstanding),
      f.protected ? 'yes' : 'no',
    ]),
  ];
  process.stdout.write(table(rows, []).join('\n') + '\n');
}

export async function rmCommand(name: string, opts: ClientOptions): Promise<void> {
  await new NodeClient(opts).request('DELETE', `/system/functions/${encodeURIComponent(name)}`);
  process.stdout.write(`removed ${name}\n`);
}

export async function logsCommand(name: string, opts: ClientOptions & { tail?: number }): Promise<void> {
  const query = { tail: opts.tail?.toString() };
  const { logs } = await new NodeClient(opts).json<{ logs: LogLine[] }>('GET', `/system/functions/${encodeURIComponent(name)}/logs`, {
    query,
  });
  process.stdout.write(logs.map((l) => `${new Date(l.time).toISOString()} ${l.level.padEnd(5)} ${l.message}\n`).join(''));
}

export async function modelAddCommand(name: string, file: string, opts: ClientOptions): Promise<void> {
  const node = new NodeClient(opts);
  const bytes = await readFileOr('PLUME_EINPUT', 'model', file);
  await node.request('PUT', `/system/models/${encodeURIComponent(name)}`, { body: bytes });
  process.stdout.write(`added model ${name} (${bytes.length} bytes) at ${node.url}\n`);
}

export function write(bytes: Uint8Array): Promise<void> {
  return new Promise<void>((done) => process.stdout.write(bytes, () => done()));
}
