/**
 * The rendered base holds together: what one resource names, another provides. Selectors select the
 * Plume pods, probes hit the gateway's routes, the peer port is open to Plume pods only, the drain fits
 * in the grace period, and every flag the Deployment passes exists in `plume up`.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { envValue, find, plumeContainer, renderBase, selects, upFlags } from './base.ts';
import type { Resource } from './kustomize.ts';

let resources: Resource[];
let deployment: IDeployment;
let container: IContainer;
let podLabels: Record<string, string>;
let redisLabels: Record<string, string>;

/** The container port a Service or probe port (a number or a port name) lands on. */
const containerPort = (c: IContainer, port: number | string | undefined): number | undefined =>
  typeof port === 'number'
    ? c.ports?.find((p) => p.containerPort === port)?.containerPort
    : c.ports?.find((p) => p.name === port)?.containerPort;

/** The value after a flag in the container's args. */
const arg = (flag: string): string | undefined => {
  const args = container.args ?? [];
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};

before(() => {
  resources = renderBase();
  deployment = find<IDeployment>(resources, 'Deployment', 'plume');
  container = plumeContainer(deployment);
  podLabels = deployment.spec?.template.metadata?.labels ?? {};
  redisLabels = find<IStatefulSet>(resources, 'StatefulSet', 'plume-redis').spec?.template.metadata?.labels ?? {};
});

describe('the Plume Deployment', () => {
  it('should run `plume up` on all interfaces with flags that plume up has', () => {
    const flags = upFlags();
    const args = container.args ?? [];
    assert.equal(args[0], 'up');
    assert.equal(arg('--host'), '0.0.0.0');
    for (const flag of args.filter((a) => a.startsWith('--'))) assert.ok(flags.has(flag), `plume up has no ${flag}`);
  });

  it('should define every $(VAR) its args use, and every key its env refers to', () => {
    const defined = new Set((container.env ?? []).map((e) => e.name));
    for (const a of container.args ?? []) {
      for (const [, name] of a.matchAll(/\$\(([A-Z_][A-Z0-9_]*)\)/g)) assert.ok(defined.has(name!), `$(${name}) is not in env`);
    }
    for (const e of container.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const kind = e.valueFrom?.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const source = find<{ data?: Record<string, string> }>(resources, kind, ref.name ?? '');
      assert.ok(source.data?.[ref.key] !== undefined, `${kind} ${ref.name} has no key ${ref.key}`);
    }
  });

  it('should take the cluster secret and the admin token from the Secret', () => {
    const secret = find<ISecret>(resources, 'Secret', 'plume-secrets');
    for (const name of ['PLUME_CLUSTER_SECRET', 'PLUME_ADMIN_TOKEN']) {
      const ref = container.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
      assert.equal(ref?.name, 'plume-secrets', name);
      assert.ok(Buffer.from(secret.data?.[ref.key] ?? '', 'base64').length >= 32, `${name} is empty or short`);
    }
  });

  it('should probe /healthz for liveness and /readyz for readiness on the gateway port', () => {
    const gatewayPort = Number(arg('--port'));
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(containerPort(container, container.livenessProbe?.httpGet?.port), gatewayPort);
    assert.equal(containerPort(container, container.readinessProbe?.httpGet?.port), gatewayPort);
  });

  it('should run as non-root with a read-only root filesystem and writable emptyDirs for temp and state', () => {
    const pod = deployment.spec?.template.spec;
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.ok((pod?.securityContext?.runAsUser ?? 0) > 0);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL']);
    const emptyDirs = new Set(pod?.volumes?.filter((v) => v.emptyDir).map((v) => v.name));
    const writable = (container.volumeMounts ?? []).filter((m) => emptyDirs.has(m.name) && !m.readOnly).map((m) => m.mountPath);
    for (const name of ['TMPDIR', 'PLUME_DATA_DIR']) {
      const dir = envValue(resources, container, name);
      assert.ok(dir && writable.includes(dir), `${name}=${dir} is not on a writable emptyDir (${writable.join(', ')})`);
    }
  });

  it('should set resource requests and limits on every container of the base', () => {
    for (const r of resources) {
      for (const c of (r as unknown as IDeployment).spec?.template?.spec?.containers ?? []) {
        for (const resource of ['cpu', 'memory']) {
          assert.ok(c.resources?.requests?.[resource], `${r.kind} ${r.metadata.name}: no ${resource} request`);
          assert.ok(c.resources?.limits?.[resource], `${r.kind} ${r.metadata.name}: no ${resource} limit`);
        }
      }
    }
  });

  it('should finish the preStop sleep and the drain within terminationGracePeriodSeconds', () => {
    const [command, seconds, ...rest] = container.lifecycle?.preStop?.exec?.command ?? [];
    assert.equal(command, 'sleep');
    assert.deepEqual(rest, []);
    const sleep = Number(seconds);
    const drain = Number(envValue(resources, container, 'PLUME_DRAIN_TIMEOUT')) / 1000;
    const grace = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
    assert.ok(sleep > 0 && drain > 0, `sleep ${sleep} s, drain ${drain} s`);
    assert.ok(sleep + drain < grace, `preStop ${sleep} s + drain ${drain} s must be < grace ${grace} s`);
  });

  it('should point PLUME_REDIS_URL at the Redis Service and its port', () => {
    const url = new URL(envValue(resources, container, 'PLUME_REDIS_URL') ?? '');
    const service = find<IService>(resources, 'Service', url.hostname);
    assert.ok(selects(service.spec?.selector, redisLabels), 'the Redis Service does not select the Redis pods');
    assert.ok(service.spec?.ports?.some((p) => p.port === Number(url.port)));
  });
});

