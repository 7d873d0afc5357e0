// The Kustomization reconciler against the real API server with Flux's own CRDs: an
// OCIRepository whose status.artifact points at a tar.gz served by the test (the storage
// protocol), the reconciler called directly with a context built here (see
// kustomization-harness.ts).
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { installLadingCrds } from './crd-install.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Finalizer, type Kustomization } from '../../src/controller/api.js';
import { findCondition } from '../../src/controller/runtime/conditions.js';
import { createKustomizationReconciler } from '../../src/controller/kustomize/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup, demoAppCopy, kubectl, kubectlJson, tempDir } from '../kube/helpers.js';
import { ArtifactServer, Harness, applyKustomization, configMap, createSource, deleteKustomization, setArtifact, writeTree } from './kustomization-harness.js';

const setup = deferredSetup();
let kubeconfig: string;
let client: KubeClient;
let server: ArtifactServer;
let harness: Harness;
const namespaces: string[] = [];
const dirs: string[] = [];
let counter = 0;

beforeAll(async () => {
  await setup.run(async () => {
    kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig, 'default');
    await installLadingCrds(kubeconfig);
    server = new ArtifactServer();
    await server.start();
    harness = new Harness(client, createKustomizationReconciler({ httpRetry: 1 }));
  });
});

afterAll(async () => {
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const ns of namespaces) await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

async function namespace(): Promise<string> {
  const ns = `ks-${process.pid}-${++counter}`;
  namespaces.push(ns);
  await kubectl(kubeconfig, ['create', 'namespace', ns]);
  return ns;
}

/** Serves a source tree as revision `rev` of OCIRepository `app` in `ns`. */
async function publish(ns: string, files: Record<string, string>, rev: string, opts: { source?: string; metadata?: Record<string, string> } = {}): Promise<{ revision: string; url: string; digest: string }> {
  const dir = writeTree(files);
  dirs.push(dir);
  const art = server.add(`ocirepository/${ns}/${opts.source ?? 'app'}/${rev}.tar.gz`, dir);
  const revision = `${rev}@sha256:${'0'.repeat(63)}${counter % 10}`;
  await createSource(client, ns, opts.source ?? 'app', { ...art, revision, ...(opts.metadata ? { metadata: opts.metadata } : {}) });
  return { revision, ...art };
}

function spec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { interval: '10m', prune: true, sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', ...extra };
}

async function configMaps(ns: string): Promise<Array<{ metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; data?: Record<string, string> }>> {
  return (await kubectlJson<{ items: Array<{ metadata: { name: string }; data?: Record<string, string> }> }>(kubeconfig, ['-n', ns, 'get', 'configmaps'])).items.filter((c) => c.metadata.name !== 'kube-root-ca.crt');
}

function ready(k: Kustomization | undefined) {
  return findCondition(k?.status?.conditions, 'Ready');
}

describe('Kustomization reconciler', () => {
  it('applies the demo app: Ready True, inventory in Flux form, owner labels and field manager, events, history', async () => {
    setup.ready();
    const ns = await namespace();
    const root = tempDir('ks-demo-');
    dirs.push(root);
    const dir = demoAppCopy(root);
    const kfile = join(dir, 'kustomization.yaml');
    writeFileSync(kfile, readFileSync(kfile, 'utf8').replace('namespace: demo-app', `namespace: ${ns}-app`));
    writeFileSync(join(dir, 'namespace.yaml'), readFileSync(join(dir, 'namespace.yaml'), 'utf8').replace('name: demo-app', `name: ${ns}-app`));
    namespaces.push(`${ns}-app`);
    const art = server.add(`ocirepository/${ns}/app/demo.tar.gz`, dir);
    const revision = `1.0.0@sha256:${'a'.repeat(64)}`;
    await createSource(client, ns, 'app', { ...art, revision, metadata: { 'org.opencontainers.image.revision': 'main@sha1:1234' } });
    await applyKustomization(client, ns, 'demo', spec());

    const outcome = await harness.reconcile(ns, 'demo');
    expect(harness.outcomes.at(-2)).toMatchObject({ finalizer: 'add', requeueAfterMs: 1 });
    const k = await harness.get(ns, 'demo');
    expect(ready(k)).toMatchObject({ status: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${revision}` });
    expect(findCondition(k?.status?.conditions, 'Reconciling')).toBeUndefined();
    expect(findCondition(k?.status?.conditions, 'Healthy')).toBeUndefined();
    expect(k?.metadata.finalizers).toContain(Finalizer);
    expect(k?.status?.observedGeneration).toBe(k?.metadata.generation);
    expect(k?.status?.lastAppliedRevision).toBe(revision);
    expect(k?.status?.lastAttemptedRevision).toBe(revision);
    expect(k?.status?.lastAppliedOriginRevision).toBe('main@sha1:1234');
    const ids = k?.status?.inventory?.entries.map((e) => `${e.id} ${e.v}`).sort();
    expect(ids).toEqual(
      [
        `_${ns}-app__Namespace v1`,
        `${ns}-app_backend__Service v1`,
        `${ns}-app_backend_apps_Deployment v1`,
        `${ns}-app_backend_autoscaling_HorizontalPodAutoscaler v2`,
        `${ns}-app_cache__Service v1`,
        `${ns}-app_cache_apps_Deployment v1`,
        `${ns}-app_frontend__Service v1`,
        `${ns}-app_frontend_apps_Deployment v1`,
        `${ns}-app_frontend_autoscaling_HorizontalPodAutoscaler v2`,
        `${ns}-app_redis-config-bd2fcfgt6k__ConfigMap v1`,
      ].sort(),
    );
    expect(k?.status?.history).toHaveLength(1);
    expect(k?.status?.history?.[0]).toMatchObject({ lastReconciledStatus: 'ReconciliationSucceeded', totalReconciliations: 1, metadata: { revision, originRevision: 'main@sha1:1234' } });
    expect(k?.status?.history?.[0]?.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(outcome.requeueAfterMs).toBeGreaterThanOrEqual(570_000);
    expect(outcome.requeueAfterMs).toBeLessThanOrEqual(630_000);
    expect(outcome.error).toBeUndefined();

    const deploy = await kubectlJson<{ metadata: { labels: Record<string, string>; managedFields: Array<{ manager: string; operation: string }> } }>(kubeconfig, ['-n', `${ns}-app`, 'get', 'deployment', 'backend', '--show-managed-fields']);
    expect(deploy.metadata.labels).toMatchObject({ 'kustomize.toolkit.fluxcd.io/name': 'demo', 'kustomize.toolkit.fluxcd.io/namespace': ns });
    expect(deploy.metadata.managedFields.filter((f) => f.operation === 'Apply').map((f) => f.manager)).toEqual(['kustomize-controller']);

    const events = harness.eventsOf(ns, 'demo');
    const applied = events.find((e) => e.message.includes(`Deployment/${ns}-app/backend created`));
    expect(applied).toMatchObject({ type: 'Normal', reason: 'Progressing', annotations: { 'kustomize.toolkit.fluxcd.io/revision': revision, 'kustomize.toolkit.fluxcd.io/originRevision': 'main@sha1:1234' } });
    expect(applied?.message.split('\n')).toContain(`Namespace/${ns}-app created`);
    const finished = events.at(-1);
    expect(finished?.message).toMatch(/^Reconciliation finished in .+, next run in 10m0s$/);
    expect(finished).toMatchObject({ type: 'Normal', reason: 'ReconciliationSucceeded', annotations: { 'kustomize.toolkit.fluxcd.io/commit_status': 'update', 'kustomize.toolkit.fluxcd.io/revision': revision } });

    // Reconciling again: nothing changes, no change-set event, the history snapshot counts twice.
    const before = harness.events.length;
    await harness.reconcile(ns, 'demo');
    const again = await harness.get(ns, 'demo');
    expect(harness.events.slice(before).map((e) => e.message)).toEqual([expect.stringMatching(/^Reconciliation finished in/)]);
    expect(again?.status?.history?.[0]?.totalReconciliations).toBe(2);
  });

  it('prunes what a new revision drops; with prune: false the object stays and leaves the inventory', async () => {
    setup.ready();
    const ns = await namespace();
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }), 'b.yaml': configMap(ns, 'b', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['a', 'b']);

    const v2 = await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '2' }) }, 'v2');
    await harness.reconcile(ns, 'ks');
    expect((await configMaps(ns)).map((c) => c.metadata.name)).toEqual(['a']);
    const k = await harness.get(ns, 'ks');
    expect(ready(k)?.message).toBe(`Applied revision: ${v2.revision}`);
    expect(k?.status?.inventory?.entries).toEqual([{ id: `${ns}_a__ConfigMap`, v: 'v1' }]);
    const messages = harness.eventsOf(ns, 'ks').map((e) => e.message);
    expect(messages).toContain(`ConfigMap/${ns}/a configured`);
    expect(messages).toContain(`ConfigMap/${ns}/b deleted`);

    await applyKustomization(client, ns, 'ks', spec({ prune: false }));
    await publish(ns, { 'c.yaml': configMap(ns, 'c', { k: '1' }) }, 'v3');
    await harness.reconcile(ns, 'ks');
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['a', 'c']);
    expect((await harness.get(ns, 'ks'))?.status?.inventory?.entries).toEqual([{ id: `${ns}_c__ConfigMap`, v: 'v1' }]);
  });

  it('never prunes an object without both owner labels, nor one annotated prune: disabled', async () => {
    setup.ready();
    const ns = await namespace();
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }), 'b.yaml': configMap(ns, 'b', { k: '1' }, { annotations: { 'kustomize.toolkit.fluxcd.io/prune': 'disabled' } }), 'c.yaml': configMap(ns, 'c', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    // Someone takes c over: the owner label in the namespace no longer says ours.
    await kubectl(kubeconfig, ['-n', ns, 'label', 'configmap', 'c', 'kustomize.toolkit.fluxcd.io/namespace=elsewhere', '--overwrite']);
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v2');
    await harness.reconcile(ns, 'ks');
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['a', 'b', 'c']);
    const prune = harness.eventsOf(ns, 'ks').find((e) => e.message.includes(`ConfigMap/${ns}/b skipped`));
    expect(prune?.message.split('\n').sort()).toEqual([`ConfigMap/${ns}/b skipped`, `ConfigMap/${ns}/c skipped`]);
    expect(ready(await harness.get(ns, 'ks'))?.status).toBe('True');
  });

  it('leaves objects annotated reconcile: disabled or ssa: IfNotPresent alone and corrects drift of the others', async () => {
    setup.ready();
    const ns = await namespace();
    const files = {
      'a.yaml': configMap(ns, 'a', { k: '1' }),
      'b.yaml': configMap(ns, 'b', { k: '1' }),
      'c.yaml': configMap(ns, 'c', { k: '1' }),
      'd.yaml': configMap(ns, 'd', { k: '1' }, { annotations: { 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' } }),
    };
    await publish(ns, files, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'a', '--type=merge', '-p', '{"data":{"k":"edited"}}']);
    await kubectl(kubeconfig, ['-n', ns, 'delete', 'configmap', 'b']);
    await kubectl(kubeconfig, ['-n', ns, 'annotate', 'configmap', 'c', 'kustomize.toolkit.fluxcd.io/reconcile=disabled']);
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'c', '--type=merge', '-p', '{"data":{"k":"mine"}}']);
    await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'd', '--type=merge', '-p', '{"data":{"k":"theirs"}}']);
    const before = harness.events.length;
    await harness.reconcile(ns, 'ks');
    const data = Object.fromEntries((await configMaps(ns)).map((c) => [c.metadata.name, c.data?.['k']]));
    expect(data).toEqual({ a: '1', b: '1', c: 'mine', d: 'theirs' });
    const change = harness.events.slice(before).find((e) => e.message.includes('configured'));
    expect(change?.message.split('\n').sort()).toEqual([`ConfigMap/${ns}/a configured`, `ConfigMap/${ns}/b created`]);
    // A skipped object stays in the inventory.
    expect((await harness.get(ns, 'ks'))?.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_a__ConfigMap`, `${ns}_b__ConfigMap`, `${ns}_c__ConfigMap`, `${ns}_d__ConfigMap`]);
  });

  it('adopts objects applied before by Flux (same field manager and labels) without conflict', async () => {
    setup.ready();
    const ns = await namespace();
    const labels = { 'kustomize.toolkit.fluxcd.io/name': 'ks', 'kustomize.toolkit.fluxcd.io/namespace': ns };
    await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=kustomize-controller', '-f', '-'], { input: configMap(ns, 'a', { k: '1' }, { labels }) });
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    const before = harness.events.length;
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.status).toBe('True');
    // Nothing to change: no change-set event.
    expect(harness.events.slice(before).filter((e) => e.message.includes('ConfigMap/'))).toEqual([]);
    const live = await kubectlJson<{ metadata: { managedFields: Array<{ manager: string }> } }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'a', '--show-managed-fields']);
    expect(live.metadata.managedFields.map((f) => f.manager)).toEqual(['kustomize-controller']);
  });

  it('waits for dependencies (Flux readiness rule) and applies after them', async () => {
    setup.ready();
    const ns = await namespace();
    const v1 = await publish(ns, { 'first/a.yaml': configMap(ns, 'first', { k: '1' }), 'second/b.yaml': configMap(ns, 'second', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'first', spec({ path: './first' }));
    await applyKustomization(client, ns, 'second', spec({ path: './second', dependsOn: [{ name: 'first' }] }));

    const waiting = await harness.reconcile(ns, 'second');
    expect(waiting.requeueAfterMs).toBe(30_000);
    expect(ready(await harness.get(ns, 'second'))).toMatchObject({ status: 'False', reason: 'DependencyNotReady', message: `dependency '${ns}/first' is not ready` });
    expect(harness.eventsOf(ns, 'second').at(-1)).toMatchObject({ type: 'Normal', reason: 'DependencyNotReady', message: 'Dependencies do not meet ready condition, retrying in 30s' });
    expect((await configMaps(ns)).map((c) => c.metadata.name)).toEqual([]);

    await harness.reconcile(ns, 'first');
    await harness.reconcile(ns, 'second');
    expect(ready(await harness.get(ns, 'second'))?.message).toBe(`Applied revision: ${v1.revision}`);

    // A new revision of the shared source: the dependency must have applied it first.
    await publish(ns, { 'first/a.yaml': configMap(ns, 'first', { k: '2' }), 'second/b.yaml': configMap(ns, 'second', { k: '2' }) }, 'v2');
    await harness.reconcile(ns, 'second');
    expect(ready(await harness.get(ns, 'second'))).toMatchObject({ reason: 'DependencyNotReady', message: `dependency '${ns}/first' revision is not up to date` });
    await applyKustomization(client, ns, 'third', spec({ path: './second', dependsOn: [{ name: 'missing' }] }));
    await harness.reconcile(ns, 'third');
    expect(ready(await harness.get(ns, 'third'))?.message).toMatch(new RegExp(`^dependency '${ns}/missing' not found`));
  });

  it('a build failure: BuildFailed, a Warning event, retry after retryInterval, nothing applied', async () => {
    setup.ready();
    const ns = await namespace();
    await publish(ns, { 'kustomization.yaml': 'resources:\n  - a.yaml\n  - missing.yaml\n', 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ retryInterval: '1m' }));
    const outcome = await harness.reconcile(ns, 'ks');
    expect(outcome).toMatchObject({ requeueAfterMs: 60_000 });
    expect(outcome.error).toBeUndefined();
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'BuildFailed' });
    expect(ready(k)?.message).toContain('missing.yaml');
    expect(findCondition(k?.status?.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ProgressingWithRetry' });
    expect(k?.status?.lastAppliedRevision).toBeUndefined();
    expect(harness.eventsOf(ns, 'ks').at(-1)).toMatchObject({ type: 'Warning', reason: 'BuildFailed' });
    expect(await configMaps(ns)).toEqual([]);
  });

  it('an artifact whose digest does not match: ArtifactFailed, nothing applied; a 404: retry after --requeue-dependency', async () => {
    setup.ready();
    const ns = await namespace();
    const art = await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await setArtifact(client, ns, 'app', { url: art.url, digest: `sha256:${'f'.repeat(64)}`, revision: art.revision });
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'ArtifactFailed' });
    expect(ready(k)?.message).toMatch(/doesn't match/);
    expect(k?.status?.lastAttemptedRevision).toBeUndefined();
    expect(await configMaps(ns)).toEqual([]);

    await setArtifact(client, ns, 'app', { url: `${server.url}/ocirepository/${ns}/app/gone.tar.gz`, digest: art.digest, revision: art.revision });
    const outcome = await harness.reconcile(ns, 'ks');
    expect(outcome.requeueAfterMs).toBe(30_000);
    expect(ready(await harness.get(ns, 'ks'))).toMatchObject({ reason: 'ArtifactFailed', message: 'Source is not ready, artifact not found, retrying in 30s' });
  });

  it('a missing source or artifact, an escaping path, an unsupported decryption spec', async () => {
    setup.ready();
    const ns = await namespace();
    await applyKustomization(client, ns, 'ks', spec({ retryInterval: '2m' }));
    expect((await harness.reconcile(ns, 'ks')).requeueAfterMs).toBe(120_000);
    expect(ready(await harness.get(ns, 'ks'))).toMatchObject({ reason: 'ArtifactFailed', message: 'ocirepositories.source.toolkit.fluxcd.io "app" not found' });

    await createSource(client, ns, 'app');
    expect((await harness.reconcile(ns, 'ks')).requeueAfterMs).toBe(30_000);
    expect(ready(await harness.get(ns, 'ks'))).toMatchObject({ reason: 'ArtifactFailed', message: 'Source artifact not found, retrying in 30s' });

    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ path: '../../etc' }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))).toMatchObject({ reason: 'ArtifactFailed', message: "path '../../etc' leaves the artifact root" });
    await applyKustomization(client, ns, 'ks', spec({ path: './nothing' }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.message).toBe('kustomization path not found: stat ./nothing: no such file or directory');

    await applyKustomization(client, ns, 'ks', spec({ decryption: { provider: 'sops' } }));
    const outcome = await harness.reconcile(ns, 'ks');
    expect(outcome.requeueAfterMs).toBeUndefined();
    const k = await harness.get(ns, 'ks');
    expect(findCondition(k?.status?.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'DecryptionNotSupported' });
    expect(ready(k)?.message).toMatch(/spec\.decryption \(SOPS\) is not supported/);
    expect(await configMaps(ns)).toEqual([]);
    // Fixed: Stalled goes, the revision is applied.
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    const fixed = await harness.get(ns, 'ks');
    expect(findCondition(fixed?.status?.conditions, 'Stalled')).toBeUndefined();
    expect(ready(fixed)?.status).toBe('True');
  });

  it('waits for a Deployment to become Available (kwok): Healthy True', async () => {
    setup.ready();
    const ns = await namespace();
    const deployment = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      `  namespace: ${ns}`,
      'spec:',
      '  replicas: 1',
      '  selector:',
      '    matchLabels: {app: web}',
      '  template:',
      '    metadata:',
      '      labels: {app: web}',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: registry.invalid/web:1',
      '',
    ].join('\n');
    const v1 = await publish(ns, { 'deploy.yaml': deployment }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ wait: true, timeout: '2m' }));
    await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)?.message).toBe(`Applied revision: ${v1.revision}`);
    expect(findCondition(k?.status?.conditions, 'Healthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(findCondition(k?.status?.conditions, 'Healthy')?.message).toMatch(/^Health check passed in /);
    expect(harness.eventsOf(ns, 'ks').some((e) => e.message.startsWith('Health check passed in '))).toBe(true);
    const progress = harness.patches
      .filter((p) => p.object === `${ns}/ks`)
      .map((p) => findCondition((p.status as { conditions?: [] }).conditions, 'Reconciling')?.message);
    expect([...new Set(progress)]).toEqual([
      `Fetching manifests for revision ${v1.revision} with a timeout of 2m0s`,
      `Building manifests for revision ${v1.revision} with a timeout of 2m0s`,
      `Detecting drift for revision ${v1.revision} with a timeout of 2m0s`,
      `Running health checks for revision ${v1.revision} with a timeout of 2m0s`,
    ]);
    const d = await kubectlJson<{ status: { conditions: Array<{ type: string; status: string }> } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'web']);
    expect(d.status.conditions.find((c) => c.type === 'Available')?.status).toBe('True');
  });

  it('deletion: prune true removes what it owns (not what it does not); deletionPolicy Orphan keeps it', async () => {
    setup.ready();
    const ns = await namespace();
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }), 'b.yaml': configMap(ns, 'b', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    await kubectl(kubeconfig, ['-n', ns, 'label', 'configmap', 'b', 'kustomize.toolkit.fluxcd.io/name-']);
    await deleteKustomization(client, ns, 'ks');
    const outcome = await harness.reconcile(ns, 'ks');
    expect(outcome.finalizer).toBe('remove');
    expect(await harness.get(ns, 'ks')).toBeUndefined();
    expect((await configMaps(ns)).map((c) => c.metadata.name)).toEqual(['b']);
    expect(harness.eventsOf(ns, 'ks').at(-1)?.message.split('\n').sort()).toEqual([`ConfigMap/${ns}/a deleted`, `ConfigMap/${ns}/b skipped`]);

    await publish(ns, { 'c.yaml': configMap(ns, 'c', { k: '1' }) }, 'v2');
    await applyKustomization(client, ns, 'orphan', spec({ deletionPolicy: 'Orphan' }));
    await harness.reconcile(ns, 'orphan');
    await deleteKustomization(client, ns, 'orphan');
    expect((await harness.reconcile(ns, 'orphan')).finalizer).toBe('remove');
    expect(await harness.get(ns, 'orphan')).toBeUndefined();
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['b', 'c']);

    await publish(ns, { 'w.yaml': configMap(ns, 'w', { k: '1' }) }, 'v3');
    await applyKustomization(client, ns, 'waiting', spec({ prune: false, deletionPolicy: 'WaitForTermination' }));
    await harness.reconcile(ns, 'waiting');
    await deleteKustomization(client, ns, 'waiting');
    expect((await harness.reconcile(ns, 'waiting')).finalizer).toBe('remove');
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['b', 'c']);
    expect(harness.eventsOf(ns, 'waiting').at(-1)?.message).toBe(`ConfigMap/${ns}/w deleted`);
  });

  it('targetNamespace puts unnamespaced objects in it; without it they fail as Flux fails them', async () => {
    setup.ready();
    const ns = await namespace();
    const plain = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: plain', 'data:', '  k: "1"', ''].join('\n');
    const v1 = await publish(ns, { 'cm.yaml': plain }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ targetNamespace: ns, namePrefix: 'p-' }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.message).toBe(`Applied revision: ${v1.revision}`);
    expect((await configMaps(ns)).map((c) => c.metadata.name)).toEqual(['p-plain']);
    expect((await harness.get(ns, 'ks'))?.status?.inventory?.entries).toEqual([{ id: `${ns}_p-plain__ConfigMap`, v: 'v1' }]);

    await applyKustomization(client, ns, 'bare', spec());
    await harness.reconcile(ns, 'bare');
    const k = await harness.get(ns, 'bare');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'ReconciliationFailed' });
    expect(ready(k)?.message).toMatch(/^ConfigMap\/plain namespace not specified/);
  });

  it('an object the API server refuses: ReconciliationFailed naming it, the old inventory kept, history of the failure', async () => {
    setup.ready();
    const ns = await namespace();
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ retryInterval: '45s' }));
    await harness.reconcile(ns, 'ks');
    const bad = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: bad', `  namespace: ${ns}`, 'spec:', '  ports:', '    - port: 99999', ''].join('\n');
    await publish(ns, { 'b.yaml': configMap(ns, 'b', { k: '1' }), 'bad.yaml': bad }, 'v2');
    const outcome = await harness.reconcile(ns, 'ks');
    expect(outcome.requeueAfterMs).toBe(45_000);
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'ReconciliationFailed' });
    expect(ready(k)?.message).toContain(`Service/${ns}/bad`);
    expect(k?.status?.inventory?.entries.map((e) => e.id)).toContain(`${ns}_a__ConfigMap`);
    expect(k?.status?.history?.map((h) => h.lastReconciledStatus)).toEqual(['ReconciliationFailed', 'ReconciliationSucceeded']);
    expect(harness.eventsOf(ns, 'ks').at(-1)).toMatchObject({ type: 'Warning', reason: 'ReconciliationFailed' });
    // Fixed in the next revision: a is pruned even though the failed run never recorded b alone.
    await publish(ns, { 'b.yaml': configMap(ns, 'b', { k: '1' }) }, 'v3');
    await harness.reconcile(ns, 'ks');
    expect((await configMaps(ns)).map((c) => c.metadata.name)).toEqual(['b']);
    expect((await harness.get(ns, 'ks'))?.status?.inventory?.entries).toEqual([{ id: `${ns}_b__ConfigMap`, v: 'v1' }]);
  });

  it('a failing health check: HealthCheckFailed at once (fail-fast), Healthy False', async () => {
    setup.ready();
    const ns = await namespace();
    await createSource(client, ns, 'broken');
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await client.request({
      method: 'PATCH',
      path: `/apis/source.toolkit.fluxcd.io/v1/namespaces/${ns}/ocirepositories/broken/status`,
      query: { fieldManager: 'test', force: true },
      body: { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', metadata: { name: 'broken', namespace: ns }, status: { observedGeneration: 1, conditions: [{ type: 'Stalled', status: 'True', reason: 'Broken', message: 'it is broken', lastTransitionTime: now }] } },
      contentType: 'application/apply-patch+yaml',
      what: 'stalling',
    });
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ timeout: '5m', healthChecks: [{ apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', name: 'broken', namespace: ns }] }));
    const outcome = await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'HealthCheckFailed' });
    expect(ready(k)?.message).toContain('it is broken');
    expect(findCondition(k?.status?.conditions, 'Healthy')).toMatchObject({ status: 'False', reason: 'HealthCheckFailed' });
    expect(k?.status?.lastAppliedRevision).toBeUndefined();
    expect(outcome.requeueAfterMs).toBe(600_000);
    expect(harness.eventsOf(ns, 'ks').at(-1)?.message).toMatch(/^health check failed after .+: /);
  });

  it('serviceAccountName: applied as the service account (impersonation); forbidden without its RBAC', async () => {
    setup.ready();
    const ns = await namespace();
    await kubectl(kubeconfig, ['-n', ns, 'create', 'serviceaccount', 'deployer']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'serviceaccount', 'nobody']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'role', 'configmaps', '--verb=get,list,watch,create,update,patch,delete', '--resource=configmaps']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'rolebinding', 'deployer', '--role=configmaps', `--serviceaccount=${ns}:deployer`]);
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'denied', spec({ serviceAccountName: 'nobody' }));
    await harness.reconcile(ns, 'denied');
    const denied = await harness.get(ns, 'denied');
    expect(ready(denied)).toMatchObject({ status: 'False', reason: 'ReconciliationFailed' });
    expect(ready(denied)?.message).toMatch(/forbidden/i);
    expect(await configMaps(ns)).toEqual([]);

    await applyKustomization(client, ns, 'ks', spec({ serviceAccountName: 'deployer' }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.status).toBe('True');
    const live = await kubectlJson<{ metadata: { managedFields: Array<{ manager: string }> } }>(kubeconfig, ['-n', ns, 'get', 'configmap', 'a', '--show-managed-fields']);
    expect(live.metadata.managedFields.map((f) => f.manager)).toEqual(['kustomize-controller']);
  });

  it('suspend: nothing done; requestedAt is echoed in lastHandledReconcileAt; temporary directories are removed', async () => {
    setup.ready();
    const ns = await namespace();
    const work = tempDir('ks-work-');
    dirs.push(work);
    const own = new Harness(client, createKustomizationReconciler({ tmpDir: work, httpRetry: 0 }));
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ suspend: true }));
    const outcome = await own.reconcile(ns, 'ks');
    expect(outcome.requeueAfterMs).toBeUndefined();
    expect(await configMaps(ns)).toEqual([]);
    expect(own.eventsOf(ns, 'ks')).toEqual([]);

    await applyKustomization(client, ns, 'ks', spec());
    await kubectl(kubeconfig, ['-n', ns, 'annotate', 'kustomizations.kustomize.toolkit.fluxcd.io', 'ks', 'reconcile.fluxcd.io/requestedAt=now-1']);
    await own.reconcile(ns, 'ks');
    const k = await own.get(ns, 'ks');
    expect(k?.status?.lastHandledReconcileAt).toBe('now-1');
    expect(ready(k)?.status).toBe('True');
    expect(readdirSync(work)).toEqual([]);
    // A failed fetch leaves nothing behind either.
    await setArtifact(client, ns, 'app', { url: `${server.url}/nothing`, digest: `sha256:${'1'.repeat(64)}`, revision: 'v9@sha256:1' });
    await own.reconcile(ns, 'ks');
    expect(readdirSync(work)).toEqual([]);
  });

  it('watches: an artifact revision change maps to the Kustomizations of that source not already on it', () => {
    setup.ready();
    const reconciler = createKustomizationReconciler();
    const ks = (name: string, ns: string, source: Record<string, unknown>, status: Record<string, unknown> = {}) => ({ apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name, namespace: ns }, spec: { sourceRef: source }, status });
    const done = { lastAttemptedRevision: 'v2', conditions: [{ type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: '', lastTransitionTime: '' }] };
    const items = [
      ks('same', 'a', { kind: 'OCIRepository', name: 'app' }),
      ks('cross', 'b', { kind: 'OCIRepository', name: 'app', namespace: 'a' }),
      ks('uptodate', 'a', { kind: 'OCIRepository', name: 'app' }, done),
      ks('other-kind', 'a', { kind: 'GitRepository', name: 'app' }),
      ks('other-ns', 'b', { kind: 'OCIRepository', name: 'app' }),
    ];
    const cache = { get: () => undefined, list: () => items };
    const oci = reconciler.watches?.find((w) => w.kind.kind === 'OCIRepository');
    const source = { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', metadata: { name: 'app', namespace: 'a' }, status: { artifact: { revision: 'v2' } } };
    expect(oci?.map(source, cache as never)).toEqual([{ namespace: 'a', name: 'same' }, { namespace: 'b', name: 'cross' }]);
    expect(oci?.map({ ...source, status: {} }, cache as never)).toEqual([]);
    expect(reconciler.watches?.map((w) => w.kind.kind)).toEqual(['OCIRepository', 'GitRepository', 'Bucket']);
  });

  it('a SOPS-encrypted Secret fails the apply without its content in status or events; spec.ignore is refused, not ignored', async () => {
    setup.ready();
    const ns = await namespace();
    const secret = ['apiVersion: v1', 'kind: Secret', 'metadata:', '  name: creds', `  namespace: ${ns}`, 'stringData:', '  password: ENC[AES256_GCM,data:c2VjcmV0LXZhbHVl]', 'sops:', '  version: 3.9.0', ''].join('\n');
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }), 'secret.yaml': secret }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'ReconciliationFailed', message: `Secret/${ns}/creds is SOPS encrypted, configuring decryption is required for this secret to be reconciled` });
    expect(JSON.stringify(k?.status)).not.toContain('c2VjcmV0LXZhbHVl');
    expect(JSON.stringify(harness.eventsOf(ns, 'ks'))).not.toContain('c2VjcmV0LXZhbHVl');
    expect(await configMaps(ns)).toEqual([]);

    await applyKustomization(client, ns, 'ignoring', spec({ ignore: [{ paths: ['/spec/replicas'] }] }));
    await harness.reconcile(ns, 'ignoring');
    const ignoring = await harness.get(ns, 'ignoring');
    expect(findCondition(ignoring?.status?.conditions, 'Stalled')).toMatchObject({ status: 'True', reason: 'DriftIgnoreNotSupported' });
  });

  it('an immutable field changed: ReconciliationFailed; with spec.force the object is re-created', async () => {
    setup.ready();
    const ns = await namespace();
    const immutable = (v: string) => `${configMap(ns, 'frozen', { k: v })}immutable: true\n`;
    await publish(ns, { 'cm.yaml': immutable('1') }, 'v1');
    await applyKustomization(client, ns, 'ks', spec());
    await harness.reconcile(ns, 'ks');
    await publish(ns, { 'cm.yaml': immutable('2') }, 'v2');
    await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'ReconciliationFailed' });
    expect(ready(k)?.message).toMatch(/immutable/);
    expect((await configMaps(ns))[0]?.data).toEqual({ k: '1' });

    await applyKustomization(client, ns, 'ks', spec({ force: true }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.status).toBe('True');
    expect((await configMaps(ns))[0]?.data).toEqual({ k: '2' });
  });

  it('a prune the API server refuses: PruneFailed, the survivor stays in the inventory and is pruned once allowed', async () => {
    setup.ready();
    const ns = await namespace();
    await kubectl(kubeconfig, ['-n', ns, 'create', 'serviceaccount', 'deployer']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'role', 'no-delete', '--verb=get,list,watch,create,update,patch', '--resource=configmaps']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'rolebinding', 'deployer', '--role=no-delete', `--serviceaccount=${ns}:deployer`]);
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }), 'b.yaml': configMap(ns, 'b', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ serviceAccountName: 'deployer' }));
    await harness.reconcile(ns, 'ks');
    await publish(ns, { 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v2');
    await harness.reconcile(ns, 'ks');
    const k = await harness.get(ns, 'ks');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'PruneFailed' });
    expect(ready(k)?.message).toMatch(/forbidden/i);
    expect(k?.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_a__ConfigMap`, `${ns}_b__ConfigMap`]);
    expect(k?.status?.history?.[0]?.lastReconciledStatus).toBe('PruneFailed');
    expect((await configMaps(ns)).map((c) => c.metadata.name).sort()).toEqual(['a', 'b']);

    // Deleting the Kustomization cannot delete either: the finalizer stays, the failure is an event.
    await deleteKustomization(client, ns, 'ks');
    const blocked = await harness.reconcile(ns, 'ks');
    expect(blocked.error?.message).toMatch(/forbidden/i);
    expect(blocked.finalizer).toBeUndefined();
    expect(harness.eventsOf(ns, 'ks').at(-1)).toMatchObject({ type: 'Warning', message: 'pruning for deleted resource failed' });

    await kubectl(kubeconfig, ['-n', ns, 'create', 'role', 'delete', '--verb=delete', '--resource=configmaps']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'rolebinding', 'deployer-delete', '--role=delete', `--serviceaccount=${ns}:deployer`]);
    expect((await harness.reconcile(ns, 'ks')).finalizer).toBe('remove');
    expect(await configMaps(ns)).toEqual([]);
  });

  it('postBuild substitutes variables from spec and from a ConfigMap read with the controller\'s client', async () => {
    setup.ready();
    const ns = await namespace();
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'vars', '--from-literal=colour=blue']);
    const cm = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: settings', `  namespace: ${ns}`, 'data:', '  colour: ${colour}', '  size: ${size:=small}', '  env: ${env}', ''].join('\n');
    await publish(ns, { 'cm.yaml': cm }, 'v1');
    await applyKustomization(client, ns, 'ks', spec({ postBuild: { substitute: { env: 'prod' }, substituteFrom: [{ kind: 'ConfigMap', name: 'vars' }] } }));
    await harness.reconcile(ns, 'ks');
    expect(ready(await harness.get(ns, 'ks'))?.status).toBe('True');
    const settings = (await configMaps(ns)).find((c) => c.metadata.name === 'settings');
    expect(settings?.data).toEqual({ colour: 'blue', size: 'small', env: 'prod' });
  });

  it('--no-cross-namespace-refs and ExternalArtifact: AccessDenied, Stalled, no requeue', async () => {
    setup.ready();
    const ns = await namespace();
    const strict = new Harness(client, createKustomizationReconciler({ noCrossNamespaceRefs: true }));
    await applyKustomization(client, ns, 'cross', spec({ sourceRef: { kind: 'OCIRepository', name: 'app', namespace: 'elsewhere' } }));
    const outcome = await strict.reconcile(ns, 'cross');
    expect(outcome.requeueAfterMs).toBeUndefined();
    const k = await strict.get(ns, 'cross');
    expect(ready(k)).toMatchObject({ status: 'False', reason: 'AccessDenied', message: `can't access 'OCIRepository/elsewhere/app', cross-namespace references have been blocked` });
    expect(findCondition(k?.status?.conditions, 'Stalled')?.status).toBe('True');
    expect(strict.eventsOf(ns, 'cross').at(-1)).toMatchObject({ type: 'Warning', reason: 'AccessDenied' });

    await applyKustomization(client, ns, 'external', spec({ sourceRef: { kind: 'ExternalArtifact', name: 'app' } }));
    await strict.reconcile(ns, 'external');
    expect(ready(await strict.get(ns, 'external'))?.message).toBe(`can't access 'ExternalArtifact/${ns}/app', ExternalArtifact feature gate is disabled`);
  });
});
