// The apply engine against the real API server of the shared test cluster, one namespace per
// test: drift, re-creation of objects deleted out of band, fields owned by another manager,
// rejected objects, prune rules, kubectl client-side apply takeover, immutable fields, HPAs,
// and ApplySet ids as kubectl computes them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KubeError,
  applyInventory,
  applySetId,
  deleteInventory,
  diffInventory,
  readInventory,
  type KubeClient,
  type KubeObject,
} from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup, kubectl, kubectlJson } from './helpers.js';

let kubeconfig: string;
let client: KubeClient;
const namespaces: string[] = [];

const setup = deferredSetup();
beforeAll(() =>
  setup.run(async () => {
    kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig, 'default');
  }),
);

afterAll(async () => {
  for (const ns of namespaces) await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  client?.close();
});

function newNamespace(prefix: string): string {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  namespaces.push(ns);
  return ns;
}

const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const configMap = (ns: string, name: string, data: Record<string, string>, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
  data,
});
const deployment = (ns: string, name: string, opts: { app?: string; replicas?: number; image?: string } = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
    selector: { matchLabels: { app: opts.app ?? name } },
    template: { metadata: { labels: { app: opts.app ?? name } }, spec: { containers: [{ name: 'app', image: opts.image ?? 'registry.example/app:1' }] } },
  },
});

function actions(changes: Array<{ id: string; action: string }>): Record<string, string> {
  return Object.fromEntries(changes.map((c) => [c.id, c.action]));
}