describe('the Services, PDB and HPA', () => {
  it('should select the Deployment’s pods and land on its named ports', () => {
    const gateway = find<IService>(resources, 'Service', 'plume');
    const peers = find<IService>(resources, 'Service', 'plume-peers');
    assert.equal(peers.spec?.clusterIP, 'None', 'the peer Service must be headless');
    for (const service of [gateway, peers]) {
      assert.ok(selects(service.spec?.selector, podLabels), `${service.metadata?.name} does not select the Plume pods`);
      assert.ok(!selects(service.spec?.selector, redisLabels), `${service.metadata?.name} also selects Redis`);
      for (const p of service.spec?.ports ?? [])
        assert.ok(containerPort(container, p.targetPort), `${service.metadata?.name}: no container port ${p.targetPort}`);
    }
    assert.equal(containerPort(container, gateway.spec?.ports?.[0]?.targetPort), Number(arg('--port')));
    assert.equal(containerPort(container, peers.spec?.ports?.[0]?.targetPort), Number(envValue(resources, container, 'PLUME_PEER_PORT')));
  });

  it('should keep Redis on a PersistentVolumeClaim', () => {
    const redis = find<IStatefulSet>(resources, 'StatefulSet', 'plume-redis');
    const claims = new Set(redis.spec?.volumeClaimTemplates?.map((c) => c.metadata?.name));
    const mounts = redis.spec?.template.spec?.containers[0]?.volumeMounts ?? [];
    assert.ok(mounts.some((m) => m.mountPath === '/data' && claims.has(m.name)));
    assert.equal(redis.spec?.template.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
  });

  it('should point the PDB and the HPA at the Deployment, the HPA on CPU, with no fixed replicas', () => {
    const pdb = find<IPodDisruptionBudget>(resources, 'PodDisruptionBudget', 'plume');
    assert.ok(selects(pdb.spec?.selector?.matchLabels, podLabels));
    const hpa = find<IHorizontalPodAutoscaler>(resources, 'HorizontalPodAutoscaler', 'plume');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'plume' });
    assert.equal(hpa.spec?.metrics?.[0]?.resource?.name, 'cpu');
    assert.ok((hpa.spec?.minReplicas ?? 1) >= 2, 'one replica leaves nothing to fail over to');
    assert.equal(deployment.spec?.replicas, undefined, 'spec.replicas would undo the autoscaler on every apply');
  });
});

describe('the NetworkPolicies', () => {
  const policyFor = (labels: Record<string, string>): INetworkPolicy => {
    const found = resources.filter((r) => r.kind === 'NetworkPolicy').map((r) => r as unknown as INetworkPolicy);
    const policy = found.find((p) => selects(p.spec?.podSelector?.matchLabels, labels));
    assert.ok(policy, 'no NetworkPolicy selects these pods');
    assert.ok(policy.spec?.policyTypes?.includes('Ingress'));
    return policy;
  };

  /** True when a rule's `ports` (absent: all ports) let traffic reach the named container port. */
  const opens = (rule: { ports?: { port?: number | string }[] }, c: IContainer, name: string): boolean =>
    rule.ports === undefined || rule.ports.some((p) => containerPort(c, p.port) === containerPort(c, name));

  it('should open the peer port to Plume pods of the namespace only', () => {
    const policy = policyFor(podLabels);
    const rules = (policy.spec?.ingress ?? []).filter((rule) => opens(rule, container, 'peer'));
    assert.ok(rules.length > 0, 'no rule opens the peer port');
    for (const rule of rules) {
      assert.ok(rule.from?.length, 'a rule opens the peer port to everyone');
      for (const peer of rule.from) {
        assert.equal(peer.namespaceSelector, undefined, 'the peer port is open to other namespaces');
        assert.equal(peer.ipBlock, undefined, 'the peer port is open to an ipBlock');
        assert.ok(selects(peer.podSelector?.matchLabels, podLabels), 'the peer port is open to pods that are not Plume nodes');
        assert.ok(!selects(peer.podSelector?.matchLabels, redisLabels));
      }
    }
  });

  it('should open the gateway port to clients', () => {
    const rules = policyFor(podLabels).spec?.ingress ?? [];
    assert.ok(rules.some((rule) => rule.from === undefined && opens(rule, container, 'http')));
  });

  it('should let only Plume pods reach Redis', () => {
    const rules = policyFor(redisLabels).spec?.ingress ?? [];
    assert.ok(rules.length > 0);
    for (const rule of rules) {
      assert.ok(
        rule.from?.length && rule.from.every((p) => !p.namespaceSelector && !p.ipBlock && selects(p.podSelector?.matchLabels, podLabels)),
      );
    }
  });
});
