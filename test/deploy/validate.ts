/**
 * Validates a Kubernetes manifest against the API's OpenAPI schemas (the `kubernetes-models` package: one
 * class per apiVersion and kind, each with the schema's compiled validator), plus the few rules the API
 * server enforces that the schemas do not express. The schemas allow unknown fields (the server's strict
 * field validation rejects them), so a misspelt optional field passes here: the cross-reference checks in
 * kubernetes.test.ts read the fields that matter by name, which catches those.
 */
import type { Resource } from './kustomize.ts';
import { podTemplates } from './kustomize.ts';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** DNS-1123 subdomain, the rule for most object names. */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/**
 * API versions the package still models (it keeps old OpenAPI definitions) but that no supported cluster
 * serves any more, with the release that removed them: a manifest using one fails on apply. Keyed by
 * apiVersion where the whole group version is gone, by apiVersion/Kind where only some kinds are.
 */
const REMOVED: Record<string, string> = {
  'apps/v1beta1': '1.16',
  'apps/v1beta2': '1.16',
  'extensions/v1beta1': '1.22',
  'rbac.authorization.k8s.io/v1beta1': '1.22',
  'networking.k8s.io/v1beta1/Ingress': '1.22',
  'networking.k8s.io/v1beta1/IngressClass': '1.22',
  'policy/v1beta1': '1.25',
  'batch/v1beta1': '1.25',
  'autoscaling/v2beta1': '1.25',
  'autoscaling/v2beta2': '1.26',
};

async function modelOf(apiVersion: unknown, kind: unknown): Promise<ModelClass | undefined> {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !KIND.test(kind)) return undefined;
  const parts = apiVersion.split('/');
  if (parts.length > 2 || !parts.every((p) => SEGMENT.test(p))) return undefined;
  try {
    // The package exports one module per kind: kubernetes-models/<group>/<version>/<Kind>, core as v1/<Kind>.
    const module = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
    const model = module[kind];
    return typeof model === 'function' ? (model as ModelClass) : undefined;
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ||
      (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
    ) {
      return undefined;
    }
    throw err;
  }
}

/** Every problem found in one manifest; empty when it is valid. */
export async function validateManifest(manifest: unknown): Promise<string[]> {
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) return ['a manifest must be a mapping'];
  const r = manifest as Resource;
  const where = `${String(r.kind)} ${String(r.metadata?.name)}`;
  const removedIn = REMOVED[String(r.apiVersion)] ?? REMOVED[`${String(r.apiVersion)}/${String(r.kind)}`];
  if (removedIn) return [`${where}: apiVersion '${String(r.apiVersion)}' was removed in Kubernetes ${removedIn}`];
  const Model = await modelOf(r.apiVersion, r.kind);
  if (!Model) return [`${where}: no schema for apiVersion '${String(r.apiVersion)}' kind '${String(r.kind)}'`];
  const errors: string[] = [];
  try {
    new Model(r).validate();
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
  if (typeof r.metadata?.name !== 'string' || r.metadata.name.length > 253 || !NAME.test(r.metadata.name)) {
    errors.push(`${where}: metadata.name must be a DNS-1123 name`);
  }
  errors.push(...serverRules(r).map((e) => `${where}: ${e}`));
  return errors;
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: { name?: string; image?: string }[]; initContainers?: { name?: string; image?: string }[] };
}

/** Rules of the API server's validation that the OpenAPI schemas leave out. */
function serverRules(r: Resource): string[] {
  const errors: string[] = [];
  for (const template of podTemplates(r) as PodTemplate[]) {
    const containers = template.spec?.containers ?? [];
    if (containers.length === 0) errors.push('a pod template needs at least one container');
    for (const c of [...containers, ...(template.spec?.initContainers ?? [])]) {
      // Optional in the schema (a higher-level controller may fill it), required for every workload.
      if (typeof c.image !== 'string' || c.image.trim() === '') errors.push(`container '${String(c.name)}' has no image`);
    }
    const selector = (r['spec'] as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector;
    if (r.kind !== 'CronJob' && r.kind !== 'Job') {
      const matchLabels = selector?.matchLabels ?? {};
      if (Object.keys(matchLabels).length === 0) errors.push('spec.selector.matchLabels is empty');
      for (const [key, value] of Object.entries(matchLabels)) {
        if (template.metadata?.labels?.[key] !== value) errors.push(`the selector's ${key}=${value} does not select the pod template`);
      }
    }
  }
  return errors;
}