describe('apply engine', () => {
  it('reports unchanged objects without writing them, and drift as configured', async () => {
    setup.ready();
    const ns = newNamespace('drift');
    const objects = [namespace(ns), configMap(ns, 'a', { k: '1' }), configMap(ns, 'b', { k: '1' })];
    const first = await applyInventory({ client, name: ns, objects });
    expect(actions(first.changes)).toEqual({ [`Namespace/${ns}`]: 'created', [`ConfigMap/${ns}/a`]: 'created', [`ConfigMap/${ns}/b`]: 'created' });
    const before = await kubectlJson<{ metadata: { resourceVersion: string } }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'a']);
    const second = await applyInventory({ client, name: ns, objects });
    expect(second.changes.every((c) => c.action === 'unchanged')).toBe(true);
    const after = await kubectlJson<{ metadata: { resourceVersion: string } }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'a']);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    // Someone edits a field lading applied: the next apply puts it back.
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'b', '--type=merge', '-p', '{"data":{"k":"edited"}}']);
    const third = await applyInventory({ client, name: ns, objects });
    expect(actions(third.changes)[`ConfigMap/${ns}/b`]).toBe('configured');
    expect((await kubectlJson<{ data: Record<string, string> }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'b'])).data['k']).toBe('1');
  });

  it('re-creates an object deleted out of band', async () => {
    setup.ready();
    const ns = newNamespace('oob');
    const objects = [namespace(ns), configMap(ns, 'a', { k: '1' }), configMap(ns, 'b', { k: '1' })];
    await applyInventory({ client, name: ns, objects });
    await kubectl(kubeconfig, ['-n', ns, 'delete', 'configmap', 'a']);
    const diff = await diffInventory({ client, name: ns, objects });
    expect(diff.entries.filter((e) => e.action !== 'unchanged').map((e) => `${e.id} ${e.action}`)).toEqual([`ConfigMap/${ns}/a created`]);
    const r = await applyInventory({ client, name: ns, objects });
    expect(actions(r.changes)).toEqual({ [`Namespace/${ns}`]: 'unchanged', [`ConfigMap/${ns}/a`]: 'created', [`ConfigMap/${ns}/b`]: 'unchanged' });
    await kubectl(kubeconfig, ['-n', ns, 'get', 'configmap', 'a']);
  });

  it('takes back a field another manager changed (force ownership)', async () => {
    setup.ready();
    const ns = newNamespace('owner');
    const objects = [namespace(ns), configMap(ns, 'shared', { mine: '1' })];
    await applyInventory({ client, name: ns, objects });
    await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=other-tool', '--force-conflicts', '-f', '-'], {
      input: JSON.stringify(configMap(ns, 'shared', { mine: 'theirs', extra: 'x' })),
    });
    const r = await applyInventory({ client, name: ns, objects });
    expect(actions(r.changes)[`ConfigMap/${ns}/shared`]).toBe('configured');
    const live = await kubectlJson<{ data: Record<string, string>; metadata: { managedFields: Array<{ manager: string; fieldsV1: { 'f:data'?: Record<string, unknown> } }> } }>(kubeconfig, [
      '-n', ns, 'get', 'configmap', 'shared', '--show-managed-fields',
    ]);
    expect(live.data).toEqual({ mine: '1', extra: 'x' });
    const ours = live.metadata.managedFields.find((m) => m.manager === 'lading');
    expect(Object.keys(ours?.fieldsV1['f:data'] ?? {})).toContain('f:mine');
    const theirs = live.metadata.managedFields.find((m) => m.manager === 'other-tool');
    expect(Object.keys(theirs?.fieldsV1['f:data'] ?? {})).not.toContain('f:mine');
  });

  it('names an object the API server rejects, applies nothing of its stage, and keeps the inventory correct', async () => {
    setup.ready();
    const ns = newNamespace('reject');
    await applyInventory({ client, name: ns, objects: [namespace(ns), configMap(ns, 'a', { k: '1' })] });
    const bad: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'broken', namespace: ns },
      spec: { ports: [{ port: 99999 }] },
    };
    const err = await applyInventory({ client, name: ns, objects: [namespace(ns), configMap(ns, 'a', { k: '1' }), configMap(ns, 'new', { k: '1' }), bad] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe('INVALID');
    expect((err as KubeError).message).toContain(`Service/${ns}/broken`);
    expect((err as KubeError).message).toMatch(/spec\.ports\[0\]\.port/);
    // Validation by dry run comes first: the valid new ConfigMap of the same stage was not created.
    const created = await kubectl(kubeconfig, ['-n', ns, 'get', 'configmap', 'new'], { allowFailure: true });
    expect(created.stderr).toContain('NotFound');
    const inv = await readInventory(client, ns, 'default');
    expect(inv?.entries.map((e) => `${e.kind}/${e.name}`)).toEqual([`Namespace/${ns}`, 'ConfigMap/a']);
  });

  it('prunes only owned objects that left the set, and honours lading.dev/prune: disabled', async () => {
    setup.ready();
    const ns = newNamespace('prune');
    await applyInventory({
      client,
      name: ns,
      objects: [namespace(ns), configMap(ns, 'keep', { k: '1' }), configMap(ns, 'gone', { k: '1' }), configMap(ns, 'optout', { k: '1' }, { 'lading.dev/prune': 'disabled' }), configMap(ns, 'stolen', { k: '1' })],
    });
    // Another inventory takes over "stolen": it is no longer ours to delete.
    await applyInventory({ client, name: `${ns}-other`, objects: [configMap(ns, 'stolen', { k: '1' })] });
    const diff = await diffInventory({ client, name: ns, objects: [namespace(ns), configMap(ns, 'keep', { k: '1' })], prune: true });
    expect(diff.entries.filter((e) => e.action === 'deleted').map((e) => e.id)).toEqual([`ConfigMap/${ns}/gone`]);
    const r = await applyInventory({ client, name: ns, objects: [namespace(ns), configMap(ns, 'keep', { k: '1' })], prune: true, wait: true, timeoutMs: 60_000 });
    expect(actions(r.changes)).toEqual({
      [`Namespace/${ns}`]: 'unchanged',
      [`ConfigMap/${ns}/keep`]: 'unchanged',
      [`ConfigMap/${ns}/stolen`]: 'skipped',
      [`ConfigMap/${ns}/optout`]: 'skipped',
      [`ConfigMap/${ns}/gone`]: 'deleted',
    });
    const names = (await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(kubeconfig, ['-n', ns, 'get', 'configmaps'])).items.map((i) => i.metadata.name).sort();
    expect(names).toEqual(['keep', 'kube-root-ca.crt', 'optout', 'stolen']);
    expect((await readInventory(client, ns, 'default'))?.entries.map((e) => e.name)).toEqual([ns, 'keep']);
    await deleteInventory({ client, name: `${ns}-other`, timeoutMs: 60_000 });
  });

  it('takes over objects from kubectl client-side apply', async () => {
    setup.ready();
    const ns = newNamespace('csa');
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(configMap(ns, 'legacy', { a: '1', b: '2' })) });
    const r = await applyInventory({ client, name: ns, objects: [configMap(ns, 'legacy', { a: '1' })] });
    expect(actions(r.changes)[`ConfigMap/${ns}/legacy`]).toBe('configured');
    const live = await kubectlJson<{ data: Record<string, string>; metadata: { annotations?: Record<string, string>; managedFields: Array<{ manager: string; operation: string }> } }>(kubeconfig, [
      '-n', ns, 'get', 'configmap', 'legacy', '--show-managed-fields',
    ]);
    expect(live.data).toEqual({ a: '1' });
    expect(live.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
    expect(live.metadata.managedFields.map((m) => m.manager)).not.toContain('kubectl-client-side-apply');
    const again = await applyInventory({ client, name: ns, objects: [configMap(ns, 'legacy', { a: '1' })] });
    expect(actions(again.changes)[`ConfigMap/${ns}/legacy`]).toBe('unchanged');
    await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false']);
  });

  it('names an immutable field; --force deletes and re-creates the object', async () => {
    setup.ready();
    const ns = newNamespace('immutable');
    await applyInventory({ client, name: ns, objects: [namespace(ns), deployment(ns, 'web', { app: 'one' })] });
    const uid = (await kubectlJson<{ metadata: { uid: string } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'web'])).metadata.uid;
    const changed = [namespace(ns), deployment(ns, 'web', { app: 'two' })];
    const err = await applyInventory({ client, name: ns, objects: changed }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('IMMUTABLE_FIELD');
    expect((err as KubeError).message).toContain(`Deployment/${ns}/web: spec.selector is immutable`);
    expect((err as KubeError).message).toContain('--force');
    const r = await applyInventory({ client, name: ns, objects: changed, force: true, timeoutMs: 60_000 });
    expect(actions(r.changes)[`Deployment/${ns}/web`]).toBe('configured');
    const live = await kubectlJson<{ metadata: { uid: string }; spec: { selector: { matchLabels: Record<string, string> } } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'web']);
    expect(live.metadata.uid).not.toBe(uid);
    expect(live.spec.selector.matchLabels).toEqual({ app: 'two' });
  });

  it('leaves spec.replicas to an HPA that scales the Deployment', async () => {
    setup.ready();
    const ns = newNamespace('hpa');
    const hpa: KubeObject = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: ns },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }] },
    };
    const objects = [namespace(ns), deployment(ns, 'web', { replicas: 1 }), hpa];
    await applyInventory({ client, name: ns, objects });
    // As the autoscaler would: three replicas.
    await kubectl(kubeconfig, ['-n', ns, 'scale', 'deployment', 'web', '--replicas=3']);
    const r = await applyInventory({ client, name: ns, objects });
    expect(actions(r.changes)[`Deployment/${ns}/web`]).toBe('unchanged');
    expect((await kubectlJson<{ spec: { replicas: number } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'web'])).spec.replicas).toBe(3);
  });

  it('leaves spec.replicas to an HPA that is already in the cluster', async () => {
    setup.ready();
    const ns = newNamespace('livehpa');
    const objects = [namespace(ns), deployment(ns, 'api', { replicas: 1 })];
    await applyInventory({ client, name: ns, objects });
    // An HPA managed elsewhere (another tool, another inventory) scales the Deployment.
    await kubectl(kubeconfig, ['-n', ns, 'autoscale', 'deployment', 'api', '--min=1', '--max=4']);
    await kubectl(kubeconfig, ['-n', ns, 'scale', 'deployment', 'api', '--replicas=2']);
    const diff = await diffInventory({ client, name: ns, objects });
    expect(diff.changed).toBe(false);
    const r = await applyInventory({ client, name: ns, objects });
    expect(actions(r.changes)[`Deployment/${ns}/api`]).toBe('unchanged');
    expect((await kubectlJson<{ spec: { replicas: number } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'api'])).spec.replicas).toBe(2);
  });

  it('waits for readiness and lists what is not ready on timeout', async () => {
    setup.ready();
    const ns = newNamespace('wait');
    const pending: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'none' } };
    const err = await applyInventory({ client, name: ns, objects: [namespace(ns), deployment(ns, 'web'), pending], wait: true, timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('TIMEOUT');
    expect((err as KubeError).message).toContain(`PersistentVolumeClaim/${ns}/data (InProgress: PVC is Pending)`);
    expect((err as KubeError).message).not.toContain(`Namespace/${ns}`);
  });

  it('fails fast when an object fails (Deployment past its progress deadline)', async () => {
    setup.ready();
    const ns = newNamespace('failfast');
    const stuck = deployment(ns, 'stuck', { replicas: 1 });
    const spec = stuck['spec'] as Record<string, unknown>;
    spec['progressDeadlineSeconds'] = 1;
    // No node matches: the Pod never runs, the controller reports ProgressDeadlineExceeded.
    ((spec['template'] as Record<string, unknown>)['spec'] as Record<string, unknown>)['nodeSelector'] = { 'lading.dev/no-such-node': 'true' };
    const err = await applyInventory({ client, name: ns, objects: [namespace(ns), stuck], wait: true, timeoutMs: 240_000 }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('FAILED');
    expect((err as KubeError).message).toContain(`Deployment/${ns}/stuck failed: Progress deadline exceeded`);
  });

  it('re-creates on an immutable change when the object carries lading.dev/force: enabled', async () => {
    setup.ready();
    const ns = newNamespace('forceann');
    await applyInventory({ client, name: ns, objects: [namespace(ns), deployment(ns, 'web', { app: 'one' })] });
    const changed = deployment(ns, 'web', { app: 'two' });
    (changed['metadata'] as Record<string, unknown>)['annotations'] = { 'lading.dev/force': 'enabled' };
    const r = await applyInventory({ client, name: ns, objects: [namespace(ns), changed], timeoutMs: 60_000 });
    expect(r.changes.find((c) => c.id === `Deployment/${ns}/web`)).toMatchObject({ action: 'configured', reason: 're-created: spec.selector is immutable' });
  });

  it('computes the same ApplySet id as kubectl', async () => {
    setup.ready();
    const ns = newNamespace('applyset');
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['-n', ns, 'apply', '--server-side', '--prune', '--applyset=configmaps/kubectl-parent', '-f', '-'], {
      input: JSON.stringify(configMap(ns, 'member', { k: '1' })),
      env: { KUBECTL_APPLYSET: 'true' },
    });
    const parent = await kubectlJson<{ metadata: { labels: Record<string, string> } }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'kubectl-parent']);
    expect(parent.metadata.labels['applyset.kubernetes.io/id']).toBe(applySetId({ name: 'kubectl-parent', namespace: ns }));
    await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false']);
  });
});
