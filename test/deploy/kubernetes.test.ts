/**
 * deploy/kubernetes: every manifest is valid against the Kubernetes schemas, the kustomization renders
 * by kustomize's rules (and, where kubectl is installed, exactly as `kubectl kustomize` renders it), and
 * the validator and the renderer refuse broken input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { root } from '../helpers.ts';
import { baseCopy, baseDir, renderBase } from './base.ts';
import { KustomizeError, loadYamlFile, renderKustomization, resourceId, type Resource } from './kustomize.ts';
import { validateManifest } from './validate.ts';

const deployment = (): Resource =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'app' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } },
    },
  }) satisfies Resource;

/**
 * Sorted by id, with Secret data decoded: kustomize wraps base64 at 76 columns, which the API server's
 * decoder ignores, so both encodings are the same Secret.
 */
const canonical = (rs: Resource[]): Resource[] =>
  [...rs]
    .sort((a, b) => resourceId(a).localeCompare(resourceId(b)))
    .map((r) =>
      r.kind !== 'Secret'
        ? r
        : {
            ...r,
            data: Object.fromEntries(
              Object.entries((r['data'] ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
            ),
          },
    );

describe('deploy/kubernetes manifests', () => {
  it('should list every manifest file of the base in kustomization.yaml, and only those', () => {
    const [k] = loadYamlFile(join(baseDir, 'kustomization.yaml')) as unknown as [{ resources: string[] }];
    const files = readdirSync(baseDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    assert.deepEqual([...k.resources].sort(), files.sort());
  });

  it('should validate every document of every manifest file against the Kubernetes schemas', async () => {
    const files = readdirSync(baseDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    let documents = 0;
    for (const file of files) {
      for (const manifest of loadYamlFile(join(baseDir, file))) {
        assert.deepEqual(await validateManifest(manifest), [], file);
        documents++;
      }
    }
    assert.ok(documents >= 10, `only ${documents} documents`);
  });

  it('should render the kustomization into valid resources, all in the plume namespace', async () => {
    const resources = renderBase();
    for (const r of resources) assert.deepEqual(await validateManifest(r), [], resourceId(r));
    const kinds = resources.map((r) => `${r.apiVersion} ${r.kind}`).sort();
    for (const kind of [
      'apps/v1 Deployment',
      'apps/v1 StatefulSet',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'networking.k8s.io/v1 NetworkPolicy',
      'policy/v1 PodDisruptionBudget',
      'v1 ConfigMap',
      'v1 Namespace',
      'v1 Secret',
      'v1 Service',
    ]) {
      assert.ok(kinds.includes(kind), `${kind} missing from ${kinds.join(', ')}`);
    }
    for (const r of resources) {
      if (r.kind === 'Namespace') assert.equal(r.metadata.name, 'plume');
      else assert.equal(r.metadata.namespace, 'plume', resourceId(r));
      assert.equal(r.metadata.labels?.['app.kubernetes.io/part-of'], 'plume', resourceId(r));
    }
  });

  it('should render exactly what kubectl kustomize renders', (t) => {
    const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      t.skip('kubectl is not installed: the comparison with kustomize itself needs it');
      return;
    }
    using copy = baseCopy();
    const r = spawnSync('kubectl', ['kustomize', copy.dir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Resource);
    assert.deepEqual(canonical(renderKustomization(copy.dir)), canonical(theirs));
  });

  it('should commit no secret: secrets.env is ignored by git and by the image build', () => {
    const tracked = spawnSync('git', ['ls-files', 'deploy/kubernetes'], { cwd: root, encoding: 'utf8' });
    assert.equal(tracked.status, 0, tracked.stderr);
    assert.ok(!tracked.stdout.split('\n').some((f) => f.endsWith('secrets.env')), tracked.stdout);
    const ignored = spawnSync('git', ['check-ignore', '-q', 'deploy/kubernetes/secrets.env'], { cwd: root });
    assert.equal(ignored.status, 0, 'deploy/kubernetes/secrets.env is not git-ignored');
    assert.match(readFileSync(join(root, '.dockerignore'), 'utf8'), /^deploy\/kubernetes\/secrets\.env$/m);
  });
});

describe('the manifest validator', () => {
  it('should accept a minimal valid Deployment', async () => {
    assert.deepEqual(await validateManifest(deployment()), []);
  });

  it('should reject a Deployment whose container has no image', async () => {
    const d = deployment() as { spec: { template: { spec: { containers: object[] } } } } & Resource;
    d.spec.template.spec.containers = [{ name: 'app' }];
    assert.match((await validateManifest(d)).join('\n'), /container 'app' has no image/);
  });

  it('should reject a wrong apiVersion and an unknown kind', async () => {
    assert.match(
      (await validateManifest({ ...deployment(), apiVersion: 'apps/v1beta1' })).join('\n'),
      /'apps\/v1beta1' was removed in Kubernetes 1\.16/,
    );
    assert.match((await validateManifest({ ...deployment(), apiVersion: 'apps/v2' })).join('\n'), /no schema for apiVersion 'apps\/v2'/);
    assert.match(
      (await validateManifest({ ...deployment(), apiVersion: 'v1' })).join('\n'),
      /no schema for apiVersion 'v1' kind 'Deployment'/,
    );
    assert.match((await validateManifest({ ...deployment(), kind: 'Deploymnet' })).join('\n'), /no schema .* kind 'Deploymnet'/);
    assert.match((await validateManifest({ ...deployment(), apiVersion: '../../x' })).join('\n'), /no schema/);
  });

  it('should reject a field of the wrong type and a missing required field', async () => {
    const d = deployment() as Resource & { spec: Record<string, unknown> };
    d.spec['replicas'] = 'three';
    assert.match((await validateManifest(d)).join('\n'), /replicas must be integer/);
    const noSelector = deployment() as Resource & { spec: Record<string, unknown> };
    delete noSelector.spec['selector'];
    assert.match((await validateManifest(noSelector)).join('\n'), /required property 'selector'|selector/);
  });

  it('should reject a selector that does not select its own pod template', async () => {
    const d = deployment() as Resource & { spec: { selector: { matchLabels: Record<string, string> } } };
    d.spec.selector.matchLabels = { app: 'y' };
    assert.match((await validateManifest(d)).join('\n'), /app=y does not select the pod template/);
  });

  it('should reject a bad name and a manifest that is not a mapping', async () => {
    const d = deployment();
    d.metadata.name = 'Not_A_Name';
    assert.match((await validateManifest(d)).join('\n'), /DNS-1123/);
    assert.deepEqual(await validateManifest(['a list']), ['a manifest must be a mapping']);
    assert.deepEqual(await validateManifest(null), ['a manifest must be a mapping']);
  });
});

describe('the kustomize renderer', () => {
  it('should refuse to render the base without secrets.env, naming the file and the docs', () => {
    using copy = baseCopy(false);
    assert.throws(
      () => renderKustomization(copy.dir),
      (err: Error) => err instanceof KustomizeError && /secrets\.env.*does not exist.*docs\/deploy\.md/.test(err.message),
    );
  });

  it('should refuse a kustomization field it does not implement instead of dropping it', () => {
    using copy = baseCopy();
    const file = join(copy.dir, 'kustomization.yaml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\npatches:\n  - path: extra.yaml\n`);
    assert.throws(() => renderKustomization(copy.dir), /field 'patches' is not implemented/);
  });

  it('should refuse a missing resource file, a malformed env line and a duplicate resource', () => {
    using copy = baseCopy();
    const file = join(copy.dir, 'kustomization.yaml');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace('  - pdb.yaml\n', '  - pdb.yaml\n  - nope.yaml\n'));
    assert.throws(() => renderKustomization(copy.dir), /resource 'nope.yaml' does not exist/);
    writeFileSync(file, original.replace('  - pdb.yaml\n', '  - pdb.yaml\n  - pdb.yaml\n'));
    assert.throws(() => renderKustomization(copy.dir), /PodDisruptionBudget\/plume\/plume is defined twice/);
    writeFileSync(file, original);
    writeFileSync(join(copy.dir, 'secrets.env'), 'PLUME_CLUSTER_SECRET\n');
    assert.throws(() => renderKustomization(copy.dir), /'PLUME_CLUSTER_SECRET' is not KEY=VALUE/);
  });
});
