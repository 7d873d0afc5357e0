// End to end, with `lading controller run` as a local process against the real control plane, a
// real registry and artifacts pushed with the real flux CLI: what the controller does when things
// break.
// - the registry goes away (its process stopped): FetchFailed, Ready False, a Warning event, the
//   Kustomization carries on from the stored artifact; it comes back on the same port with the
//   same data: Ready True and a `Succeeded` recovery event, as source-controller emits;
// - kube-apiserver restarted while a Kustomization with `wait` is in its health checks (a private
//   control plane from startCluster): the controller converges afterwards;
// - the controller killed with SIGKILL while it applies 200 ConfigMaps, then started again on the
//   same storage: it converges, the inventory holds exactly the 200, nothing it applied is
//   missing from it, and the new process leaves no working directory behind; killed in the
//   middle of a revision withdrawn before the restart, it prunes what the killed process applied;
// - a stored artifact corrupted on disk: noticed at the next reconcile (Warning
//   ArtifactVerificationFailed), rebuilt, status.artifact.digest matches the file again; one
//   deleted from disk is rebuilt with the same digest;
// - a revision whose kustomize build fails: Ready False/BuildFailed, nothing of it applied, the
//   objects of the last good revision untouched; a fixed revision after it is applied.
// The controller watches only this suite's namespace; every object is named `flt-…`.
import { createHash } from 'node:crypto';
import { installLadingCrds } from './crd-install.js';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { isAlive, waitFor } from '../env/process.js';
import { clusterKubeconfig, deferredSetup, removeDir, tempDir } from '../kube/helpers.js';
import { startLadingController } from './controller-process.js';
import {
  Kustomizations,
  OCIRepositories,
  Suite,
  cleanUpNamespace,
  cond,
  configMap,
  firstObject,
  fluxPush,
  kustomizationYaml,
  ociRepositoryYaml,
  readyTrue,
  sha256File,
  startRestartableRegistry,
  writeTree,
  type RestartableRegistry,
} from './e2e-helpers.js';

const ns = 'e2e-faults';

