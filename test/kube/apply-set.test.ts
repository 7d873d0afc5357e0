// applySet and deleteSet against the real API server, with both owners: lading's inventories
// (field manager `lading`, `lading.dev/*` annotations) and Flux's Kustomizations (field manager
// `kustomize-controller`, `kustomize.toolkit.fluxcd.io/*` labels and annotations). Every
// per-object annotation, the inventory store sequence when an apply fails half-way (with a store
// kept in an object's status, as the controller keeps a Kustomization's), prune of owned objects
// only, wait with and without fail-fast, adoption of objects Flux applied, and impersonation of a
// service account whose RBAC allows one namespace only.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KubeError,
  applySet,
  deleteSet,
  discoveryFor,
  fluxOwner,
  fromInventoryEntries,
  inventoryOwner,
  serviceAccountUser,
  toInventoryEntries,
  type InventoryStore,
  type InventoryWriteStage,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
  type Owner,
} from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup, kubectl, kubectlJson } from './helpers.js';

let kubeconfig: string;
let client: KubeClient;
const namespaces: string[] = [];
const clusterObjects: string[][] = [];

// A kind with a status subresource and no controller: its status says what a test writes.
const crdGroup = 'applyset-test.lading.dev';
const crd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${crdGroup}` },
  spec: {
    group: crdGroup,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      },
    ],
  },
};

const setup = deferredSetup();
beforeAll(() =>
  setup.run(async () => {
    kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig, 'default');
    await kubectl(kubeconfig, ['apply', '--server-side', '-f', '-'], { input: JSON.stringify(crd) });
    clusterObjects.push(['crd', `widgets.${crdGroup}`, '--wait=false']);
    await kubectl(kubeconfig, ['wait', '--for=condition=Established', `crd/widgets.${crdGroup}`, '--timeout=60s']);
  }),
);

afterAll(async () => {
  for (const ns of namespaces) await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  for (const args of clusterObjects) await kubectl(kubeconfig, ['delete', ...args, '--ignore-not-found']).catch(() => undefined);
  await client?.close();
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
const deployment = (ns: string, name: string, app: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) },
  spec: { selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } } },
});
const widget = (ns: string, name: string): KubeObject => ({ apiVersion: `${crdGroup}/v1`, kind: 'Widget', metadata: { name, namespace: ns }, spec: { size: 1 } });

/** A store in memory that records every write. */
function memoryStore(initial?: ObjectRef[]): InventoryStore & { writes: Array<{ stage: InventoryWriteStage; entries: ObjectRef[] }>; current(): ObjectRef[] | undefined } {
  let current = initial ? [...initial] : undefined;
  const writes: Array<{ stage: InventoryWriteStage; entries: ObjectRef[] }> = [];
  return {
    writes,
    current: () => current,
    read: async () => (current ? [...current] : undefined),
    write: async (entries, stage) => {
      writes.push({ stage, entries: [...entries] });
      current = [...entries];
    },
  };
}

/**
 * A store in a Widget's status.inventory.entries, written with server-side apply on the status
 * subresource under its own field manager — as the controller keeps a Kustomization's inventory.
 */
function statusStore(holder: { namespace: string; name: string }): InventoryStore & { stages: InventoryWriteStage[] } {
  const path = `/apis/${crdGroup}/v1/namespaces/${holder.namespace}/widgets/${holder.name}`;
  const stages: InventoryWriteStage[] = [];
  return {
    stages,
    async read() {
      const obj = await client.request<KubeObject>({ path });
      const status = obj['status'] as { inventory?: { entries?: unknown } } | undefined;
      return status?.inventory ? fromInventoryEntries(status.inventory.entries, `Widget ${holder.namespace}/${holder.name}`) : undefined;
    },
    async write(entries, stage) {
      stages.push(stage);
      await client.request({
        method: 'PATCH',
        path: `${path}/status`,
        query: { fieldManager: 'applyset-test-status', force: true },
        contentType: 'application/apply-patch+yaml',
        body: { apiVersion: `${crdGroup}/v1`, kind: 'Widget', metadata: { name: holder.name, namespace: holder.namespace }, status: { inventory: { entries: toInventoryEntries(entries) } } },
      });
    },
  };
}

function actions(changes: Array<{ id: string; action: string }>): Record<string, string> {
  return Object.fromEntries(changes.map((c) => [c.id, c.action]));
}

function names(entries: readonly ObjectRef[] | undefined): string[] {
  return (entries ?? []).map((e) => `${e.kind}/${e.name}`);
}

interface Live {
  data?: Record<string, string>;
  metadata: { uid: string; labels?: Record<string, string>; annotations?: Record<string, string>; managedFields?: Array<{ manager: string; operation: string; fieldsV1?: Record<string, unknown> }> };
  spec?: Record<string, unknown>;
}

async function getLive(ns: string, what: string): Promise<Live> {
  return kubectlJson<Live>(kubeconfig, ['-n', ns, 'get', what, '--show-managed-fields']);
}

async function exists(ns: string, what: string): Promise<boolean> {
  const r = await kubectl(kubeconfig, ['-n', ns, 'get', what], { allowFailure: true });
  return r.code === 0;
}

const flux = (ns: string, name = 'app'): Owner => fluxOwner({ name, namespace: ns });
const lading = (ns: string, name = 'app'): Owner => inventoryOwner({ name, namespace: ns });

describe('applySet with the Flux owner', () => {
  it('labels objects as kustomize-controller does and applies them with its field manager', async () => {
    setup.ready();
    const ns = newNamespace('flux-labels');
    const store = memoryStore();
    const r = await applySet({ client, owner: flux(ns, 'podinfo'), store, objects: [namespace(ns), configMap(ns, 'a', { k: '1' })] });
    expect(actions(r.changes)).toEqual({ [`Namespace/${ns}`]: 'created', [`ConfigMap/${ns}/a`]: 'created' });
    expect(toInventoryEntries(r.entries)).toEqual([
      { id: `_${ns}__Namespace`, v: 'v1' },
      { id: `${ns}_a__ConfigMap`, v: 'v1' },
    ]);
    expect(store.writes.map((w) => w.stage)).toEqual(['before-apply', 'complete']);
    const live = await getLive(ns, 'configmap/a');
    expect(live.metadata.labels).toEqual({ 'kustomize.toolkit.fluxcd.io/name': 'podinfo', 'kustomize.toolkit.fluxcd.io/namespace': ns });
    expect(live.metadata.managedFields?.map((m) => `${m.manager}/${m.operation}`)).toEqual(['kustomize-controller/Apply']);
    const again = await applySet({ client, owner: flux(ns, 'podinfo'), store, objects: [namespace(ns), configMap(ns, 'a', { k: '1' })] });
    expect(again.changes.every((c) => c.action === 'unchanged')).toBe(true);
  });

  it('reconcile: disabled skips the object (on the desired or the live object), keeps it in the entries, and prune leaves it', async () => {
    setup.ready();
    const ns = newNamespace('flux-reconcile');
    const owner = flux(ns);
    const store = memoryStore();
    const disabled = { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' };
    await applySet({ client, owner, store, objects: [namespace(ns), configMap(ns, 'live-off', { k: '1' })] });
    // Someone turns reconciliation off on the live object and edits it.
    await kubectl(kubeconfig, ['-n', ns, 'annotate', 'configmap', 'live-off', 'kustomize.toolkit.fluxcd.io/reconcile=disabled']);
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'live-off', '--type=merge', '-p', '{"data":{"k":"edited"}}']);
    const r = await applySet({ client, owner, store, objects: [namespace(ns), configMap(ns, 'live-off', { k: '1' }), configMap(ns, 'never', { k: '1' }, disabled)] });
    expect(r.changes.find((c) => c.id === `ConfigMap/${ns}/live-off`)).toMatchObject({ action: 'skipped', reason: 'kustomize.toolkit.fluxcd.io/reconcile: disabled' });
    expect(r.changes.find((c) => c.id === `ConfigMap/${ns}/never`)).toMatchObject({ action: 'skipped', reason: 'kustomize.toolkit.fluxcd.io/reconcile: disabled' });
    expect((await getLive(ns, 'configmap/live-off')).data).toEqual({ k: 'edited' });
    expect(await exists(ns, 'configmap/never')).toBe(false);
    // Skipped objects stay in the inventory, as Flux keeps them.
    expect(names(r.entries)).toEqual([`Namespace/${ns}`, 'ConfigMap/live-off', 'ConfigMap/never']);
    // It leaves the set: prune does not delete it.
    const pruned = await applySet({ client, owner, store, objects: [namespace(ns)], prune: true });
    expect(pruned.changes.find((c) => c.id === `ConfigMap/${ns}/live-off`)).toMatchObject({ action: 'skipped', reason: 'kustomize.toolkit.fluxcd.io/reconcile: disabled' });
    expect(await exists(ns, 'configmap/live-off')).toBe(true);
    expect(names(pruned.entries)).toEqual([`Namespace/${ns}`]);
  });

  it('ssa: Ignore skips the object and prune leaves it; ssa: IfNotPresent creates it once and then leaves it alone', async () => {
    setup.ready();
    const ns = newNamespace('flux-ssa');
    const owner = flux(ns);
    const store = memoryStore();
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'theirs', '--from-literal=k=theirs']);
    const ignore = { 'kustomize.toolkit.fluxcd.io/ssa': 'Ignore' };
    const ifNotPresent = { 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' };
    const objects = [configMap(ns, 'theirs', { k: 'ours' }, ignore), configMap(ns, 'seed', { k: 'initial' }, ifNotPresent)];
    const first = await applySet({ client, owner, store, objects });
    expect(first.changes.find((c) => c.id === `ConfigMap/${ns}/theirs`)).toMatchObject({ action: 'skipped', reason: 'kustomize.toolkit.fluxcd.io/ssa: Ignore' });
    expect(first.changes.find((c) => c.id === `ConfigMap/${ns}/seed`)).toMatchObject({ action: 'created' });
    const theirs = await getLive(ns, 'configmap/theirs');
    expect(theirs.data).toEqual({ k: 'theirs' });
    expect(theirs.metadata.labels?.['kustomize.toolkit.fluxcd.io/name']).toBeUndefined();
    expect((await getLive(ns, 'configmap/seed')).metadata.labels?.['kustomize.toolkit.fluxcd.io/name']).toBe('app');
    // The seeded object is edited by its users: the next apply leaves it as it is.
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'seed', '--type=merge', '-p', '{"data":{"k":"tuned"}}']);
    const second = await applySet({ client, owner, store, objects });
    expect(second.changes.find((c) => c.id === `ConfigMap/${ns}/seed`)).toMatchObject({ action: 'skipped', reason: 'kustomize.toolkit.fluxcd.io/ssa: IfNotPresent and the object exists' });
    expect((await getLive(ns, 'configmap/seed')).data).toEqual({ k: 'tuned' });
    // Both leave the set: the Ignored one (not ours anyway) stays, the seeded one is ours and goes.
    const pruned = await applySet({ client, owner, store, objects: [], prune: true });
    expect(actions(pruned.changes)).toEqual({ [`ConfigMap/${ns}/theirs`]: 'skipped', [`ConfigMap/${ns}/seed`]: 'deleted' });
    expect(await exists(ns, 'configmap/theirs')).toBe(true);
  });

  it('ssa: Merge keeps the fields and metadata of kubectl client-side apply; without it they are taken over and cleaned up', async () => {
    setup.ready();
    const ns = newNamespace('flux-merge');
    const owner = flux(ns);
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    for (const name of ['merged', 'overridden']) {
      await kubectl(kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(configMap(ns, name, { a: '1', b: '2' }, { 'kustomize.toolkit.fluxcd.io/checksum': 'old' })) });
    }
    const r = await applySet({
      client,
      owner,
      store: memoryStore(),
      objects: [configMap(ns, 'merged', { a: '1' }, { 'kustomize.toolkit.fluxcd.io/ssa': 'Merge' }), configMap(ns, 'overridden', { a: '1' })],
    });
    expect(actions(r.changes)).toEqual({ [`ConfigMap/${ns}/merged`]: 'configured', [`ConfigMap/${ns}/overridden`]: 'configured' });
    const merged = await getLive(ns, 'configmap/merged');
    expect(merged.data).toEqual({ a: '1', b: '2' });
    expect(merged.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeDefined();
    expect(merged.metadata.managedFields?.map((m) => m.manager)).toContain('kubectl-client-side-apply');
    const overridden = await getLive(ns, 'configmap/overridden');
    expect(overridden.data).toEqual({ a: '1' });
    expect(overridden.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
    expect(overridden.metadata.annotations?.['kustomize.toolkit.fluxcd.io/checksum']).toBeUndefined();
    expect(overridden.metadata.managedFields?.map((m) => `${m.manager}/${m.operation}`)).toEqual(['kustomize-controller/Apply']);
  });

  it('prune: disabled keeps an object; prune deletes only objects with both owner labels of this Kustomization', async () => {
    setup.ready();
    const ns = newNamespace('flux-prune');
    const owner = flux(ns);
    const store = memoryStore();
    const all = [
      namespace(ns),
      configMap(ns, 'keep', { k: '1' }),
      configMap(ns, 'gone', { k: '1' }),
      configMap(ns, 'optout', { k: '1' }, { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' }),
      configMap(ns, 'lading-optout', { k: '1' }, { 'lading.dev/prune': 'disabled' }),
      configMap(ns, 'stolen', { k: '1' }),
      configMap(ns, 'half', { k: '1' }),
    ];
    await applySet({ client, owner, store, objects: all });
    // Another Kustomization takes "stolen"; "half" loses one of its two owner labels.
    await applySet({ client, owner: flux(ns, 'other'), store: memoryStore(), objects: [configMap(ns, 'stolen', { k: '1' })] });
    await kubectl(kubeconfig, ['-n', ns, 'label', 'configmap', 'half', 'kustomize.toolkit.fluxcd.io/namespace-']);
    const r = await applySet({ client, owner, store, objects: [namespace(ns), configMap(ns, 'keep', { k: '1' })], prune: true, wait: true, timeoutMs: 60_000 });
    expect(r.changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.id} ${c.action}${c.reason ? ` (${c.reason})` : ''}`).sort()).toEqual(
      [
        `ConfigMap/${ns}/gone deleted`,
        `ConfigMap/${ns}/half skipped (not owned by Kustomization ${ns}/app)`,
        // lading's annotation means nothing to the Flux owner.
        `ConfigMap/${ns}/lading-optout deleted`,
        `ConfigMap/${ns}/optout skipped (kustomize.toolkit.fluxcd.io/prune: disabled)`,
        `ConfigMap/${ns}/stolen skipped (not owned by Kustomization ${ns}/app)`,
      ].sort(),
    );
    const left = (await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(kubeconfig, ['-n', ns, 'get', 'configmaps'])).items.map((i) => i.metadata.name).sort();
    expect(left).toEqual(['half', 'keep', 'kube-root-ca.crt', 'optout', 'stolen']);
    expect(names(store.current())).toEqual([`Namespace/${ns}`, 'ConfigMap/keep']);
  });

  it('force: enabled re-creates an object whose immutable field changed; without it the error names the annotation', async () => {
    setup.ready();
    const ns = newNamespace('flux-force');
    const owner = flux(ns);
    const store = memoryStore();
    await applySet({ client, owner, store, objects: [namespace(ns), deployment(ns, 'web', 'one')] });
    const uid = (await getLive(ns, 'deployment/web')).metadata.uid;
    // lading's annotation is not Flux's.
    const err = await applySet({ client, owner, store, objects: [namespace(ns), deployment(ns, 'web', 'two', { 'lading.dev/force': 'enabled' })] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe('IMMUTABLE_FIELD');
    expect((err as KubeError).message).toContain(`Deployment/${ns}/web: spec.selector is immutable`);
    expect((err as KubeError).message).toContain('kustomize.toolkit.fluxcd.io/force: enabled');
    const r = await applySet({ client, owner, store, objects: [namespace(ns), deployment(ns, 'web', 'two', { 'kustomize.toolkit.fluxcd.io/force': 'enabled' })], timeoutMs: 60_000 });
    expect(r.changes.find((c) => c.id === `Deployment/${ns}/web`)).toMatchObject({ action: 'configured', reason: 're-created: spec.selector is immutable' });
    const live = await getLive(ns, 'deployment/web');
    expect(live.metadata.uid).not.toBe(uid);
    expect((live.spec?.['selector'] as { matchLabels: Record<string, string> }).matchLabels).toEqual({ app: 'two' });
  });

  it('adopts objects kustomize-controller applied: no conflict, its fields updated, fields of other managers kept', async () => {
    setup.ready();
    const ns = newNamespace('flux-adopt');
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    const fluxLabels = { 'kustomize.toolkit.fluxcd.io/name': 'app', 'kustomize.toolkit.fluxcd.io/namespace': ns };
    const applied = configMap(ns, 'adopted', { a: '1', b: '2' });
    (applied['metadata'] as Record<string, unknown>)['labels'] = fluxLabels;
    await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], { input: JSON.stringify(applied) });
    // A field of another manager, and a field set with plain `kubectl apply --server-side` (manager "kubectl").
    await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=other-tool', '-f', '-'], { input: JSON.stringify(configMap(ns, 'adopted', { c: '3' })) });
    await kubectl(kubeconfig, ['apply', '--server-side', '-f', '-'], { input: JSON.stringify(configMap(ns, 'adopted', { d: '4' })) });
    const before = await getLive(ns, 'configmap/adopted');
    const r = await applySet({ client, owner: flux(ns), store: memoryStore(), objects: [configMap(ns, 'adopted', { a: '1', b: '20', e: '5' })] });
    expect(actions(r.changes)).toEqual({ [`ConfigMap/${ns}/adopted`]: 'configured' });
    const after = await getLive(ns, 'configmap/adopted');
    expect(after.metadata.uid).toBe(before.metadata.uid);
    // kubectl's field d was taken over (as Flux does) and, no longer applied, removed; other-tool keeps c.
    expect(after.data).toEqual({ a: '1', b: '20', c: '3', e: '5' });
    expect(after.metadata.labels).toEqual(fluxLabels);
    expect(after.metadata.managedFields?.map((m) => `${m.manager}/${m.operation}`).sort()).toEqual(['kustomize-controller/Apply', 'other-tool/Apply']);
    const again = await applySet({ client, owner: flux(ns), store: memoryStore(), objects: [configMap(ns, 'adopted', { a: '1', b: '20', e: '5' })] });
    expect(actions(again.changes)).toEqual({ [`ConfigMap/${ns}/adopted`]: 'unchanged' });
  });
});

