/**
 * How deploys, removals and workflow applies reach the cluster registry (src/cluster/registry.ts): this
 * node makes the change to its runtime, settings and tokens, then the registry records it, and every other
 * node makes the same change through `registryTarget`. Without a registry the change stays on this node.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FunctionEntry, RecordedChange, RegistryTarget, WorkflowEntry } from '../cluster/registry.ts';
import { sha256Hex, type EntryKind } from '../cluster/registry-store.ts';
import type { DeployOptions } from '../engine/compile.ts';
import { PlumeError } from '../errors.ts';
import type { FunctionInfo } from '../runtime.ts';
import { parseSpec } from '../workflow/spec.ts';
import type { GatewayContext } from './context.ts';

/** A function's deploy as the registry keeps it (FunctionEntry without its version). */
export interface FunctionFields {
  readonly sha256: string;
  readonly options: DeployOptions;
  readonly settings: { readonly contentType?: string | undefined; readonly queue?: number | undefined };
  readonly invokeDigest?: string | undefined;
}

export function registryTarget(ctx: GatewayContext): RegistryTarget {
  return {
    deployFunction: (name, module, entry: FunctionEntry) => deployHere(ctx, name, module, fieldsOf(entry)),
    async applyWorkflow(name, spec, files, entry: WorkflowEntry) {
      const named = parseSpec(spec).spec.name;
      if (named !== name) throw new PlumeError('PLUME_ESPEC', `the entry '${name}' holds the spec of workflow '${named}'`);
      const info = await ctx.plume.applyWorkflow(spec, { files, packageDirs: [ctx.workflowDir] });
      ctx.tokens.setInvokeDigest('workflow', info.name, entry.invokeDigest);
    },
    addModel: (name, model) => ctx.plume.addModel(name, model),
    async remove(kind, name) {
      await removeHere(ctx, kind, name);
    },
  };
}

/**
 * An entry's deploy, limited to what the deploy route itself can set (env, entry, stateful, memory,
 * timeout, concurrency) and checked: whoever can write to Redis must not grant a guest host folders
 * (`dirs`) or arguments, nor smuggle in a value of the wrong type.
 */
function fieldsOf(entry: FunctionEntry): FunctionFields {
  const { env = {}, limits = {}, entry: exported, stateful } = entry.options as Record<string, unknown>;
  const { contentType, queue } = entry.settings as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new PlumeError('PLUME_EINPUT', `the entry's ${field} is not valid`);
  };
  for (const key of Object.keys(entry.options)) if (!['env', 'limits', 'entry', 'stateful'].includes(key)) bad(`options.${key}`);
  if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) bad('options.env');
  if (typeof limits !== 'object' || limits === null) bad('options.limits');
  const picked: Record<string, number> = {};
  for (const [key, value] of Object.entries(limits as object)) {
    if (!['memoryMb', 'timeoutMs', 'maxConcurrency'].includes(key) || typeof value !== 'number' || !(value > 0))
      bad(`options.limits.${key}`);
    picked[key] = value as number;
  }
  if (exported !== undefined && typeof exported !== 'string') bad('options.entry');
  if (stateful !== undefined && typeof stateful !== 'boolean') bad('options.stateful');
  if (contentType !== undefined && typeof contentType !== 'string') bad('settings.contentType');
  if (queue !== undefined && !(Number.isSafeInteger(queue) && (queue as number) >= 0)) bad('settings.queue');
  const options: DeployOptions = {
    env: env as Record<string, string>,
    limits: picked,
    ...(exported === undefined ? {} : { entry: exported as string }),
    ...(stateful === undefined ? {} : { stateful: stateful as boolean }),
  };
  return {
    sha256: entry.sha256,
    options,
    settings: { contentType: contentType as string | undefined, queue: queue as number | undefined },
    invokeDigest: entry.invokeDigest,
  };
}

