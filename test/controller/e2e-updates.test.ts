// End to end, with `lading controller run` as a local process against the real control plane, a
// real registry and artifacts pushed with the real flux CLI: how the controller follows changes.
// - suspend: a suspended Kustomization does not apply a new revision, a suspended OCIRepository
//   does not pick up a new tag; resuming does both;
// - `reconcile.fluxcd.io/requestedAt`: echoed in status.lastHandledReconcileAt once the reconcile
//   it asked for has run (a new artifact behind the same tag, a new history count);
// - dependsOn: a Kustomization waits (DependencyNotReady) until its dependency is Ready, then
//   applies after it;
// - drift: an applied object edited out of band and another deleted out of band are put back at
//   the next reconcile;
// - a new semver tag with `prune: false`: the new revision is applied and the objects it dropped
//   stay in the cluster (out of the inventory), as Flux leaves them;
// - and none of this leaves a working directory behind.
// The controller watches only this suite's namespace; every object is named `upd-…`.
import { mkdirSync, readdirSync } from 'node:fs';
import { installLadingCrds } from './crd-install.js';
import { join } from 'node:path';
import { waitFor } from '../env/process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterKubeconfig, deferredSetup, removeDir, tempDir } from '../kube/helpers.js';
import { startLadingController } from './controller-process.js';
import {
  Kustomizations,
  OCIRepositories,
  Suite,
  cleanUpNamespace,
  cond,
  configMap,
  fluxPush,
  kustomizationYaml,
  ociRepositoryYaml,
  readyTrue,
  startRestartableRegistry,
  writeTree,
  type FluxObject,
  type RestartableRegistry,
} from './e2e-helpers.js';

const ns = 'e2e-updates';