describe('applySet with the lading owner', () => {
  it('honours lading.dev/prune and lading.dev/force and ignores Flux annotations', async () => {
    setup.ready();
    const ns = newNamespace('lading-ann');
    const owner = lading(ns);
    const store = memoryStore();
    const objects = [
      namespace(ns),
      configMap(ns, 'flux-off', { k: '1' }, { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled', 'kustomize.toolkit.fluxcd.io/ssa': 'Ignore' }),
      configMap(ns, 'optout', { k: '1' }, { 'lading.dev/prune': 'disabled' }),
      configMap(ns, 'flux-optout', { k: '1' }, { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' }),
      deployment(ns, 'web', 'one'),
    ];
    const r = await applySet({ client, owner, store, objects });
    expect(r.changes.every((c) => c.action === 'created')).toBe(true);
    const live = await getLive(ns, 'configmap/flux-off');
    expect(live.metadata.labels?.['inventory.lading.dev/name']).toBe('app');
    expect(live.metadata.managedFields?.map((m) => m.manager)).toEqual(['lading']);
    const flipped = await applySet({ client, owner, store, objects: [namespace(ns), deployment(ns, 'web', 'two', { 'kustomize.toolkit.fluxcd.io/force': 'enabled' })] }).catch((e: unknown) => e);
    expect((flipped as KubeError).code).toBe('IMMUTABLE_FIELD');
    expect((flipped as KubeError).message).toContain('lading.dev/force: enabled');
    const pruned = await applySet({ client, owner, store, objects: [namespace(ns), deployment(ns, 'web', 'two', { 'lading.dev/force': 'enabled' })], prune: true, timeoutMs: 60_000 });
    expect(pruned.changes.map((c) => `${c.id} ${c.action}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      `Namespace/${ns} unchanged`,
      `Deployment/${ns}/web configured (re-created: spec.selector is immutable)`,
      `ConfigMap/${ns}/optout skipped (lading.dev/prune: disabled)`,
      `ConfigMap/${ns}/flux-optout deleted`,
      `ConfigMap/${ns}/flux-off deleted`,
    ]);
  });
});

describe('the inventory store', () => {
  it('keeps old ∪ new while applying and narrows to what may exist when a later stage fails (store in an object status)', async () => {
    setup.ready();
    const ns = newNamespace('store');
    const ns2 = `${ns}-extra`;
    namespaces.push(ns2);
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['-n', ns, 'apply', '--server-side', '-f', '-'], { input: JSON.stringify(widget(ns, 'holder')) });
    const store = statusStore({ namespace: ns, name: 'holder' });
    const owner = flux(ns);
    expect(await store.read()).toBeUndefined();
    await applySet({ client, owner, store, objects: [configMap(ns, 'a', { k: '1' }), configMap(ns, 'b', { k: '1' })] });
    expect(names(await store.read())).toEqual(['ConfigMap/a', 'ConfigMap/b']);

    // The new set adds a Namespace (first stage: applied), a ConfigMap and an invalid Service (last stage: refused by the dry run).
    const invalid: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: ns }, spec: { ports: [{ port: 99999 }] } };
    const seen: string[][] = [];
    const observing: InventoryStore = {
      read: () => store.read(),
      write: async (entries, stage) => {
        seen.push([stage, ...names(entries)]);
        await store.write(entries, stage);
      },
    };
    const err = await applySet({ client, owner, store: observing, objects: [namespace(ns2), configMap(ns, 'a', { k: '2' }), configMap(ns, 'c', { k: '1' }), invalid], prune: true }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('INVALID');
    expect((err as KubeError).message).toContain(`Service/${ns}/broken`);
    expect(seen).toEqual([
      // Before anything is applied: the new set, then the old entries it drops.
      ['before-apply', `Namespace/${ns2}`, 'ConfigMap/a', 'ConfigMap/c', 'Service/broken', 'ConfigMap/b'],
      // After the failure: what exists (the Namespace applied, a) and the old entries; c was never sent, the Service was refused.
      ['after-failure', `Namespace/${ns2}`, 'ConfigMap/a', 'ConfigMap/b'],
    ]);
    expect(names(await store.read())).toEqual([`Namespace/${ns2}`, 'ConfigMap/a', 'ConfigMap/b']);
    // Nothing was pruned; the Namespace of the first stage exists.
    expect(await exists(ns, 'configmap/b')).toBe(true);
    expect((await kubectl(kubeconfig, ['get', 'namespace', ns2], { allowFailure: true })).code).toBe(0);

    // Fixed: the re-run converges and prunes b.
    const r = await applySet({ client, owner, store, objects: [namespace(ns2), configMap(ns, 'a', { k: '2' }), configMap(ns, 'c', { k: '1' })], prune: true });
    expect(actions(r.changes)).toEqual({ [`Namespace/${ns2}`]: 'unchanged', [`ConfigMap/${ns}/a`]: 'configured', [`ConfigMap/${ns}/c`]: 'created', [`ConfigMap/${ns}/b`]: 'deleted' });
    expect(names(await store.read())).toEqual([`Namespace/${ns2}`, 'ConfigMap/a', 'ConfigMap/c']);
    expect(store.stages).toEqual(['before-apply', 'complete', 'before-apply', 'after-failure', 'before-apply', 'complete']);
  });

  it('writes nothing on a dry run', async () => {
    setup.ready();
    const ns = newNamespace('store-dry');
    const store = memoryStore();
    const r = await applySet({ client, owner: flux(ns), store, objects: [namespace(ns), configMap(ns, 'a', { k: '1' })], dryRun: true });
    expect(actions(r.changes)).toEqual({ [`Namespace/${ns}`]: 'created', [`ConfigMap/${ns}/a`]: 'created' });
    expect(store.writes).toEqual([]);
    expect((await kubectl(kubeconfig, ['get', 'namespace', ns], { allowFailure: true })).code).not.toBe(0);
  });
});

describe('wait', () => {
  async function stall(ns: string, name: string, message: string): Promise<void> {
    const status = { conditions: [{ type: 'Stalled', status: 'True', reason: 'Broken', message }, { type: 'Ready', status: 'False', reason: 'Broken', message }] };
    await kubectl(kubeconfig, ['-n', ns, 'patch', `widgets.${crdGroup}`, name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
  }

  it('fails fast naming the Failed object while another is still in progress; without fail-fast it waits for the rest', async () => {
    setup.ready();
    const ns = newNamespace('failfast');
    const owner = flux(ns);
    const store = memoryStore();
    // A PVC whose storage class does not exist stays Pending forever.
    const pending: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'none' } };
    const objects = [namespace(ns), widget(ns, 'broken'), pending];
    await applySet({ client, owner, store, objects });
    await stall(ns, 'broken', 'the widget cannot be built');
    const fast = await applySet({ client, owner, store, objects, wait: true, timeoutMs: 600_000 }).catch((e: unknown) => e);
    expect(fast).toBeInstanceOf(KubeError);
    expect((fast as KubeError).code).toBe('FAILED');
    expect((fast as KubeError).message).toBe(`Widget/${ns}/broken failed: the widget cannot be built`);
    expect((fast as KubeError).object).toBe(`Widget/${ns}/broken`);
    // Without fail-fast the PVC is waited for until the timeout, which names both.
    const slow = await applySet({ client, owner, store, objects, wait: true, failFast: false, timeoutMs: 3_000 }).catch((e: unknown) => e);
    expect((slow as KubeError).code).toBe('TIMEOUT');
    expect((slow as KubeError).message).toContain(`Widget/${ns}/broken (Failed: the widget cannot be built)`);
    expect((slow as KubeError).message).toContain(`PersistentVolumeClaim/${ns}/data (InProgress: PVC is Pending)`);
    // Without fail-fast and nothing else pending, a Failed object still ends the wait.
    const settled = await applySet({ client, owner, store, objects: [namespace(ns), widget(ns, 'broken')], wait: true, failFast: false, timeoutMs: 600_000 }).catch((e: unknown) => e);
    expect((settled as KubeError).code).toBe('FAILED');
  });

  it('fails fast on a Deployment whose status says ProgressDeadlineExceeded', async () => {
    setup.ready();
    const ns = newNamespace('deadline');
    const owner = flux(ns);
    const store = memoryStore();
    const stuck = deployment(ns, 'stuck', 'stuck');
    // Paused, so that the deployment controller keeps the condition written below (it never
    // replaces a timed-out Progressing condition with its paused one).
    (stuck['spec'] as Record<string, unknown>)['paused'] = true;
    const pending: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'none' } };
    const objects = [namespace(ns), stuck, pending];
    await applySet({ client, owner, store, objects });
    const generation = (await kubectlJson<{ metadata: { generation: number } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'stuck'])).metadata.generation;
    const status = {
      observedGeneration: generation,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "stuck-1" has timed out progressing.', lastUpdateTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    };
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'deployment', 'stuck', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const err = await applySet({ client, owner, store, objects, wait: true, timeoutMs: 600_000 }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('FAILED');
    expect((err as KubeError).message).toBe(`Deployment/${ns}/stuck failed: Progress deadline exceeded: ReplicaSet "stuck-1" has timed out progressing.`);
  });

  it('counts a Job with ttlSecondsAfterFinished that is gone as ready (the TTL controller removed it), and no other', async () => {
    setup.ready();
    const ns = newNamespace('jobttl');
    const owner = flux(ns);
    const job = (name: string, ttl: boolean): KubeObject => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: ns },
      // Suspended: it never starts, so it is never Current; only its absence can end the wait.
      spec: { suspend: true, ...(ttl ? { ttlSecondsAfterFinished: 60 } : {}), template: { spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'registry.example/job:1' }] } } },
    });
    const removeWhenWaiting = (name: string) => (e: { type: string }): void => {
      if (e.type === 'waiting') void kubectl(kubeconfig, ['-n', ns, 'delete', 'job', name, '--wait=false']);
    };
    const r = await applySet({ client, owner, store: memoryStore(), objects: [namespace(ns), job('with-ttl', true)], wait: true, timeoutMs: 120_000, onEvent: removeWhenWaiting('with-ttl') });
    expect(r.ready?.map((s) => `${s.id} ${s.readiness.status}`)).toEqual([`Namespace/${ns} Current`, `Job/${ns}/with-ttl NotFound`]);
    const err = await applySet({ client, owner, store: memoryStore(), objects: [namespace(ns), job('no-ttl', false)], wait: true, timeoutMs: 10_000, onEvent: removeWhenWaiting('no-ttl') }).catch((e: unknown) => e);
    expect((err as KubeError).code).toBe('TIMEOUT');
    expect((err as KubeError).message).toContain(`Job/${ns}/no-ttl (NotFound: Resource not found)`);
  });

  it('leaves skipped objects out of the wait', async () => {
    setup.ready();
    const ns = newNamespace('waitskip');
    const owner = flux(ns);
    const store = memoryStore();
    await applySet({ client, owner, store, objects: [namespace(ns), widget(ns, 'broken')] });
    await stall(ns, 'broken', 'broken on purpose');
    const ignored = widget(ns, 'broken');
    (ignored['metadata'] as Record<string, unknown>)['annotations'] = { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' };
    const r = await applySet({ client, owner, store, objects: [namespace(ns), ignored, configMap(ns, 'a', { k: '1' })], wait: true, timeoutMs: 60_000 });
    expect(r.ready?.map((s) => s.id)).toEqual([`Namespace/${ns}`, `ConfigMap/${ns}/a`]);
  });
});

describe('deleteSet', () => {
  it('deletes owned objects in reverse order, keeps opted-out and foreign ones, and waits for termination', async () => {
    setup.ready();
    const ns = newNamespace('delete');
    const owner = flux(ns);
    const store = memoryStore();
    const r = await applySet({
      client,
      owner,
      store,
      objects: [namespace(ns), configMap(ns, 'a', { k: '1' }), configMap(ns, 'kept', { k: '1' }, { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' }), configMap(ns, 'foreign', { k: '1' }), deployment(ns, 'web', 'web')],
    });
    await applySet({ client, owner: flux(ns, 'other'), store: memoryStore(), objects: [configMap(ns, 'foreign', { k: '1' })] });
    const events: string[] = [];
    const d = await deleteSet({ client, owner, entries: r.entries.filter((e) => e.kind !== 'Namespace'), wait: true, timeoutMs: 60_000, onEvent: (e) => events.push(e.type) });
    expect(d.changes.map((c) => `${c.id} ${c.action}${c.reason ? ` (${c.reason})` : ''}`)).toEqual([
      `Deployment/${ns}/web deleted`,
      `ConfigMap/${ns}/kept skipped (kustomize.toolkit.fluxcd.io/prune: disabled)`,
      `ConfigMap/${ns}/foreign skipped (not owned by Kustomization ${ns}/app)`,
      `ConfigMap/${ns}/a deleted`,
    ]);
    expect(events).toEqual(['deleting', 'change', 'change', 'change', 'change', 'waiting', 'deleted']);
    expect(await exists(ns, 'deployment/web')).toBe(false);
    expect(await exists(ns, 'configmap/a')).toBe(false);
    expect(await exists(ns, 'configmap/kept')).toBe(true);
    expect(await exists(ns, 'configmap/foreign')).toBe(true);
    // Run again (a retried finalizer): what is gone is not reported.
    const again = await deleteSet({ client, owner, entries: r.entries.filter((e) => e.kind !== 'Namespace') });
    expect(again.changes.map((c) => c.action)).toEqual(['skipped', 'skipped']);
  });
});

describe('impersonation', () => {
  it('applies as a service account, which RBAC allows in its own namespace only; FORBIDDEN names the object', async () => {
    setup.ready();
    const home = newNamespace('sa-home');
    const elsewhere = newNamespace('sa-elsewhere');
    await kubectl(kubeconfig, ['create', 'namespace', home]);
    await kubectl(kubeconfig, ['create', 'namespace', elsewhere]);
    await kubectl(kubeconfig, ['-n', home, 'create', 'serviceaccount', 'deployer']);
    await kubectl(kubeconfig, ['-n', home, 'create', 'role', 'cm', '--verb=get,list,create,update,patch,delete', '--resource=configmaps']);
    await kubectl(kubeconfig, ['-n', home, 'create', 'rolebinding', 'cm', '--role=cm', `--serviceaccount=${home}:deployer`]);
    const sa = client.impersonate({ user: serviceAccountUser(home, 'deployer') });
    expect(sa.impersonating).toEqual({ user: `system:serviceaccount:${home}:deployer` });
    expect(sa.impersonatedFrom).toBe(client);
    // What the cluster serves does not depend on who asks: one discovery cache.
    expect(discoveryFor(sa)).toBe(discoveryFor(client));

    // The API server sees the service account (and gives it its groups).
    const review = await sa.request<{ status: { userInfo: { username: string; groups: string[] } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${home}:deployer`);
    expect(review.status.userInfo.groups).toContain(`system:serviceaccounts:${home}`);

    // Groups given explicitly are sent as they are (one Impersonate-Group header each).
    const grouped = client.impersonate({ user: 'someone', groups: ['team-a', 'team-b'] });
    const groupedReview = await grouped.request<{ status: { userInfo: { username: string; groups: string[] } } }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(groupedReview.status.userInfo.username).toBe('someone');
    expect(groupedReview.status.userInfo.groups).toEqual(expect.arrayContaining(['team-a', 'team-b']));

    const owner = flux(home);
    const ok = await applySet({ client: sa, owner, store: memoryStore(), objects: [configMap(home, 'allowed', { k: '1' })] });
    expect(actions(ok.changes)).toEqual({ [`ConfigMap/${home}/allowed`]: 'created' });
    expect((await getLive(home, 'configmap/allowed')).metadata.managedFields?.map((m) => m.manager)).toEqual(['kustomize-controller']);

    const err = await applySet({ client: sa, owner, store: memoryStore(), objects: [configMap(home, 'allowed', { k: '1' }), configMap(elsewhere, 'denied', { k: '1' })] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe('FORBIDDEN');
    expect((err as KubeError).object).toBe(`ConfigMap/${elsewhere}/denied`);
    expect((err as KubeError).message).toContain(`ConfigMap/${elsewhere}/denied`);
    expect((err as KubeError).message).toContain(`system:serviceaccount:${home}:deployer`);
    expect(await exists(elsewhere, 'configmap/denied')).toBe(false);

    // A finalizer under the same account: what it may not delete fails, named; the rest is deleted.
    const other = await applySet({ client, owner, store: memoryStore(), objects: [configMap(elsewhere, 'out-of-reach', { k: '1' })] });
    const del = await deleteSet({ client: sa, owner, entries: [...ok.entries, ...other.entries] }).catch((e: unknown) => e);
    expect((del as KubeError).code).toBe('FORBIDDEN');
    expect((del as KubeError).object).toBe(`ConfigMap/${elsewhere}/out-of-reach`);
    expect((del as KubeError).message).toContain(`ConfigMap/${elsewhere}/out-of-reach`);
    expect(await exists(home, 'configmap/allowed')).toBe(false);
    expect(await exists(elsewhere, 'configmap/out-of-reach')).toBe(true);

    // The impersonating client shares the connections: closing it leaves the original working.
    await sa.close();
    await client.request({ path: `/api/v1/namespaces/${home}` });
    const r = await kubectl(kubeconfig, ['-n', elsewhere, 'get', 'configmaps', '-o', 'name']);
    expect(r.stdout).not.toContain('denied');
    // The original client is not impersonating.
    const me = await client.request<{ status: { userInfo: { username: string } } }>({ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    expect(me.status.userInfo.username).not.toContain('serviceaccount');
  });
});
