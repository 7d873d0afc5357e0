// lading's controller beside Flux's own controllers (source-controller and kustomize-controller
// v1.9.5, test/env/flux-controllers.ts) on a private cluster that holds Flux's own CRDs (from
// Flux's Go modules, not lading's), as a cluster migrating from Flux has them:
// - Flux's source-controller produces a GitRepository; lading's Kustomization applies its
//   artifact (fetched from status.artifact.url, digest verified), follows a new commit, prunes;
// - lading's OCIRepository is consumed by Flux's kustomize-controller (each sharded with
//   --watch-label-selector): Flux fetches lading's artifact from lading's artifact server and
//   verifies its digest, so lading stores and serves artifacts as source-controller does; and
//   the other way round, lading's Kustomization on the OCIRepository of Flux's source-controller;
// - migration: objects reconciled by Flux, then Flux stopped and lading started on the same
//   objects: nothing is recreated, the inventory is taken over (a dropped object is pruned), and
//   Flux's finalizers are handled on deletion; and back (objects of lading adopted by Flux).
// Bucket sources are in flux-interop-bucket.test.ts (an S3 server of the test environment).
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { installFluxCrds, startFluxControllers, startGitServer, type GitServer, type RunningFluxControllers } from '../env/flux-controllers.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { waitFor } from '../env/process.js';
import { deferredSetup, kubectl, tempDir } from '../kube/helpers.js';
import { startLadingController, type LadingController } from './controller-process.js';
import {
  applyObjects,
  cond,
  configMap,
  deployment,
  fluxPush,
  getObject,
  readyTrue,
  requestReconcile,
  waitGone,
  waitObject,
  type FluxObject,
  type PlainObject,
} from './flux-interop-helpers.js';

const Finalizer = 'finalizers.fluxcd.io';
const NameLabel = 'kustomize.toolkit.fluxcd.io/name';
const NamespaceLabel = 'kustomize.toolkit.fluxcd.io/namespace';
const ShardLabel = 'sharding.fluxcd.io/key';
/** The origin revision fluxPush records (`flux push artifact --revision`). */
const Origin = `main@sha1:${'c'.repeat(40)}`;