describe('controller end to end: updates (suspend, requestedAt, dependsOn, drift, new tags without prune)', () => {
  const setup = deferredSetup();
  let s: Suite;
  let registry: RestartableRegistry;
  let work: string;
  let tmp: string;
  let apps = 0;

  /** Pushes a directory of manifests (file name → YAML) as `<repo>:<tag>`; returns the revision Flux gives it. */
  async function push(repo: string, tag: string, files: Record<string, string>): Promise<string> {
    const dir = writeTree(work, `app-${++apps}`, files);
    const digest = await fluxPush(registry, `${registry.host}/e2e/${repo}:${tag}`, dir, work);
    return `${tag}@${digest}`;
  }

  const repoUrl = (repo: string) => `${registry.host}/e2e/${repo}`;

  async function data(name: string): Promise<Record<string, string> | undefined> {
    return (await s.getPlain('configmap', name))?.data;
  }

  beforeAll(() =>
    setup.run(async () => {
      s = new Suite(clusterKubeconfig(), ns);
      work = tempDir('lading-e2e-updates-');
      registry = await startRestartableRegistry();
      tmp = join(work, 'tmp');
      mkdirSync(tmp);
      await installLadingCrds(s.kubeconfig);
      await s.kubectl(['create', 'namespace', ns]);
      s.controller = await startLadingController({
        kubeconfig: s.kubeconfig,
        runtimeNamespace: ns,
        args: ['--watch-all-namespaces=false', '--requeue-dependency=2s'],
        // Its working directories go where the suite can check that none is left behind.
        env: { NODE_EXTRA_CA_CERTS: registry.caFile, TMPDIR: tmp },
      });
    }),
  );

  afterAll(async () => {
    if (s) await cleanUpNamespace(s);
    await registry?.stop();
    if (work) removeDir(work);
  }, 300_000);

  it('a suspended Kustomization does not apply a new revision; resumed, it does', async () => {
    setup.ready();
    const v1 = await push('upd-suspend-ks', '1.0.0', { 'cm.yaml': configMap('upd-suspend-ks-cm', { version: '1' }) });
    await s.apply(ociRepositoryYaml(ns, 'upd-suspend-ks', repoUrl('upd-suspend-ks'), 'semver: ">=1.0.0"'));
    await s.apply(kustomizationYaml(ns, 'upd-suspend-ks', 'upd-suspend-ks'));
    await s.wait(Kustomizations, 'upd-suspend-ks', `Ready on ${v1}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v1);
    expect(await data('upd-suspend-ks-cm')).toEqual({ version: '1' });

    await s.kubectl(['-n', ns, 'patch', 'kustomization', 'upd-suspend-ks', '--type', 'merge', '-p', '{"spec":{"suspend":true}}']);
    // The controller has seen the suspension once it handles a request made after it.
    await s.reconcileNow(Kustomizations, 'upd-suspend-ks', 'suspension seen');
    const v2 = await push('upd-suspend-ks', '1.1.0', { 'cm.yaml': configMap('upd-suspend-ks-cm', { version: '2' }) });
    await s.reconcileNow(OCIRepositories, 'upd-suspend-ks', `new revision ${v2} stored`, (o) => o.status?.artifact?.revision === v2);
    // The suspended Kustomization handles a reconcile request (it says so in status) and applies nothing.
    const suspended = await s.reconcileNow(Kustomizations, 'upd-suspend-ks', 'request handled while suspended');
    expect(suspended.status?.lastAppliedRevision).toBe(v1);
    expect(suspended.status?.lastAttemptedRevision).toBe(v1);
    expect(await data('upd-suspend-ks-cm')).toEqual({ version: '1' });

    await s.kubectl(['-n', ns, 'patch', 'kustomization', 'upd-suspend-ks', '--type', 'merge', '-p', '{"spec":{"suspend":false}}']);
    const resumed = await s.wait(Kustomizations, 'upd-suspend-ks', `resumed: Ready on ${v2}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v2);
    expect(cond(resumed, 'Ready')).toMatchObject({ reason: 'ReconciliationSucceeded', message: `Applied revision: ${v2}` });
    expect(await data('upd-suspend-ks-cm')).toEqual({ version: '2' });
  }, 300_000);

  it('a suspended OCIRepository does not pick up a new tag; resumed, it does and the Kustomization applies it', async () => {
    setup.ready();
    const v1 = await push('upd-suspend-src', '1.0.0', { 'cm.yaml': configMap('upd-suspend-src-cm', { version: '1' }) });
    await s.apply(ociRepositoryYaml(ns, 'upd-suspend-src', repoUrl('upd-suspend-src'), 'semver: ">=1.0.0"'));
    await s.apply(kustomizationYaml(ns, 'upd-suspend-src', 'upd-suspend-src'));
    await s.wait(Kustomizations, 'upd-suspend-src', `Ready on ${v1}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v1);

    await s.kubectl(['-n', ns, 'patch', 'ocirepository', 'upd-suspend-src', '--type', 'merge', '-p', '{"spec":{"suspend":true}}']);
    const v2 = await push('upd-suspend-src', '1.1.0', { 'cm.yaml': configMap('upd-suspend-src-cm', { version: '2' }) });
    const suspended = await s.reconcileNow(OCIRepositories, 'upd-suspend-src', 'request handled while suspended');
    expect(suspended.status?.artifact?.revision).toBe(v1);
    expect((await s.get(Kustomizations, 'upd-suspend-src'))?.status?.lastAppliedRevision).toBe(v1);
    expect(await data('upd-suspend-src-cm')).toEqual({ version: '1' });

    await s.kubectl(['-n', ns, 'patch', 'ocirepository', 'upd-suspend-src', '--type', 'merge', '-p', '{"spec":{"suspend":false}}']);
    const src = await s.wait(OCIRepositories, 'upd-suspend-src', `resumed: ${v2} stored`, (o) => readyTrue(o) && o.status?.artifact?.revision === v2);
    expect(cond(src, 'ArtifactInStorage')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${v2}'` });
    await s.wait(Kustomizations, 'upd-suspend-src', `Ready on ${v2}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v2);
    expect(await data('upd-suspend-src-cm')).toEqual({ version: '2' });
  }, 300_000);

  it('requestedAt: lastHandledReconcileAt takes the value once the requested reconcile has run (OCIRepository and Kustomization)', async () => {
    setup.ready();
    const v1 = await push('upd-requested', 'latest', { 'cm.yaml': configMap('upd-requested-cm', { version: '1' }) });
    await s.apply(ociRepositoryYaml(ns, 'upd-requested', repoUrl('upd-requested'), 'tag: latest'));
    await s.apply(kustomizationYaml(ns, 'upd-requested', 'upd-requested'));
    const first = await s.wait(Kustomizations, 'upd-requested', `Ready on ${v1}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v1);
    expect(first.status?.lastHandledReconcileAt).toBeUndefined();

    // The same tag moved: only a reconcile of the source (interval 10m) can see it.
    const v2 = await push('upd-requested', 'latest', { 'cm.yaml': configMap('upd-requested-cm', { version: '2' }) });
    expect(v2).not.toBe(v1);
    const token = await s.requestReconcile(OCIRepositories, 'upd-requested');
    const src = await s.wait(OCIRepositories, 'upd-requested', `lastHandledReconcileAt ${token}`, (o) => o.status?.lastHandledReconcileAt === token);
    // The request is marked handled when its reconcile ends, so the new artifact is there by then.
    expect(src.status?.artifact?.revision).toBe(v2);
    expect(readyTrue(src)).toBe(true);
    await s.wait(Kustomizations, 'upd-requested', `Ready on ${v2}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v2);
    expect(await data('upd-requested-cm')).toEqual({ version: '2' });

    // A Kustomization with nothing new: the request runs one more reconcile, counted in history.
    const before = (await s.get(Kustomizations, 'upd-requested')) as FluxObject & { status: { history?: Array<{ totalReconciliations: number; metadata?: Record<string, string> }> } };
    const count = before.status.history?.[0]?.totalReconciliations ?? 0;
    expect(before.status.history?.[0]?.metadata?.['revision']).toBe(v2);
    const ksToken = await s.requestReconcile(Kustomizations, 'upd-requested');
    const after = (await s.wait(Kustomizations, 'upd-requested', `lastHandledReconcileAt ${ksToken}`, (o) => o.status?.lastHandledReconcileAt === ksToken)) as typeof before;
    expect(readyTrue(after)).toBe(true);
    expect(after.status.history?.[0]?.totalReconciliations).toBe(count + 1);
  }, 300_000);

  it('dependsOn: B waits with DependencyNotReady while A is missing, then while A is not Ready, and applies once A is Ready', async () => {
    setup.ready();
    const rev = await push('upd-deps', '1.0.0', {
      'a/cm.yaml': configMap('upd-deps-a-cm', { from: 'a' }),
      'b/cm.yaml': configMap('upd-deps-b-cm', { from: 'b' }),
    });
    await s.apply(ociRepositoryYaml(ns, 'upd-deps', repoUrl('upd-deps'), 'tag: "1.0.0"'));
    await s.wait(OCIRepositories, 'upd-deps', 'Ready', (o) => readyTrue(o) && o.status?.artifact?.revision === rev);
    await s.apply(kustomizationYaml(ns, 'upd-deps-b', 'upd-deps', '  dependsOn:\n    - name: upd-deps-a\n').replace('path: ./', 'path: ./b'));
    const missing = await s.wait(Kustomizations, 'upd-deps-b', 'DependencyNotReady', (o) => cond(o, 'Ready')?.reason === 'DependencyNotReady');
    expect(cond(missing, 'Ready')?.status).toBe('False');
    expect(cond(missing, 'Ready')?.message).toContain(`dependency '${ns}/upd-deps-a' not found`);
    await s.waitEvent('Kustomization', 'upd-deps-b', 'DependencyNotReady', (e) => e.type === 'Normal' && e.reason === 'DependencyNotReady' && e.message.startsWith('Dependencies do not meet ready condition, retrying in 2s'));
    expect(await s.getPlain('configmap', 'upd-deps-b-cm')).toBeUndefined();
    expect(missing.status?.inventory?.entries ?? []).toEqual([]);

    // A exists but fails (a path that is not in the artifact): B keeps waiting.
    await s.apply(kustomizationYaml(ns, 'upd-deps-a', 'upd-deps').replace('path: ./', 'path: ./not-there'));
    await s.wait(Kustomizations, 'upd-deps-a', 'failing', (o) => cond(o, 'Ready')?.status === 'False' && cond(o, 'Ready')?.reason === 'ArtifactFailed');
    const notReady = await s.wait(Kustomizations, 'upd-deps-b', 'waiting on a failing A', (o) => cond(o, 'Ready')?.message === `dependency '${ns}/upd-deps-a' is not ready`);
    expect(cond(notReady, 'Ready')).toMatchObject({ status: 'False', reason: 'DependencyNotReady' });
    // B is looked at again every --requeue-dependency (2s); whatever it is asked, it stays waiting.
    const stillWaiting = await s.reconcileNow(Kustomizations, 'upd-deps-b', 'still waiting');
    expect(cond(stillWaiting, 'Ready')?.reason).toBe('DependencyNotReady');
    expect(await s.getPlain('configmap', 'upd-deps-b-cm')).toBeUndefined();
    expect(await s.getPlain('configmap', 'upd-deps-a-cm')).toBeUndefined();

    await s.kubectl(['-n', ns, 'patch', 'kustomization', 'upd-deps-a', '--type', 'merge', '-p', '{"spec":{"path":"./a"}}']);
    const a = await s.wait(Kustomizations, 'upd-deps-a', 'Ready', (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev);
    const b = await s.wait(Kustomizations, 'upd-deps-b', 'Ready after A', (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev);
    const aReady = cond(a, 'Ready') as { lastTransitionTime: string };
    const bReady = cond(b, 'Ready') as { lastTransitionTime: string };
    expect(Date.parse(bReady.lastTransitionTime)).toBeGreaterThanOrEqual(Date.parse(aReady.lastTransitionTime));
    const aCm = await s.getPlain('configmap', 'upd-deps-a-cm');
    const bCm = await s.getPlain('configmap', 'upd-deps-b-cm');
    expect(aCm?.data).toEqual({ from: 'a' });
    expect(bCm?.data).toEqual({ from: 'b' });
    expect(Date.parse(bCm?.metadata.creationTimestamp as string)).toBeGreaterThanOrEqual(Date.parse(aCm?.metadata.creationTimestamp as string));
    expect(b.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_upd-deps-b-cm__ConfigMap`]);
  }, 300_000);

  it('drift: an object edited out of band and one deleted out of band are corrected at the next reconcile', async () => {
    setup.ready();
    const rev = await push('upd-drift', '1.0.0', {
      'edited.yaml': configMap('upd-drift-edited', { mode: 'managed', level: '3' }),
      'deleted.yaml': configMap('upd-drift-deleted', { keep: 'me' }),
    });
    await s.apply(ociRepositoryYaml(ns, 'upd-drift', repoUrl('upd-drift'), 'tag: "1.0.0"'));
    await s.apply(kustomizationYaml(ns, 'upd-drift', 'upd-drift'));
    await s.wait(Kustomizations, 'upd-drift', 'Ready', (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev);
    const deletedBefore = await s.getPlain('configmap', 'upd-drift-deleted');
    expect(deletedBefore?.metadata.labels).toMatchObject({ 'kustomize.toolkit.fluxcd.io/name': 'upd-drift', 'kustomize.toolkit.fluxcd.io/namespace': ns });

    await s.kubectl(['-n', ns, 'patch', 'configmap', 'upd-drift-edited', '--type', 'merge', '-p', '{"data":{"mode":"hand-edited"}}']);
    await s.kubectl(['-n', ns, 'delete', 'configmap', 'upd-drift-deleted', '--wait=true']);
    expect((await data('upd-drift-edited'))?.['mode']).toBe('hand-edited');

    const ks = await s.reconcileNow(Kustomizations, 'upd-drift', 'drift corrected', readyTrue);
    expect(ks.status?.lastAppliedRevision).toBe(rev);
    expect(await data('upd-drift-edited')).toEqual({ mode: 'managed', level: '3' });
    const recreated = await s.getPlain('configmap', 'upd-drift-deleted');
    expect(recreated?.data).toEqual({ keep: 'me' });
    expect(recreated?.metadata.uid).not.toBe(deletedBefore?.metadata.uid);
    expect(recreated?.metadata.labels).toMatchObject({ 'kustomize.toolkit.fluxcd.io/name': 'upd-drift' });
    // The correction is reported as Flux reports an apply with changes: the change set in an event.
    await s.waitEvent('Kustomization', 'upd-drift', 'change set', (e) => e.type === 'Normal' && e.message.includes(`ConfigMap/${ns}/upd-drift-deleted created`) && e.message.includes(`ConfigMap/${ns}/upd-drift-edited configured`));
  }, 300_000);

  it('a new semver tag with prune: false is applied; the objects it dropped stay in the cluster, out of the inventory', async () => {
    setup.ready();
    const v1 = await push('upd-noprune', '1.0.0', {
      'kept.yaml': configMap('upd-noprune-kept', { version: '1' }),
      'dropped.yaml': configMap('upd-noprune-dropped', { version: '1' }),
    });
    await s.apply(ociRepositoryYaml(ns, 'upd-noprune', repoUrl('upd-noprune'), 'semver: "1.x"'));
    await s.apply(kustomizationYaml(ns, 'upd-noprune', 'upd-noprune').replace('prune: true', 'prune: false'));
    const first = await s.wait(Kustomizations, 'upd-noprune', `Ready on ${v1}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v1);
    expect(first.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_upd-noprune-dropped__ConfigMap`, `${ns}_upd-noprune-kept__ConfigMap`]);
    const droppedBefore = await s.getPlain('configmap', 'upd-noprune-dropped');

    const v2 = await push('upd-noprune', '1.1.0', {
      'kept.yaml': configMap('upd-noprune-kept', { version: '2' }),
      'added.yaml': configMap('upd-noprune-added', { version: '2' }),
    });
    // A tag outside the range is not taken.
    await push('upd-noprune', '2.0.0', { 'kept.yaml': configMap('upd-noprune-kept', { version: '3' }) });
    await s.reconcileNow(OCIRepositories, 'upd-noprune', `new revision ${v2} stored`, (o) => o.status?.artifact?.revision === v2);
    const ks = await s.wait(Kustomizations, 'upd-noprune', `Ready on ${v2}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v2);
    expect(ks.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_upd-noprune-added__ConfigMap`, `${ns}_upd-noprune-kept__ConfigMap`]);
    expect(await data('upd-noprune-kept')).toEqual({ version: '2' });
    expect(await data('upd-noprune-added')).toEqual({ version: '2' });
    const droppedAfter = await s.getPlain('configmap', 'upd-noprune-dropped');
    expect(droppedAfter?.metadata.uid).toBe(droppedBefore?.metadata.uid);
    expect(droppedAfter?.metadata.resourceVersion).toBe(droppedBefore?.metadata.resourceVersion);
    expect(droppedAfter?.data).toEqual({ version: '1' });
    const events = await s.events('Kustomization', 'upd-noprune');
    expect(events.filter((e) => e.message.includes('upd-noprune-dropped deleted'))).toEqual([]);
  }, 300_000);

  it('leaves no working directory behind', async () => {
    setup.ready();
    await waitFor(
      async () => {
        const left = readdirSync(tmp);
        if (left.length > 0) throw new Error(`in ${tmp}: ${left.join(', ')}`);
        return true;
      },
      { what: "the controller's working directories gone", timeoutMs: 30_000, intervalMs: 200 },
    );
  });
});