describe('controller end to end: faults (registry down, kube-apiserver restart, SIGKILL, corrupted storage, failed build)', () => {
  const setup = deferredSetup();
  let s: Suite;
  let registry: RestartableRegistry;
  let work: string;
  let storageDir: string;
  let tmp: string;
  let apps = 0;

  async function push(repo: string, tag: string, files: Record<string, string>): Promise<string> {
    const dir = writeTree(work, `app-${++apps}`, files);
    const digest = await fluxPush(registry, `${registry.host}/e2e/${repo}:${tag}`, dir, work);
    return `${tag}@${digest}`;
  }
  const repoUrl = (repo: string) => `${registry.host}/e2e/${repo}`;

  const startController = (kubeconfig = s.kubeconfig, storage = storageDir) =>
    startLadingController({
      kubeconfig,
      runtimeNamespace: ns,
      storageDir: storage,
      args: ['--watch-all-namespaces=false', '--requeue-dependency=2s'],
      // Its working directories go where the suite can see them (and remove them).
      env: { NODE_EXTRA_CA_CERTS: registry.caFile, TMPDIR: tmp },
    });

  beforeAll(() =>
    setup.run(async () => {
      s = new Suite(clusterKubeconfig(), ns);
      work = tempDir('lading-e2e-faults-');
      storageDir = join(work, 'storage');
      tmp = join(work, 'tmp');
      mkdirSync(tmp);
      registry = await startRestartableRegistry();
      await installLadingCrds(s.kubeconfig);
      await s.kubectl(['create', 'namespace', ns]);
      s.controller = await startController();
    }),
  );

  afterAll(async () => {
    if (s) await cleanUpNamespace(s);
    await registry?.stop();
    if (work) removeDir(work);
  }, 300_000);

  it('the registry goes down: FetchFailed, Ready False, a Warning event; back on the same port: Ready True and a Succeeded recovery event', async () => {
    setup.ready();
    const rev = await push('flt-registry', '1.0.0', { 'cm.yaml': configMap('flt-registry-cm', { v: '1' }) });
    const url = `oci://${repoUrl('flt-registry')}`;
    await s.apply(ociRepositoryYaml(ns, 'flt-registry', repoUrl('flt-registry'), 'tag: "1.0.0"'));
    await s.apply(kustomizationYaml(ns, 'flt-registry', 'flt-registry'));
    const ready = await s.wait(OCIRepositories, 'flt-registry', 'Ready', (o) => readyTrue(o) && o.status?.artifact?.revision === rev);
    await s.wait(Kustomizations, 'flt-registry', 'Ready', (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev);
    const digest = ready.status?.artifact?.digest;

    await registry.down();
    try {
      const failed = await s.reconcileNow(OCIRepositories, 'flt-registry', 'FetchFailed', (o) => cond(o, 'FetchFailed')?.status === 'True');
      expect(cond(failed, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
      expect(cond(failed, 'FetchFailed')?.message).toContain('failed to determine artifact digest');
      expect(cond(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'OCIArtifactPullFailed' });
      // The last good artifact stays stored and advertised.
      expect(failed.status?.artifact?.revision).toBe(rev);
      expect(failed.status?.artifact?.digest).toBe(digest);
      const warning = await s.waitEvent('OCIRepository', 'flt-registry', 'Warning OCIArtifactPullFailed', (e) => e.type === 'Warning' && e.reason === 'OCIArtifactPullFailed');
      expect(warning.message).toContain('failed to determine artifact digest');
      expect(warning.message).toContain(registry.host);
      // The Kustomization works from the stored artifact: the registry is not its concern.
      const ks = await s.reconcileNow(Kustomizations, 'flt-registry', 'reconciled while the registry is down', readyTrue);
      expect(ks.status?.lastAppliedRevision).toBe(rev);
    } finally {
      await registry.up();
    }

    const recovered = await s.reconcileNow(OCIRepositories, 'flt-registry', 'recovered', readyTrue);
    expect(cond(recovered, 'FetchFailed')).toBeUndefined();
    expect(cond(recovered, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${rev}'` });
    expect(recovered.status?.artifact?.digest).toBe(digest);
    const event = await s.waitEvent('OCIRepository', 'flt-registry', 'Normal Succeeded (recovery)', (e) => e.type === 'Normal' && e.reason === 'Succeeded');
    expect(event.message.startsWith(`stored artifact with revision '${rev}' from '${url}'`)).toBe(true);
    // Not a new artifact: no second NewArtifact event.
    const newArtifact = (await s.events('OCIRepository', 'flt-registry')).filter((e) => e.reason === 'NewArtifact');
    expect(newArtifact.map((e) => e.count ?? 1).reduce((a, b) => a + b, 0)).toBe(1);
  }, 300_000);

  it('a stored artifact corrupted on disk is noticed (Warning ArtifactVerificationFailed) and rebuilt: the digest matches the file again', async () => {
    setup.ready();
    const rev = await push('flt-corrupt', '1.0.0', { 'cm.yaml': configMap('flt-corrupt-cm', { v: '1' }) });
    await s.apply(ociRepositoryYaml(ns, 'flt-corrupt', repoUrl('flt-corrupt'), 'tag: "1.0.0"'));
    const ready = await s.wait(OCIRepositories, 'flt-corrupt', 'Ready', (o) => readyTrue(o) && o.status?.artifact?.revision === rev);
    const artifact = ready.status?.artifact as { path: string; digest: string; url: string };
    const file = join(storageDir, artifact.path);
    expect(sha256File(file)).toBe(artifact.digest);

    const garbage = Buffer.from('not the artifact that was stored\n'.repeat(64));
    writeFileSync(file, garbage);
    const garbageDigest = `sha256:${createHash('sha256').update(garbage).digest('hex')}`;
    const rebuilt = await s.reconcileNow(OCIRepositories, 'flt-corrupt', 'rebuilt', readyTrue);
    const warning = await s.waitEvent('OCIRepository', 'flt-corrupt', 'Warning ArtifactVerificationFailed', (e) => e.type === 'Warning' && e.reason === 'ArtifactVerificationFailed');
    expect(warning.message).toContain('failed to verify integrity of artifact');
    const now = rebuilt.status?.artifact as { path: string; digest: string; url: string };
    expect(now.digest).not.toBe(garbageDigest);
    // The archive is normalised: rebuilt from the same content, it is the same file.
    expect(now.digest).toBe(artifact.digest);
    expect(sha256File(join(storageDir, now.path))).toBe(now.digest);
    expect(rebuilt.status?.artifact?.revision).toBe(rev);
    // What the artifact server hands out is the rebuilt file.
    const res = await fetch(now.url);
    expect(res.status).toBe(200);
    expect(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`).toBe(now.digest);
  }, 300_000);

  it('a stored artifact deleted from disk is rebuilt at the next reconcile, with the same digest', async () => {
    setup.ready();
    const rev = await push('flt-vanished', '1.0.0', { 'cm.yaml': configMap('flt-vanished-cm', { v: '1' }) });
    await s.apply(ociRepositoryYaml(ns, 'flt-vanished', repoUrl('flt-vanished'), 'tag: "1.0.0"'));
    const ready = await s.wait(OCIRepositories, 'flt-vanished', 'Ready', (o) => readyTrue(o) && o.status?.artifact?.revision === rev);
    const artifact = ready.status?.artifact as { path: string; digest: string };
    rmSync(join(storageDir, artifact.path));
    const rebuilt = await s.reconcileNow(OCIRepositories, 'flt-vanished', 'rebuilt', readyTrue);
    const now = rebuilt.status?.artifact as { path: string; digest: string };
    expect(now.path).toBe(artifact.path);
    // The archive is normalised: the same content gives the same file.
    expect(now.digest).toBe(artifact.digest);
    expect(sha256File(join(storageDir, now.path))).toBe(now.digest);
  }, 300_000);

  it('a revision whose build fails: Ready False/BuildFailed, nothing of it applied, the previous objects untouched', async () => {
    setup.ready();
    const kustomization = (resources: string[]) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `  - ${r}`).join('\n')}\n`;
    const good = await push('flt-build', '1.0.0', {
      'kustomization.yaml': kustomization(['cm.yaml']),
      'cm.yaml': configMap('flt-build-cm', { v: '1' }),
    });
    await s.apply(ociRepositoryYaml(ns, 'flt-build', repoUrl('flt-build'), 'semver: "1.x"'));
    await s.apply(kustomizationYaml(ns, 'flt-build', 'flt-build'));
    await s.wait(Kustomizations, 'flt-build', `Ready on ${good}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === good);
    const before = await s.getPlain('configmap', 'flt-build-cm');
    expect(before?.data).toEqual({ v: '1' });

    // 1.1.0 changes the ConfigMap, adds one, and names a resource that is not in the artifact.
    const broken = await push('flt-build', '1.1.0', {
      'kustomization.yaml': kustomization(['cm.yaml', 'new.yaml', 'missing.yaml']),
      'cm.yaml': configMap('flt-build-cm', { v: '2' }),
      'new.yaml': configMap('flt-build-new', { v: '2' }),
    });
    await s.reconcileNow(OCIRepositories, 'flt-build', `${broken} stored`, (o) => o.status?.artifact?.revision === broken);
    const failed = await s.wait(Kustomizations, 'flt-build', 'BuildFailed', (o) => cond(o, 'Ready')?.reason === 'BuildFailed' && o.status?.lastAttemptedRevision === broken);
    expect(cond(failed, 'Ready')?.status).toBe('False');
    expect(cond(failed, 'Ready')?.message).toContain('missing.yaml');
    expect(failed.status?.lastAppliedRevision).toBe(good);
    expect(failed.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_flt-build-cm__ConfigMap`]);
    const warning = await s.waitEvent('Kustomization', 'flt-build', 'Warning BuildFailed', (e) => e.type === 'Warning' && e.reason === 'BuildFailed');
    expect(warning.message).toContain('missing.yaml');
    // No path of the controller's temporary directories leaks into what users see.
    expect(warning.message).not.toMatch(/kustomization-[A-Za-z0-9]{6}/);
    const after = await s.getPlain('configmap', 'flt-build-cm');
    expect(after?.data).toEqual({ v: '1' });
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(await s.getPlain('configmap', 'flt-build-new')).toBeUndefined();

    // A fixed 1.2.0 is applied as usual.
    const fixed = await push('flt-build', '1.2.0', {
      'kustomization.yaml': kustomization(['cm.yaml', 'new.yaml']),
      'cm.yaml': configMap('flt-build-cm', { v: '3' }),
      'new.yaml': configMap('flt-build-new', { v: '3' }),
    });
    await s.reconcileNow(OCIRepositories, 'flt-build', `${fixed} stored`, (o) => o.status?.artifact?.revision === fixed);
    const ok = await s.wait(Kustomizations, 'flt-build', `Ready on ${fixed}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === fixed);
    expect(ok.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_flt-build-cm__ConfigMap`, `${ns}_flt-build-new__ConfigMap`]);
    expect((await s.getPlain('configmap', 'flt-build-cm'))?.data).toEqual({ v: '3' });
    expect((await s.getPlain('configmap', 'flt-build-new'))?.data).toEqual({ v: '3' });
  }, 300_000);

  it('the controller killed with SIGKILL in the middle of applying 200 ConfigMaps converges when started again on the same storage', async () => {
    setup.ready();
    const names = Array.from({ length: 200 }, (_, i) => `flt-kill-${String(i).padStart(3, '0')}`);
    // Some bulk per object, so that the apply takes a moment.
    const files = Object.fromEntries(names.map((n, i) => [`${n}.yaml`, configMap(n, { index: String(i), filler: 'x'.repeat(8 * 1024) })]));
    const rev = await push('flt-kill', '1.0.0', files);
    await s.apply(ociRepositoryYaml(ns, 'flt-kill', repoUrl('flt-kill'), 'tag: "1.0.0"'));
    await s.wait(OCIRepositories, 'flt-kill', 'Ready', (o) => readyTrue(o) && o.status?.artifact?.revision === rev);
    const appeared = firstObject(s.kubeconfig, ns, 'configmaps', s.ownedBy('flt-kill'), 150_000);
    appeared.catch(() => undefined); // awaited below; no unhandled rejection if a step before fails
    await s.apply(kustomizationYaml(ns, 'flt-kill', 'flt-kill'));
    await appeared;
    const old = s.controller;
    await old?.kill();
    const atKill = await s.list('configmaps', s.ownedBy('flt-kill'));
    // How far it got is not asserted (that is timing); it is said, for whoever reads the log.
    console.log(`flt-kill: the controller was killed with ${atKill.length} of 200 ConfigMaps applied`);
    await old?.stop(); // removes its log dir; the storage is the suite's
    // A process killed in the middle of a reconcile cannot remove its working directory.
    const leftBehind = readdirSync(tmp).sort();
    s.controller = await startController();

    const ks = await s.wait(Kustomizations, 'flt-kill', `Ready on ${rev} after the restart`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev, 240_000);
    const ids = (ks.status?.inventory?.entries ?? []).map((e) => e.id);
    expect(ids.length).toBe(200);
    expect(new Set(ids).size).toBe(200);
    expect(ids.sort()).toEqual(names.map((n) => `${ns}_${n}__ConfigMap`).sort());
    expect((ks.status?.inventory?.entries ?? []).every((e) => e.v === 'v1')).toBe(true);
    const owned = await s.list('configmaps', s.ownedBy('flt-kill'));
    expect(owned.map((o) => o.metadata.name).sort()).toEqual(names);
    const inInventory = new Set(ids);
    expect(owned.filter((o) => !inInventory.has(`${ns}_${o.metadata.name}__ConfigMap`)).map((o) => o.metadata.name)).toEqual([]);
    for (const o of owned) expect(o.data?.['index']).toBe(String(names.indexOf(o.metadata.name)));
    // The new controller leaves none of its own behind.
    await waitFor(
      async () => {
        const now = readdirSync(tmp).sort();
        if (JSON.stringify(now) !== JSON.stringify(leftBehind)) throw new Error(`in ${tmp}: ${now.join(', ')}; the killed controller left: ${leftBehind.join(', ')}`);
        return true;
      },
      { what: "the controller's working directories gone", timeoutMs: 30_000, intervalMs: 200 },
    );
  }, 400_000);

  it('killed with SIGKILL while applying a new revision that was then withdrawn: started again, it prunes what the killed process applied (nothing orphaned)', async () => {
    setup.ready();
    const base = { 'base.yaml': configMap('flt-orphan-base', { v: '1' }) };
    const v1 = await push('flt-orphan', '1.0.0', base);
    await s.apply(ociRepositoryYaml(ns, 'flt-orphan', repoUrl('flt-orphan'), 'semver: "1.x"'));
    await s.apply(kustomizationYaml(ns, 'flt-orphan', 'flt-orphan'));
    await s.wait(Kustomizations, 'flt-orphan', `Ready on ${v1}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v1);

    // 1.1.0 adds 200 ConfigMaps; the controller is killed as soon as the first is there.
    const batch = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => `flt-orphan-${String(i).padStart(3, '0')}`).map((n) => [`${n}.yaml`, configMap(n, { filler: 'x'.repeat(8 * 1024) }, { 'e2e.lading.dev/batch': 'two' })]),
    );
    const v2 = await push('flt-orphan', '1.1.0', { ...base, ...batch });
    const appeared = firstObject(s.kubeconfig, ns, 'configmaps', `${s.ownedBy('flt-orphan')},e2e.lading.dev/batch=two`, 150_000);
    appeared.catch(() => undefined); // awaited below
    await s.requestReconcile(OCIRepositories, 'flt-orphan');
    await appeared;
    const old = s.controller;
    await old?.kill();
    const applied = (await s.list('configmaps', `${s.ownedBy('flt-orphan')},e2e.lading.dev/batch=two`)).map((o) => o.metadata.name);
    console.log(`flt-orphan: the controller was killed with ${applied.length} of the 200 new ConfigMaps applied`);
    expect(applied.length).toBeGreaterThan(0);
    await old?.stop();

    // 1.1.0 is withdrawn before the controller comes back: 1.2.0 has the base only.
    const v3 = await push('flt-orphan', '1.2.0', { 'base.yaml': configMap('flt-orphan-base', { v: '3' }) });
    s.controller = await startController();
    await s.reconcileNow(OCIRepositories, 'flt-orphan', `${v3} stored`, (o) => o.status?.artifact?.revision === v3);
    const ks = await s.wait(Kustomizations, 'flt-orphan', `Ready on ${v3}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === v3, 240_000);
    expect(ks.status?.lastAppliedRevision).not.toBe(v2);
    expect(ks.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_flt-orphan-base__ConfigMap`]);
    const left = await s.list('configmaps', s.ownedBy('flt-orphan'));
    expect(left.map((o) => o.metadata.name)).toEqual(['flt-orphan-base']);
    expect(left[0]?.data).toEqual({ v: '3' });
  }, 400_000);

  it('kube-apiserver restarted while a Kustomization with wait runs its health checks: the controller converges', async () => {
    setup.ready();
    let cluster: RunningCluster | undefined;
    const own = new Suite('', ns);
    try {
      cluster = await startCluster({ nodes: 1 });
      own.kubeconfig = cluster.kubeconfig;
      await installLadingCrds(own.kubeconfig);
      await own.kubectl(['create', 'namespace', ns]);
      own.controller = await startController(cluster.kubeconfig, join(work, 'storage-apiserver'));
      const node = cluster.nodeNames[0] as string;
      // The Deployment's pods wait for a node label: the health check keeps waiting until the
      // test gives it, after the restart.
      const rev = await push('flt-apiserver', '1.0.0', {
        'cm.yaml': configMap('flt-apiserver-cm', { v: '1' }),
        'deploy.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: flt-apiserver-app
spec:
  replicas: 1
  selector: {matchLabels: {app: flt-apiserver-app}}
  template:
    metadata: {labels: {app: flt-apiserver-app}}
    spec:
      nodeSelector: {e2e.lading.dev/ready: "yes"}
      containers: [{name: app, image: registry.example/app:1.0.0}]
`,
      });
      await own.apply(ociRepositoryYaml(ns, 'flt-apiserver', repoUrl('flt-apiserver'), 'tag: "1.0.0"'));
      await own.apply(kustomizationYaml(ns, 'flt-apiserver', 'flt-apiserver', '  wait: true\n  timeout: 3m\n'));
      await own.wait(Kustomizations, 'flt-apiserver', 'in its health checks', (o) => cond(o, 'Reconciling')?.message.startsWith('Running health checks') === true);

      await cluster.restartApiServer();
      await own.kubectl(['label', 'node', node, 'e2e.lading.dev/ready=yes']);

      const ks = await own.wait(Kustomizations, 'flt-apiserver', `Ready on ${rev}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === rev, 300_000);
      expect(cond(ks, 'Healthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
      expect(ks.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_flt-apiserver-app_apps_Deployment`, `${ns}_flt-apiserver-cm__ConfigMap`]);
      const deploy = JSON.parse((await own.kubectl(['-n', ns, 'get', 'deployment', 'flt-apiserver-app', '-o', 'json'])).stdout) as { status: { conditions?: Array<{ type: string; status: string }> } };
      expect(deploy.status.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
      expect(isAlive(own.controller.pid)).toBe(true);
      // Sources keep working across the restart too.
      const src = await own.reconcileNow(OCIRepositories, 'flt-apiserver', 'reconciled after the restart', readyTrue);
      expect(src.status?.artifact?.revision).toBe(rev);
    } finally {
      await own.controller?.stop();
      await cluster?.stop();
    }
  }, 600_000);
});