/** Deploys on this node: the runtime, then the gateway's settings and the invoke token's digest. */
export async function deployHere(ctx: GatewayContext, name: string, module: Uint8Array, fields: FunctionFields): Promise<FunctionInfo> {
  const info = await ctx.plume.deploy(name, module, fields.options);
  ctx.settings.set(name, { contentType: fields.settings.contentType, queue: fields.settings.queue });
  ctx.tokens.setInvokeDigest('function', name, fields.invokeDigest);
  return info;
}

/** Removes a function, workflow or model from this node; false when it had none of that name. */
export async function removeHere(ctx: GatewayContext, kind: EntryKind, name: string): Promise<boolean> {
  if (kind === 'function') {
    if (!ctx.plume.list().some((f) => f.name === name)) return false;
    ctx.plume.remove(name);
    ctx.settings.delete(name);
    ctx.tokens.setInvokeDigest('function', name, undefined);
  } else if (kind === 'workflow') {
    if (!ctx.plume.workflows().some((w) => w.name === name)) return false;
    ctx.plume.removeWorkflow(name);
    ctx.tokens.setInvokeDigest('workflow', name, undefined);
  } else {
    if (!ctx.plume.models().some((m) => m.name === name)) return false;
    await ctx.plume.removeModel(name);
  }
  return true;
}

/**
 * Makes a change here (`apply`), and when the node has a registry records it (`record` says what the
 * entry holds, from the result): the answer comes once the registry has it, so every node will.
 */
export function throughRegistry<R>(
  ctx: GatewayContext,
  kind: EntryKind,
  apply: () => Promise<R>,
  record: (result: R) => Promise<RecordedChange>,
): Promise<R> {
  if (!ctx.registry) return apply();
  return ctx.registry.put(kind, async () => {
    const result = await apply();
    return { ...(await record(result)), result };
  });
}

/** Removes here and from the registry; false when neither had the name. */
export function removeThroughRegistry(ctx: GatewayContext, kind: EntryKind, name: string): Promise<boolean> {
  if (!ctx.registry) return removeHere(ctx, kind, name);
  return ctx.registry.delete(kind, name, () => removeHere(ctx, kind, name));
}

/** The entry of a function deploy, and its module by hash. */
export function functionChange(name: string, module: Uint8Array, fields: FunctionFields): RecordedChange {
  return { name, fields: { ...fields }, files: new Map([[fields.sha256, module]]) };
}

/**
 * The entry of an applied workflow: its spec text and the contents of every module and model path it
 * names (`package:` models are found on each node), from the bundle that came with it or read from
 * `workflowDir` as the apply did, so that nodes sharing no filesystem apply the same files.
 */
export async function workflowChange(
  ctx: GatewayContext,
  spec: string,
  sent: ReadonlyMap<string, Uint8Array> | undefined,
  invokeDigest: string | undefined,
): Promise<RecordedChange> {
  const { spec: checked } = parseSpec(spec);
  const paths = [
    ...Object.values(checked.functions ?? {}).map((f) => f.module),
    ...Object.values(checked.models ?? {}).filter((m): m is string => typeof m === 'string'),
  ];
  const byPath: Record<string, string> = {};
  const files = new Map<string, Uint8Array>();
  for (const path of paths) {
    const bytes = sent?.get(path) ?? (await readFile(resolve(ctx.workflowDir, path)));
    const sha = sha256Hex(bytes);
    byPath[path] = sha;
    files.set(sha, bytes);
  }
  return { name: checked.name, fields: { spec, files: byPath, ...(invokeDigest ? { invokeDigest } : {}) }, files };
}

export function notFound(kind: EntryKind, name: string): PlumeError {
  if (kind === 'function') return new PlumeError('PLUME_ENOFUNC', `no function named '${name}' is deployed`, { function: name });
  if (kind === 'workflow') return new PlumeError('PLUME_ENOWORKFLOW', `no workflow named '${name}' is applied`, { workflow: name });
  return new PlumeError('PLUME_EMODEL', `no model named '${name}' is registered`, { model: name });
}
