/**
 * Renders a kustomization by kustomize's rules, for the subset of kustomize that deploy/kubernetes uses.
 * No npm package renders kustomizations (kustomize is Go; the npm wrappers download its binary), so this
 * implements that subset and refuses every field it does not implement: a new field in the base fails the
 * test instead of being silently dropped. Where `kubectl kustomize` exists, kubernetes.test.ts compares
 * the two renderings.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [field: string]: unknown };
  [field: string]: unknown;
}

interface LabelsEntry {
  pairs: Record<string, string>;
  includeSelectors?: boolean;
  includeTemplates?: boolean;
}

interface SecretGenerator {
  name: string;
  type?: string;
  envs?: string[];
  literals?: string[];
}

interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  labels?: LabelsEntry[];
  resources?: string[];
  secretGenerator?: SecretGenerator[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
  images?: ImageOverride[];
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'secretGenerator', 'generatorOptions', 'images']);

/** Kinds without a namespace among those a base like ours holds; kustomize leaves their namespace unset. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'PriorityClass',
  'StorageClass',
]);

/** Pod templates by kind: where `includeTemplates` labels go, and where images are rewritten. */
const TEMPLATE_PATHS: Record<string, string[][]> = {
  Deployment: [['spec', 'template']],
  StatefulSet: [['spec', 'template']],
  DaemonSet: [['spec', 'template']],
  ReplicaSet: [['spec', 'template']],
  Job: [['spec', 'template']],
  CronJob: [['spec', 'jobTemplate', 'spec', 'template']],
};

export class KustomizeError extends Error {
  override name = 'KustomizeError';
}

/** Reads every YAML document of a file; empty documents (a trailing `---`) are skipped, as kustomize does. */
export function loadYamlFile(path: string): Resource[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: Resource[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new KustomizeError(`${path}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new KustomizeError(`${path}: a document is not a mapping`);
    out.push(value as Resource);
  }
  return out;
}

/** The resources `kustomize build dir` emits, in the order of `resources:` then generators. */
export function renderKustomization(dir: string): Resource[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new KustomizeError(`${dir}: no kustomization.yaml`);
  const [k, ...rest] = loadYamlFile(file) as unknown as Kustomization[];
  if (!k || rest.length) throw new KustomizeError(`${file}: expected exactly one document`);
  for (const field of Object.keys(k)) {
    if (!SUPPORTED.has(field)) throw new KustomizeError(`${file}: field '${field}' is not implemented by this renderer`);
  }
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new KustomizeError(`${file}: kind must be Kustomization`);

  const resources: Resource[] = [];
  for (const entry of k.resources ?? []) {
    const path = join(dir, entry);
    if (!existsSync(path)) throw new KustomizeError(`${file}: resource '${entry}' does not exist`);
    resources.push(...(statSync(path).isDirectory() ? renderKustomization(path) : loadYamlFile(path)));
  }
  resources.push(...(k.secretGenerator ?? []).map((g) => generateSecret(dir, g, k.generatorOptions)));

  for (const r of resources) {
    if (typeof r.apiVersion !== 'string' || typeof r.kind !== 'string' || typeof r.metadata?.name !== 'string') {
      throw new KustomizeError(`${file}: a resource lacks apiVersion, kind or metadata.name`);
    }
    if (k.namespace !== undefined && !CLUSTER_SCOPED.has(r.kind)) r.metadata.namespace = k.namespace;
    for (const entry of k.labels ?? []) applyLabels(r, entry, file);
    for (const image of k.images ?? []) applyImage(r, image);
  }
  const seen = new Set<string>();
  for (const r of resources) {
    const id = resourceId(r);
    if (seen.has(id)) throw new KustomizeError(`${file}: ${id} is defined twice`);
    seen.add(id);
  }
  return resources;
}

export function resourceId(r: Resource): string {
  return `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

function generateSecret(dir: string, g: SecretGenerator, options: Kustomization['generatorOptions']): Resource {
  // kustomize appends a hash of the content to a generated name and rewrites every reference to it; this
  // renderer implements only fixed names.
  if (options?.disableNameSuffixHash !== true) {
    throw new KustomizeError('secretGenerator without generatorOptions.disableNameSuffixHash: true is not implemented by this renderer');
  }
  const pairs: [string, string][] = [];
  for (const env of g.envs ?? []) {
    const path = join(dir, env);
    if (!existsSync(path)) throw new KustomizeError(`secretGenerator '${g.name}': env file '${env}' does not exist (see docs/deploy.md)`);
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      pairs.push(keyValue(trimmed, `${env}`));
    }
  }
  for (const literal of g.literals ?? []) pairs.push(keyValue(literal, `secretGenerator '${g.name}'`));
  const data: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key in data) throw new KustomizeError(`secretGenerator '${g.name}': key '${key}' is set twice`);
    data[key] = Buffer.from(value).toString('base64');
  }
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: g.type ?? 'Opaque', data };
}

function keyValue(line: string, where: string): [string, string] {
  const eq = line.indexOf('=');
  if (eq <= 0) throw new KustomizeError(`${where}: '${line}' is not KEY=VALUE`);
  return [line.slice(0, eq), line.slice(eq + 1)];
}

function applyLabels(r: Resource, entry: LabelsEntry, file: string): void {
  // includeSelectors rewrites selectors everywhere (Services, PDBs, NetworkPolicies...): not implemented.
  if (entry.includeSelectors === true)
    throw new KustomizeError(`${file}: labels with includeSelectors: true is not implemented by this renderer`);
  r.metadata.labels = { ...r.metadata.labels, ...entry.pairs };
  if (entry.includeTemplates !== true) return;
  for (const template of podTemplates(r)) {
    const metadata = (template['metadata'] ??= {}) as { labels?: Record<string, string> };
    metadata.labels = { ...metadata.labels, ...entry.pairs };
  }
  if (r.kind === 'StatefulSet') {
    const claims = ((r['spec'] as Record<string, unknown> | undefined)?.['volumeClaimTemplates'] ?? []) as {
      metadata?: { labels?: Record<string, string> };
    }[];
    for (const claim of claims) {
      claim.metadata ??= {};
      claim.metadata.labels = { ...claim.metadata.labels, ...entry.pairs };
    }
  }
}

function applyImage(r: Resource, override: ImageOverride): void {
  for (const template of podTemplates(r)) {
    const spec = template['spec'] as { containers?: { image?: string }[]; initContainers?: { image?: string }[] } | undefined;
    for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
      if (c.image === undefined || imageName(c.image) !== override.name) continue;
      const name = override.newName ?? override.name;
      if (override.digest !== undefined) c.image = `${name}@${override.digest}`;
      else if (override.newTag !== undefined) c.image = `${name}:${override.newTag}`;
      else c.image = name + c.image.slice(imageName(c.image).length);
    }
  }
}

/** The image reference without its tag or digest (a registry port's colon is not a tag). */
function imageName(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at < 0 ? image : image.slice(0, at);
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

export function podTemplates(r: Resource): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const path of TEMPLATE_PATHS[r.kind] ?? []) {
    let node: unknown = r;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
    if (node && typeof node === 'object') out.push(node as Record<string, unknown>);
  }
  return out;
}
