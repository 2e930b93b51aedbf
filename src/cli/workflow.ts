/**
 * `plume workflow apply <spec>` and `plume workflow run <name>` against a running node. Apply sends the
 * spec together with the module and model files it names (relative to the spec file), so the node need not
 * share a filesystem with the client: each by content hash, and only those the node does not have yet
 * (src/gateway/files.ts). Run prints the output, and with --trace the timeline on stderr.
 */
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { PlumeError } from '../errors.ts';
import { BUNDLE_TYPE, Headers } from '../gateway/protocol.ts';
import { readFileOr } from '../read-file.ts';
import type { WorkflowInfo, WorkflowTrace } from '../workflow/index.ts';
import { NodeClient, type ClientOptions } from './client.ts';
import { write } from './remote.ts';
import { readInput } from './input.ts';

export async function workflowApplyCommand(specPath: string, opts: ClientOptions & { invokeToken?: string }): Promise<void> {
  const node = new NodeClient(opts);
  const specBytes = await readFileOr('PLUME_ESPEC', 'workflow spec', specPath);
  const spec = Buffer.from(specBytes.buffer, specBytes.byteOffset, specBytes.byteLength).toString('utf8');
  const files: Record<string, { sha256: string }> = {};
  const sent = { files: 0, bytes: 0, kept: 0 };
  for (const [field, path] of referencedFiles(spec)) {
    if (files[path]) continue;
    const bytes = await readFileOr('PLUME_ESPEC', `${field} of ${specPath}`, resolve(dirname(specPath), path));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    files[path] = { sha256 };
    if (await hasFile(node, sha256)) {
      sent.kept++;
      continue;
    }
    await node.request('PUT', `/system/files/${sha256}`, { body: bytes });
    sent.files++;
    sent.bytes += bytes.length;
  }
  const info = await node.json<WorkflowInfo>('POST', '/system/workflows', {
    body: JSON.stringify({ spec, files }),
    headers: { 'content-type': BUNDLE_TYPE, ...(opts.invokeToken === undefined ? {} : { [Headers.invokeToken]: opts.invokeToken }) },
  });
  const deployed = info.deployed.length ? `; deployed ${info.deployed.join(', ')}` : '';
  const models = info.models.length ? `; models ${info.models.join(', ')}` : '';
  process.stdout.write(`applied workflow ${info.name}: ${info.steps.length} steps (${info.steps.join(' → ')})${deployed}${models}\n`);
  process.stderr.write(`plume: sent ${sent.files} files (${sent.bytes} bytes); ${sent.kept} already on the node\n`);
}

/** Whether the node already has the file with this content hash (then it is not sent again). */
async function hasFile(node: NodeClient, sha256: string): Promise<boolean> {
  try {
    await node.request('GET', `/system/files/${sha256}`);
    return true;
  } catch (err) {
    if (err instanceof PlumeError && err.code === 'PLUME_ENOROUTE') return false;
    throw err;
  }
}

export async function workflowRunCommand(
  name: string,
  opts: ClientOptions & { data?: string; input?: string; trace?: boolean },
): Promise<void> {
  const node = new NodeClient(opts);
  const body = await readInput(opts);
  const path = `/workflow/${encodeURIComponent(name)}`;
  if (!opts.trace) {
    const res = await node.request('POST', path, { body });
    await write(new Uint8Array(await res.arrayBuffer()));
    return;
  }
  const run = await node.json<{ output: string; trace?: WorkflowTrace }>('POST', path, { body, query: { trace: '1' } });
  await write(Buffer.from(run.output, 'base64'));
  if (!run.trace) return;
  const { formatTimeline } = await import('../workflow/timeline.ts');
  process.stderr.write(`\n${formatTimeline(run.trace)}\n`);
}

/**
 * The relative module and model paths a spec names (`functions.<f>.module`, `models.<m>`); a `package:`
 * model is found on the node and not sent. A spec the client cannot parse is sent as it is: the node's
 * validation names the offending line and field.
 */
function referencedFiles(text: string): [field: string, path: string][] {
  let spec: { functions?: Record<string, { module?: unknown }>; models?: Record<string, unknown> };
  try {
    spec = (parse(text) ?? {}) as typeof spec;
  } catch {
    return [];
  }
  const found: [string, string][] = [];
  for (const [fn, source] of Object.entries(spec.functions ?? {})) {
    if (typeof source?.module === 'string') found.push([`functions.${fn}.module`, source.module]);
  }
  for (const [model, path] of Object.entries(spec.models ?? {})) if (typeof path === 'string') found.push([`models.${model}`, path]);
  // An absolute path names a file on the node itself: there is nothing to send.
  return found.filter(([, path]) => !isAbsolute(path));
}
