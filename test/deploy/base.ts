/** Shared by the deploy tests: the rendered base, typed accessors into it, and `plume up`'s flags. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { root } from '../helpers.ts';
import { renderKustomization, type Resource } from './kustomize.ts';

export const baseDir = join(root, 'deploy/kubernetes');

/**
 * A copy of the base with a freshly generated secrets.env, as docs/deploy.md tells an operator to make:
 * the tests never read a developer's own secrets.env.
 */
export function baseCopy(withSecrets = true): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'plume-k8s-'));
  cpSync(baseDir, dir, { recursive: true, filter: (src) => !src.endsWith('/secrets.env') });
  if (withSecrets) {
    const secret = (): string => randomBytes(32).toString('hex');
    writeFileSync(join(dir, 'secrets.env'), `PLUME_CLUSTER_SECRET=${secret()}\nPLUME_ADMIN_TOKEN=${secret()}\n`);
  }
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

export function renderBase(): Resource[] {
  using copy = baseCopy();
  return renderKustomization(copy.dir);
}

export function find<T>(resources: Resource[], kind: string, name: string): T {
  const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
  if (!r) throw new Error(`${kind} ${name} is not in the rendered base`);
  return r as unknown as T;
}

export function plumeContainer(deployment: IDeployment): IContainer {
  const c = deployment.spec?.template.spec?.containers.find((x) => x.name === 'plume');
  if (!c) throw new Error('the Deployment has no container named plume');
  return c;
}

/** The value of a container env var, following a configMapKeyRef into the rendered ConfigMaps. */
export function envValue(resources: Resource[], container: IContainer, name: string): string | undefined {
  const env = container.env?.find((e) => e.name === name);
  if (!env) return undefined;
  if (env.value !== undefined) return env.value;
  const ref = env.valueFrom?.configMapKeyRef;
  if (!ref) return undefined;
  return find<IConfigMap>(resources, 'ConfigMap', ref.name ?? '').data?.[ref.key];
}

/** True when every matchLabels pair is among the labels. */
export function selects(matchLabels: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const pairs = Object.entries(matchLabels ?? {});
  return pairs.length > 0 && pairs.every(([k, v]) => labels?.[k] === v);
}

/** The long options of `plume up`, read from its help as a user sees it. */
export function upFlags(): Set<string> {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(root, 'src/cli/main.ts'), 'up', '--help'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`plume up --help failed: ${r.stderr}`);
  return new Set(r.stdout.match(/--[a-z][a-z0-9-]*/g) ?? []);
}