describe("lading's controller and Flux's own controllers on a cluster with Flux's CRDs", () => {
  const setup = deferredSetup();
  let cluster: RunningCluster;
  let registry: RunningRegistry;
  let git: GitServer;
  let work: string;
  let kubeconfig: string;
  // What runs in the current test, for the logs quoted on timeouts and for afterAll.
  let lading: LadingController | undefined;
  let flux: RunningFluxControllers | undefined;

  const logs = (): string =>
    [
      `--- lading controller ---\n${lading?.log().slice(-6000) ?? '(not running)'}`,
      `--- source-controller ---\n${flux?.readLog('source').slice(-3000) ?? '(not running)'}`,
      `--- kustomize-controller ---\n${flux?.readLog('kustomize').slice(-3000) ?? '(not running)'}`,
    ].join('\n');
  const wait = (ns: string, resource: string, name: string, what: string, check: (o: FluxObject) => boolean): Promise<FluxObject> =>
    waitObject(kubeconfig, ns, resource, name, what, check, logs);
  const plain = (ns: string, resource: string, name: string): Promise<PlainObject | undefined> => getObject<PlainObject>(kubeconfig, ns, resource, name);
  const stopAll = async (): Promise<void> => {
    await lading?.stop();
    lading = undefined;
    await flux?.stop();
    flux = undefined;
  };

  beforeAll(() =>
    setup.run(async () => {
      work = tempDir('lading-flux-interop-');
      cluster = await startCluster({ nodes: 1 });
      kubeconfig = cluster.kubeconfig;
      registry = await startRegistry();
      git = await startGitServer();
      // Flux's own CRDs (config/crd/bases of source-controller and kustomize-controller v1.9.5):
      // lading's are never installed on this cluster.
      await installFluxCrds(kubeconfig);
    }),
  );

  afterAll(async () => {
    await stopAll();
    await git?.stop();
    await registry?.stop();
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the cluster serves Flux's CRDs, not lading's", async () => {
    setup.ready();
    const crd = JSON.parse((await kubectl(kubeconfig, ['get', 'crd', 'kustomizations.kustomize.toolkit.fluxcd.io', '-o', 'json', '--show-managed-fields'])).stdout) as {
      metadata: { labels?: Record<string, string>; managedFields?: Array<{ manager?: string }> };
      spec: { versions: Array<{ name: string; served: boolean; storage: boolean }> };
    };
    expect(crd.metadata.managedFields?.map((f) => f.manager)).toContain('lading-testenv-flux-crds');
    expect(crd.spec.versions.find((v) => v.storage)?.name).toBe('v1');
    const all = (await kubectl(kubeconfig, ['get', 'crd', '-o', 'name'])).stdout;
    for (const name of ['gitrepositories', 'buckets', 'ocirepositories', 'helmrepositories', 'helmcharts']) {
      expect(all).toContain(`${name}.source.toolkit.fluxcd.io`);
    }
  });

  it("a Kustomization of lading applies a GitRepository produced by Flux's source-controller, follows a new commit and prunes", async () => {
    setup.ready();
    const ns = 'interop-git';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      // Only Flux's source-controller: nothing but lading reconciles Kustomizations.
      flux = await startFluxControllers({ kubeconfig, which: ['source'], installCrds: false, logLevel: 'info' });
      lading = await startLadingController({ kubeconfig });
      const first = await git.commit('app', {
        'deploy/configmap.yaml': configMap('app-config', ns, { greeting: 'hello from git' }),
        'deploy/deployment.yaml': deployment('web', ns),
        'README.md': 'not applied\n',
      });
      await applyObjects(kubeconfig, [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'GitRepository',
          metadata: { name: 'app', namespace: ns },
          spec: { url: git.repoUrl('app'), ref: { branch: 'main' }, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: ns },
          spec: { sourceRef: { kind: 'GitRepository', name: 'app' }, path: './deploy', prune: true, interval: '10m' },
        },
      ]);

      const source = await wait(ns, 'gitrepository', 'app', 'Ready (source-controller)', readyTrue);
      expect(source.status?.artifact?.revision).toBe(`main@sha1:${first}`);
      expect(source.status?.artifact?.url.startsWith(`${flux.sourceStorageUrl ?? '?'}/gitrepository/${ns}/app/`)).toBe(true);

      const ks = await wait(ns, 'kustomization', 'app', `Ready at main@sha1:${first}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `main@sha1:${first}`);
      expect(cond(ks, 'Ready')?.reason).toBe('ReconciliationSucceeded');
      expect(ks.status?.lastAttemptedRevision).toBe(`main@sha1:${first}`);
      expect(ks.metadata.finalizers).toContain(Finalizer);
      expect(ks.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_app-config__ConfigMap`, `${ns}_web_apps_Deployment`]);
      // The status was written by lading (its logs name the object), not by a Flux controller.
      expect(lading.log()).toContain(`main@sha1:${first}`);

      const cm = await plain(ns, 'configmap', 'app-config');
      expect(cm?.data?.['greeting']).toBe('hello from git');
      const web = await plain(ns, 'deployment', 'web');
      for (const o of [cm, web]) {
        expect(o?.metadata.labels?.[NameLabel]).toBe('app');
        expect(o?.metadata.labels?.[NamespaceLabel]).toBe(ns);
        expect(o?.metadata.managedFields?.some((f) => f.manager === 'kustomize-controller' && f.operation === 'Apply')).toBe(true);
      }
      const cmUid = cm?.metadata.uid;

      // lading verifies what source-controller serves against status.artifact.digest: a digest
      // that does not match (status written by someone else than source-controller, which only
      // reconciles on spec changes and requests) is refused, and nothing is applied.
      const forged = `sha256:${'0'.repeat(64)}`;
      await kubectl(kubeconfig, ['-n', ns, 'patch', 'gitrepository', 'app', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { artifact: { digest: forged } } })]);
      const refusedAt = await requestReconcile(kubeconfig, ns, 'kustomization', 'app');
      const refused = await wait(ns, 'kustomization', 'app', 'the forged digest refused', (o) => o.status?.lastHandledReconcileAt === refusedAt && cond(o, 'Ready')?.status === 'False');
      expect(cond(refused, 'Ready')?.reason).toBe('ArtifactFailed');
      expect(cond(refused, 'Ready')?.message).toContain(forged);
      expect(refused.status?.lastAppliedRevision).toBe(`main@sha1:${first}`);
      expect((await plain(ns, 'configmap', 'app-config'))?.data?.['greeting']).toBe('hello from git');

      // A new commit: the ConfigMap changes, the Deployment is dropped. requestedAt hurries Flux.
      const second = await git.commit('app', { 'deploy/configmap.yaml': configMap('app-config', ns, { greeting: 'hello again' }) });
      await requestReconcile(kubeconfig, ns, 'gitrepository', 'app');
      await wait(ns, 'gitrepository', 'app', `artifact at main@sha1:${second}`, (o) => readyTrue(o) && o.status?.artifact?.revision === `main@sha1:${second}`);
      const ks2 = await wait(ns, 'kustomization', 'app', `Ready at main@sha1:${second}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `main@sha1:${second}`);
      expect(ks2.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_app-config__ConfigMap`]);
      const cm2 = await plain(ns, 'configmap', 'app-config');
      expect(cm2?.data?.['greeting']).toBe('hello again');
      expect(cm2?.metadata.uid).toBe(cmUid);
      expect(await plain(ns, 'deployment', 'web')).toBeUndefined();

      // Deleting the Kustomization prunes what it applied; lading removes its finalizer.
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'kustomization', 'app', logs);
      expect(await plain(ns, 'configmap', 'app-config')).toBeUndefined();
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'gitrepository', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'gitrepository', 'app', logs);
    } finally {
      await stopAll();
    }
  }, 600_000);

  it("Flux's kustomize-controller applies the artifact of lading's OCIRepository, fetched from lading's artifact server", async () => {
    setup.ready();
    const ns = 'interop-oci';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      const repo = `${registry.host}/interop/oci-app`;
      const v1 = await fluxPush(`${repo}:v1`, { 'configmap.yaml': configMap('from-lading', undefined, { version: 'v1' }) }, work);
      const v2 = await fluxPush(`${repo}:v2`, { 'configmap.yaml': configMap('from-lading', undefined, { version: 'v2' }) }, work);

      // Two shards: lading reconciles the objects labelled for it (its OCIRepository), Flux's
      // kustomize-controller those labelled for Flux (its Kustomization). No source-controller.
      lading = await startLadingController({ kubeconfig, args: [`--watch-label-selector=${ShardLabel}=lading`] });
      flux = await startFluxControllers({
        kubeconfig,
        which: ['kustomize'],
        installCrds: false,
        logLevel: 'info',
        args: { kustomize: [`--watch-label-selector=${ShardLabel}=flux`] },
      });
      await applyObjects(kubeconfig, [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'OCIRepository',
          metadata: { name: 'app', namespace: ns, labels: { [ShardLabel]: 'lading' } },
          spec: { url: `oci://${repo}`, ref: { tag: 'v1' }, insecure: true, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: ns, labels: { [ShardLabel]: 'flux' } },
          spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', prune: true, interval: '10m', targetNamespace: ns },
        },
      ]);

      const source = await wait(ns, 'ocirepository', 'app', 'Ready (lading)', (o) => readyTrue(o) && o.status?.artifact?.revision === `v1@${v1}`);
      expect(source.status?.artifact?.url.startsWith(`${lading.storageUrl}/ocirepository/${ns}/app/`)).toBe(true);
      expect(source.status?.url).toBe(`${lading.storageUrl}/ocirepository/${ns}/app/latest.tar.gz`);

      // Flux's kustomize-controller has no other source of this revision than lading's server.
      const ks = await wait(ns, 'kustomization', 'app', `Ready at v1@${v1} (Flux)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v1@${v1}`);
      expect(cond(ks, 'Ready')?.reason).toBe('ReconciliationSucceeded');
      expect(ks.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_from-lading__ConfigMap`]);
      const cm = await plain(ns, 'configmap', 'from-lading');
      expect(cm?.data?.['version']).toBe('v1');
      expect(cm?.metadata.labels?.[NameLabel]).toBe('app');
      // Flux's kustomize-controller applied it (its log names the revision), with the origin
      // revision lading's artifact carries from the OCI annotations (`flux push --revision`).
      expect(flux.readLog('kustomize')).toContain(`v1@${v1}`);
      expect(ks.status?.lastAppliedOriginRevision).toBe(Origin);
      // What lading serves at status.artifact.url and status.url is the tarball of the digest.
      for (const url of [source.status?.artifact?.url, source.status?.url]) {
        const res = await fetch(url ?? '');
        expect(res.status).toBe(200);
        expect(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`).toBe(source.status?.artifact?.digest);
      }

      // A new revision of lading's source is followed by Flux's kustomize-controller.
      await kubectl(kubeconfig, ['-n', ns, 'patch', 'ocirepository', 'app', '--type=merge', '-p', JSON.stringify({ spec: { ref: { tag: 'v2' } } })]);
      const source2 = await wait(ns, 'ocirepository', 'app', `artifact at v2@${v2}`, (o) => readyTrue(o) && o.status?.artifact?.revision === `v2@${v2}`);
      expect(source2.status?.artifact?.url.startsWith(`${lading.storageUrl}/`)).toBe(true);
      await wait(ns, 'kustomization', 'app', `Ready at v2@${v2} (Flux)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v2@${v2}`);
      expect((await plain(ns, 'configmap', 'from-lading'))?.data?.['version']).toBe('v2');

      // Each removes its own finalizer.
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'kustomization', 'app', logs);
      expect(await plain(ns, 'configmap', 'from-lading')).toBeUndefined();
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'ocirepository', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'ocirepository', 'app', logs);
    } finally {
      await stopAll();
    }
  }, 600_000);

  // As Flux shards: kustomize-controller's --watch-label-selector filters Kustomizations only
  // (its cache of sources is not filtered), so a Kustomization of one shard may use a source that
  // another shard (here Flux's source-controller) reconciles.
  it("lading's Kustomization applies the OCIRepository of Flux's source-controller, each sharded with --watch-label-selector", async () => {
    setup.ready();
    const ns = 'interop-oci-flux';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      const repo = `${registry.host}/interop/flux-app`;
      const v1 = await fluxPush(`${repo}:v1`, { 'configmap.yaml': configMap('from-flux', undefined, { version: 'v1' }) }, work);
      const v2 = await fluxPush(`${repo}:v2`, { 'configmap.yaml': configMap('from-flux', undefined, { version: 'v2' }), 'extra.yaml': configMap('extra', undefined, { a: 'b' }) }, work);

      lading = await startLadingController({ kubeconfig, args: [`--watch-label-selector=${ShardLabel}=lading`] });
      flux = await startFluxControllers({
        kubeconfig,
        which: ['source'],
        installCrds: false,
        logLevel: 'info',
        args: { source: [`--watch-label-selector=${ShardLabel}=flux`] },
      });
      await applyObjects(kubeconfig, [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'OCIRepository',
          metadata: { name: 'app', namespace: ns, labels: { [ShardLabel]: 'flux' } },
          spec: { url: `oci://${repo}`, ref: { tag: 'v1' }, insecure: true, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: ns, labels: { [ShardLabel]: 'lading' } },
          spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', prune: true, interval: '10m', targetNamespace: ns },
        },
      ]);

      const source = await wait(ns, 'ocirepository', 'app', 'Ready (source-controller)', (o) => readyTrue(o) && o.status?.artifact?.revision === `v1@${v1}`);
      expect(source.status?.artifact?.url.startsWith(`${flux.sourceStorageUrl ?? '?'}/ocirepository/${ns}/app/`)).toBe(true);
      expect(source.status?.artifact?.metadata?.['org.opencontainers.image.revision']).toBe(Origin);
      const ks = await wait(ns, 'kustomization', 'app', `Ready at v1@${v1} (lading)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v1@${v1}`);
      expect(ks.status?.lastAppliedOriginRevision).toBe(Origin);
      expect((await plain(ns, 'configmap', 'from-flux'))?.data?.['version']).toBe('v1');
      expect(lading.log()).toContain(`v1@${v1}`);

      await kubectl(kubeconfig, ['-n', ns, 'patch', 'ocirepository', 'app', '--type=merge', '-p', JSON.stringify({ spec: { ref: { tag: 'v2' } } })]);
      const ks2 = await wait(ns, 'kustomization', 'app', `Ready at v2@${v2} (lading)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v2@${v2}`);
      expect(ks2.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_extra__ConfigMap`, `${ns}_from-flux__ConfigMap`]);
      expect((await plain(ns, 'configmap', 'from-flux'))?.data?.['version']).toBe('v2');

      await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'kustomization', 'app', logs);
      expect(await plain(ns, 'configmap', 'extra')).toBeUndefined();
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'ocirepository', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'ocirepository', 'app', logs);
    } finally {
      await stopAll();
    }
  }, 600_000);

  it('migration: objects reconciled by Flux are adopted by lading — nothing recreated, inventory taken over, finalizers handled', async () => {
    setup.ready();
    const ns = 'interop-migrate';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      const repo = `${registry.host}/interop/migrate`;
      const v1 = await fluxPush(`${repo}:v1`, {
        'keep.yaml': configMap('keep', undefined, { version: 'v1' }),
        'drop.yaml': configMap('drop', undefined, { version: 'v1' }),
        'web.yaml': deployment('web', ns),
      }, work);
      const v2 = await fluxPush(`${repo}:v2`, {
        'keep.yaml': configMap('keep', undefined, { version: 'v2' }),
        'web.yaml': deployment('web', ns),
      }, work);

      // 1. Flux's own controllers reconcile the objects.
      flux = await startFluxControllers({ kubeconfig, installCrds: false, logLevel: 'info' });
      await applyObjects(kubeconfig, [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'OCIRepository',
          metadata: { name: 'app', namespace: ns },
          spec: { url: `oci://${repo}`, ref: { tag: 'v1' }, insecure: true, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: ns },
          spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', prune: true, interval: '10m', targetNamespace: ns },
        },
      ]);
      const fluxSource = await wait(ns, 'ocirepository', 'app', 'Ready (Flux)', (o) => readyTrue(o) && o.status?.artifact?.revision === `v1@${v1}`);
      expect(fluxSource.status?.artifact?.url.startsWith(`${flux.sourceStorageUrl ?? '?'}/`)).toBe(true);
      const fluxKs = await wait(ns, 'kustomization', 'app', `Ready at v1@${v1} (Flux)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v1@${v1}`);
      expect(fluxSource.metadata.finalizers).toContain(Finalizer);
      expect(fluxKs.metadata.finalizers).toContain(Finalizer);
      const inventory = fluxKs.status?.inventory?.entries.map((e) => e.id).sort();
      expect(inventory).toEqual([`${ns}_drop__ConfigMap`, `${ns}_keep__ConfigMap`, `${ns}_web_apps_Deployment`]);
      const uids: Record<string, string | undefined> = {
        keep: (await plain(ns, 'configmap', 'keep'))?.metadata.uid,
        drop: (await plain(ns, 'configmap', 'drop'))?.metadata.uid,
        web: (await plain(ns, 'deployment', 'web'))?.metadata.uid,
      };
      for (const uid of Object.values(uids)) expect(uid).toMatch(/^[0-9a-f-]{36}$/);
      const managers = async (): Promise<string[]> =>
        ((await plain(ns, 'configmap', 'keep'))?.metadata.managedFields ?? []).map((f) => `${f.manager ?? ''}/${f.operation ?? ''}`).sort();
      const fluxManagers = await managers();
      expect(fluxManagers).toEqual(['kustomize-controller/Apply']);

      // 2. Flux stopped, lading started on the same objects.
      await flux.stop();
      flux = undefined;
      lading = await startLadingController({ kubeconfig });
      // lading stores the same revision in its own storage and serves it.
      const sourceAt = await requestReconcile(kubeconfig, ns, 'ocirepository', 'app');
      const ladingSource = await wait(
        ns,
        'ocirepository',
        'app',
        "artifact in lading's storage",
        (o) => readyTrue(o) && o.status?.lastHandledReconcileAt === sourceAt && (o.status.artifact?.url.startsWith(`${lading?.storageUrl ?? '?'}/`) ?? false),
      );
      expect(ladingSource.status?.artifact?.revision).toBe(`v1@${v1}`);
      expect(ladingSource.metadata.uid).toBe(fluxSource.metadata.uid);
      const ksAt = await requestReconcile(kubeconfig, ns, 'kustomization', 'app');
      const adopted = await wait(ns, 'kustomization', 'app', 'reconciled by lading', (o) => readyTrue(o) && o.status?.lastHandledReconcileAt === ksAt && o.status.lastAppliedRevision === `v1@${v1}`);
      expect(adopted.status?.inventory?.entries.map((e) => e.id).sort()).toEqual(inventory);
      expect(adopted.metadata.finalizers?.filter((f) => f === Finalizer)).toEqual([Finalizer]);
      // Nothing was deleted and recreated.
      expect((await plain(ns, 'configmap', 'keep'))?.metadata.uid).toBe(uids['keep']);
      expect((await plain(ns, 'configmap', 'drop'))?.metadata.uid).toBe(uids['drop']);
      expect((await plain(ns, 'deployment', 'web'))?.metadata.uid).toBe(uids['web']);

      // 3. A new revision under lading: updated in place, the object Flux applied and v2 drops is
      // pruned (Flux's inventory was taken over).
      await kubectl(kubeconfig, ['-n', ns, 'patch', 'ocirepository', 'app', '--type=merge', '-p', JSON.stringify({ spec: { ref: { tag: 'v2' } } })]);
      const ks2 = await wait(ns, 'kustomization', 'app', `Ready at v2@${v2} (lading)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v2@${v2}`);
      expect(ks2.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_keep__ConfigMap`, `${ns}_web_apps_Deployment`]);
      const keep = await plain(ns, 'configmap', 'keep');
      expect(keep?.data?.['version']).toBe('v2');
      expect(keep?.metadata.uid).toBe(uids['keep']);
      expect((await plain(ns, 'deployment', 'web'))?.metadata.uid).toBe(uids['web']);
      expect(await plain(ns, 'configmap', 'drop')).toBeUndefined();
      // lading applied under Flux's field manager: no second owner of the fields.
      expect(await managers()).toEqual(fluxManagers);

      // 4. Deleting under lading: the finalizer Flux added is handled, what was applied is pruned.
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'kustomization', 'app', logs);
      expect(await plain(ns, 'configmap', 'keep')).toBeUndefined();
      expect(await plain(ns, 'deployment', 'web')).toBeUndefined();
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'ocirepository', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'ocirepository', 'app', logs);
    } finally {
      await stopAll();
    }
  }, 600_000);

  it("rollback: objects reconciled by lading are adopted by Flux's own controllers — nothing recreated, inventory taken over", async () => {
    setup.ready();
    const ns = 'interop-rollback';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      const repo = `${registry.host}/interop/rollback`;
      const v1 = await fluxPush(`${repo}:v1`, { 'keep.yaml': configMap('keep', undefined, { version: 'v1' }), 'drop.yaml': configMap('drop', undefined, { version: 'v1' }) }, work);
      const v2 = await fluxPush(`${repo}:v2`, { 'keep.yaml': configMap('keep', undefined, { version: 'v2' }) }, work);

      lading = await startLadingController({ kubeconfig });
      await applyObjects(kubeconfig, [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'OCIRepository',
          metadata: { name: 'app', namespace: ns },
          spec: { url: `oci://${repo}`, ref: { tag: 'v1' }, insecure: true, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: ns },
          spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', prune: true, interval: '10m', targetNamespace: ns },
        },
      ]);
      await wait(ns, 'ocirepository', 'app', 'Ready (lading)', (o) => readyTrue(o) && o.status?.artifact?.revision === `v1@${v1}`);
      const ladingKs = await wait(ns, 'kustomization', 'app', `Ready at v1@${v1} (lading)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v1@${v1}`);
      expect(ladingKs.metadata.finalizers).toContain(Finalizer);
      const uids = { keep: (await plain(ns, 'configmap', 'keep'))?.metadata.uid, drop: (await plain(ns, 'configmap', 'drop'))?.metadata.uid };
      await lading.stop();
      lading = undefined;

      flux = await startFluxControllers({ kubeconfig, installCrds: false, logLevel: 'info' });
      const sourceAt = await requestReconcile(kubeconfig, ns, 'ocirepository', 'app');
      await wait(
        ns,
        'ocirepository',
        'app',
        "artifact in source-controller's storage",
        (o) => readyTrue(o) && o.status?.lastHandledReconcileAt === sourceAt && (o.status.artifact?.url.startsWith(`${flux?.sourceStorageUrl ?? '?'}/`) ?? false),
      );
      const ksAt = await requestReconcile(kubeconfig, ns, 'kustomization', 'app');
      const adopted = await wait(ns, 'kustomization', 'app', 'reconciled by Flux', (o) => readyTrue(o) && o.status?.lastHandledReconcileAt === ksAt && o.status.lastAppliedRevision === `v1@${v1}`);
      expect(adopted.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_drop__ConfigMap`, `${ns}_keep__ConfigMap`]);
      expect((await plain(ns, 'configmap', 'keep'))?.metadata.uid).toBe(uids.keep);
      expect((await plain(ns, 'configmap', 'drop'))?.metadata.uid).toBe(uids.drop);

      // Flux prunes by the inventory lading wrote.
      await kubectl(kubeconfig, ['-n', ns, 'patch', 'ocirepository', 'app', '--type=merge', '-p', JSON.stringify({ spec: { ref: { tag: 'v2' } } })]);
      await wait(ns, 'kustomization', 'app', `Ready at v2@${v2} (Flux)`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `v2@${v2}`);
      const keep = await plain(ns, 'configmap', 'keep');
      expect(keep?.data?.['version']).toBe('v2');
      expect(keep?.metadata.uid).toBe(uids.keep);
      expect(await plain(ns, 'configmap', 'drop')).toBeUndefined();

      await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'kustomization', 'app', logs);
      expect(await plain(ns, 'configmap', 'keep')).toBeUndefined();
      await kubectl(kubeconfig, ['-n', ns, 'delete', 'ocirepository', 'app', '--wait=false']);
      await waitGone(kubeconfig, ns, 'ocirepository', 'app', logs);
    } finally {
      await stopAll();
    }
  }, 600_000);

  // controller-runtime starts a controller's workers once the caches of every kind it watches
  // have synced, so a Kustomization is never reconciled against a source cache still empty. Here
  // lading may not list GitRepositories at first (RBAC), as when that list is merely slow: its
  // Kustomization of a Ready GitRepository must not be failed with "not found" meanwhile.
  it('a restarted lading does not reconcile Kustomizations before the cache of their sources has synced', async () => {
    setup.ready();
    const ns = 'interop-sync';
    try {
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      flux = await startFluxControllers({ kubeconfig, which: ['source'], installCrds: false, logLevel: 'info' });
      lading = await startLadingController({ kubeconfig });
      const sha = await git.commit('sync', { 'deploy/configmap.yaml': configMap('synced', ns, { a: 'b' }) });
      await applyObjects(kubeconfig, [
        { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'sync', namespace: ns }, spec: { url: git.repoUrl('sync'), ref: { branch: 'main' }, interval: '10m' } },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'sync', namespace: ns },
          spec: { sourceRef: { kind: 'GitRepository', name: 'sync' }, path: './deploy', prune: true, interval: '10m' },
        },
      ]);
      const before = await wait(ns, 'kustomization', 'sync', `Ready at main@sha1:${sha}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === `main@sha1:${sha}`);
      const readySince = cond(before, 'Ready')?.lastTransitionTime;
      expect(readySince).toBeDefined();
      await lading.stop();
      lading = undefined;

      // A service account allowed everything lading needs but listing GitRepositories.
      const rules = [
        { apiGroups: ['kustomize.toolkit.fluxcd.io'], resources: ['*'], verbs: ['*'] },
        { apiGroups: ['source.toolkit.fluxcd.io'], resources: ['ocirepositories', 'ocirepositories/status', 'ocirepositories/finalizers', 'buckets', 'helmrepositories', 'helmcharts', 'externalartifacts'], verbs: ['*'] },
        { apiGroups: ['source.toolkit.fluxcd.io'], resources: ['gitrepositories'], verbs: ['get'] },
        { apiGroups: ['', 'apps', 'events.k8s.io', 'coordination.k8s.io'], resources: ['*'], verbs: ['*'] },
      ];
      await applyObjects(kubeconfig, [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lading-system' } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'lading-sync', namespace: 'lading-system' } },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'lading-sync' }, rules },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'lading-sync' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lading-sync' },
          subjects: [{ kind: 'ServiceAccount', name: 'lading-sync', namespace: 'lading-system' }],
        },
      ]);
      const token = (await kubectl(kubeconfig, ['-n', 'lading-system', 'create', 'token', 'lading-sync', '--duration=1h'])).stdout.trim();
      const restricted = join(work, 'restricted.kubeconfig');
      writeFileSync(
        restricted,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } }],
          users: [{ name: 'u', user: { token } }],
          contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'c',
        }),
        { mode: 0o600 },
      );
      lading = await startLadingController({ kubeconfig: restricted });
      // The GitRepository watch is refused; the Kustomization cache syncs. Give a reconciler that
      // does not wait for its sources the time to run (a bound, not an assertion).
      const started = lading;
      await waitFor(async () => (/watch refused[^\n]*gitrepositories/i.test(started.log()) ? true : undefined), { what: 'the GitRepository watch refused', timeoutMs: 60_000, intervalMs: 200 });
      await waitFor(async () => (started.log().includes('"starting workers","controller":"kustomization"') ? true : undefined), { what: 'workers started', timeoutMs: 10_000, intervalMs: 200 }).catch(() => undefined);
      await kubectl(kubeconfig, ['patch', 'clusterrole', 'lading-sync', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/rules/-', value: { apiGroups: ['source.toolkit.fluxcd.io'], resources: ['gitrepositories'], verbs: ['get', 'list', 'watch'] } }])]);

      // Once the caches synced, lading reconciles the Kustomization: still Ready, never failed.
      const after = await wait(
        ns,
        'kustomization',
        'sync',
        'reconciled by the restarted lading, Ready all along',
        (o) => readyTrue(o) && /Reconciliation finished[^\n]*"name":"sync"/.test(started.log()),
      );
      // Ready passes through Unknown ("Reconciliation in progress") on every reconcile, as in Flux,
      // so its transition time moves; what must never happen is the source reported missing.
      expect(cond(after, 'Ready')?.reason).toBe('ReconciliationSucceeded');
      expect(started.log()).not.toContain(`Source 'GitRepository/${ns}/sync' not found`);
      const events = await kubectl(kubeconfig, ['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=sync,reason=ArtifactFailed', '-o', 'name']);
      expect(events.stdout.trim()).toBe('');
    } finally {
      await stopAll();
    }
  }, 600_000);
});
