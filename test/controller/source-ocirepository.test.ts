// The OCIRepository reconciler against real registries and the real API server (Flux's own
// OCIRepository CRD): references, credentials, storage, skip-pull, ignore and layer selection,
// a corrupted artifact, an invalid URL, a registry outage and recovery, suspend and deletion.
import { createHash } from 'node:crypto';
import { installLadingCrds } from './crd-install.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushArtifact } from '../../src/artifact/index.js';
import { ArtifactStorage, createOCIRepositoryReconciler, startArtifactServer } from '../../src/controller/source/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { StaticCredentials, openRepository } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { clusterKubeconfig, connect, deferredSetup, tempDir } from '../kube/helpers.js';
import { Forwarder, condition, createNamespace, createOCIRepository, createSecret, dockerConfigJson, getOCIRepository, patchOCIRepository, reconcileOnce } from './fixtures/source/harness.js';

const setup = deferredSetup();
let client: KubeClient;
let ns: string;
let registry: RunningRegistry;
let privateRegistry: RunningRegistry;
let storageRoot: string;
let storage: ArtifactStorage;
let work: string;
let reconciler: ReturnType<typeof createOCIRepositoryReconciler>;
const digests: Record<string, string> = {};

async function push(reg: RunningRegistry, repo: string, tag: string, files: Record<string, string>, extra: { source?: string; revision?: string } = {}): Promise<string> {
  const dir = join(work, `${repo}-${tag}-${Math.random().toString(36).slice(2)}`);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  const credentials = reg.username ? new StaticCredentials({ [reg.host]: { username: reg.username, password: reg.password! } }) : undefined;
  const pushed = await pushArtifact({
    url: `oci://${reg.host}/${repo}:${tag}`,
    path: dir,
    source: extra.source ?? 'https://github.com/example/app',
    revision: extra.revision ?? `${tag}@sha1:0123456789abcdef`,
    ...(credentials ? { registry: { credentials } } : {}),
  });
  return pushed.digest;
}

async function tarNames(file: string): Promise<string[]> {
  const names: string[] = [];
  const ex = extract();
  const done = new Promise<void>((res, rej) => {
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      s.resume();
      s.on('end', next);
    });
    ex.on('finish', res);
    ex.on('error', rej);
  });
  ex.end(gunzipSync(readFileSync(file)));
  await done;
  return names;
}

beforeAll(() =>
  setup.run(async () => {
    const kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig);
    await installLadingCrds(kubeconfig);
    ns = await createNamespace(client, 'lading-ocirepo');
    [registry, privateRegistry] = await Promise.all([startRegistry(), startRegistry({ auth: true })]);
    storageRoot = tempDir('lading-source-storage-');
    work = tempDir('lading-source-work-');
    storage = new ArtifactStorage({ root: storageRoot, advertisedAddress: 'source-controller.test.svc:80' });
    reconciler = createOCIRepositoryReconciler({ storage, registry: { retries: 0, retryBaseMs: 10 }, env: {} });
    digests['1.0.0'] = await push(registry, 'app', '1.0.0', { 'deploy.yaml': 'kind: Deployment\n', 'README.md': '# app\n', 'cloudbuild.yaml': 'steps: []\n' });
    digests['1.1.0'] = await push(registry, 'app', '1.1.0', { 'deploy.yaml': 'kind: Deployment # 1.1\n' });
    digests['1.2.0-rc.1'] = await push(registry, 'app', '1.2.0-rc.1', { 'deploy.yaml': 'rc' });
    digests['2.0.0'] = await push(registry, 'app', '2.0.0', { 'deploy.yaml': 'two' });
    digests['v1.4.0-stable'] = await push(registry, 'app', 'v1.4.0-stable', { 'deploy.yaml': 'stable' });
    digests['private'] = await push(privateRegistry, 'secret-app', '1.0.0', { 'deploy.yaml': 'private' });
  }),
);

afterAll(async () => {
  await Promise.all([registry?.stop(), privateRegistry?.stop()]);
  if (client && ns) await client.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  for (const d of [storageRoot, work]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('OCIRepository reconciler', () => {
  it('tag ref: stores the artifact, reports Ready with Flux conditions and events, then skips the pull when nothing changed', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'by-tag', { url: `oci://${registry.host}/app`, ref: { tag: '1.0.0' }, interval: '10m' });
    const first = await reconcileOnce(client, reconciler, ns, 'by-tag');
    expect(first.outcome.error).toBeUndefined();
    expect(first.outcome.finalizer).toBe('add');
    expect(first.outcome.requeueAfterMs).toBeGreaterThanOrEqual(570_000);
    expect(first.outcome.requeueAfterMs).toBeLessThanOrEqual(630_000);
    const obj = first.after!;
    expect(obj.metadata.finalizers).toContain('finalizers.fluxcd.io');
    const revision = `1.0.0@${digests['1.0.0']}`;
    const artifact = obj.status!.artifact!;
    expect(artifact.revision).toBe(revision);
    expect(artifact.path).toBe(`ocirepository/${ns}/by-tag/${digests['1.0.0']}.tar.gz`);
    expect(artifact.url).toBe(`http://source-controller.test.svc:80/${artifact.path}`);
    expect(artifact.metadata?.['org.opencontainers.image.source']).toBe('https://github.com/example/app');
    const bytes = readFileSync(join(storageRoot, artifact.path));
    expect(artifact.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(artifact.size).toBe(bytes.length);
    // source-controller's default exclusions apply: no CI file.
    expect(await tarNames(join(storageRoot, artifact.path))).toEqual(['.', 'README.md', 'deploy.yaml']);
    expect(obj.status!.url).toBe(`http://source-controller.test.svc:80/ocirepository/${ns}/by-tag/latest.tar.gz`);
    expect(obj.status!.observedGeneration).toBe(obj.metadata.generation);
    expect(condition(obj, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${revision}'` });
    expect(condition(obj, 'ArtifactInStorage')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${revision}'` });
    expect(condition(obj, 'Reconciling')).toBeUndefined();
    expect(condition(obj, 'FetchFailed')).toBeUndefined();
    // Progress was written before the pull.
    expect(first.statuses.some((s) => JSON.stringify(s).includes('building artifact'))).toBe(true);
    expect(first.events).toEqual([
      {
        type: 'Normal',
        reason: 'NewArtifact',
        message: `stored artifact with revision '${revision}' from 'oci://${registry.host}/app', origin source 'https://github.com/example/app', origin revision '1.0.0@sha1:0123456789abcdef'`,
        annotations: { 'source.toolkit.fluxcd.io/revision': revision, 'source.toolkit.fluxcd.io/digest': artifact.digest },
      },
    ]);

    // What consumers do: fetch the artifact from the artifact server and check its digest.
    const server = await startArtifactServer({ storage, address: '127.0.0.1:0' });
    try {
      const res = await fetch(`${server.url}/${artifact.path}`);
      expect(res.status).toBe(200);
      const served = Buffer.from(await res.arrayBuffer());
      expect(`sha256:${createHash('sha256').update(served).digest('hex')}`).toBe(artifact.digest);
      expect((await fetch(server.url + new URL(obj.status!.url!).pathname)).status).toBe(200);
    } finally {
      await server.close();
    }

    // Unchanged: no pull, no new file, same status artifact; a requestedAt is recorded.
    const mtime = statSync(join(storageRoot, artifact.path)).mtimeMs;
    await patchOCIRepository(client, ns, 'by-tag', { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': 'now-1' } } });
    const second = await reconcileOnce(client, reconciler, ns, 'by-tag');
    expect(second.outcome.error).toBeUndefined();
    expect(second.events).toEqual([]);
    expect(second.after!.status!.artifact).toEqual(artifact);
    expect(second.after!.status!.lastHandledReconcileAt).toBe('now-1');
    expect(statSync(join(storageRoot, artifact.path)).mtimeMs).toBe(mtime);

    // A corrupted file on disk is noticed, removed and rebuilt (same content, same digest).
    writeFileSync(join(storageRoot, artifact.path), 'corrupted');
    const third = await reconcileOnce(client, reconciler, ns, 'by-tag');
    expect(third.outcome.error).toBeUndefined();
    // The rebuilt file has the digest of the old one: no NewArtifact event (as Flux compares digests).
    expect(third.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'ArtifactVerificationFailed']]);
    expect(third.events[0]!.message).toContain('failed to verify integrity of artifact');
    expect(readFileSync(join(storageRoot, artifact.path)).equals(bytes)).toBe(true);
    expect(third.after!.status!.artifact!.digest).toBe(artifact.digest);
    expect(condition(third.after, 'Ready')?.status).toBe('True');
  });

  it('semver with semverFilter picks the highest matching tag; a new matching tag becomes a new revision', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'by-semver', { url: `oci://${registry.host}/app`, ref: { semver: '1.x' } });
    const r = await reconcileOnce(client, reconciler, ns, 'by-semver');
    expect(r.after!.status!.artifact!.revision).toBe(`1.1.0@${digests['1.1.0']}`);
    await createOCIRepository(client, ns, 'by-semver-filter', { url: `oci://${registry.host}/app`, ref: { semver: '>=1.0.0-0', semverFilter: '.*-(rc|stable).*' } });
    const f = await reconcileOnce(client, reconciler, ns, 'by-semver-filter');
    expect(f.after!.status!.artifact!.revision).toBe(`v1.4.0-stable@${digests['v1.4.0-stable']}`);
    await createOCIRepository(client, ns, 'by-semver-none', { url: `oci://${registry.host}/app`, ref: { semver: '>=9.0.0' } });
    const none = await reconcileOnce(client, reconciler, ns, 'by-semver-none');
    expect(none.outcome.error?.message).toContain('no match found for semver: >=9.0.0');
    expect(condition(none.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'ReadOperationFailed' });
    expect(condition(none.after, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadOperationFailed' });
    expect(condition(none.after, 'Reconciling')).toMatchObject({ status: 'True', reason: 'ProgressingWithRetry' });
    expect(none.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'ReadOperationFailed' })]);

    const newDigest = await push(registry, 'app', '1.3.0', { 'deploy.yaml': 'kind: Deployment # 1.3\n' });
    const next = await reconcileOnce(client, reconciler, ns, 'by-semver');
    const revision = `1.3.0@${newDigest}`;
    expect(next.after!.status!.artifact!.revision).toBe(revision);
    expect(next.events.map((e) => e.reason)).toEqual(['NewArtifact']);
    expect(condition(next.after, 'ArtifactOutdated')).toBeUndefined();
    // The outdated state was written while the new artifact was being built.
    expect(next.statuses.some((s) => JSON.stringify(s).includes(`new revision '${revision}'`))).toBe(true);
    // Both files are kept (retention 2 records, TTL 1 min); latest points at the new one.
    const dir = join(storageRoot, 'ocirepository', ns, 'by-semver');
    expect(existsSync(join(dir, `${digests['1.1.0']}.tar.gz`))).toBe(true);
    expect(readFileSync(join(dir, 'latest.tar.gz')).equals(readFileSync(join(storageRoot, next.after!.status!.artifact!.path)))).toBe(true);
  });

  it('digest ref: the revision is the digest alone', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'by-digest', { url: `oci://${registry.host}/app`, ref: { digest: digests['2.0.0']!, tag: '1.0.0', semver: '1.x' } });
    const r = await reconcileOnce(client, reconciler, ns, 'by-digest');
    expect(r.outcome.error).toBeUndefined();
    expect(r.after!.status!.artifact!.revision).toBe(digests['2.0.0']);
    expect(r.after!.status!.artifact!.path).toBe(`ocirepository/${ns}/by-digest/${digests['2.0.0']}.tar.gz`);

    // A status edited to name another object's file: that file is neither verified, removed nor
    // collected; this object's artifact is rebuilt in its own directory.
    const otherDir = join(storageRoot, 'ocirepository', ns, 'by-tag');
    const otherFiles = readdirSync(otherDir).sort();
    const foreign = `ocirepository/${ns}/by-tag/${otherFiles.find((f) => f !== 'latest.tar.gz')}`;
    await client.request({
      method: 'PATCH',
      path: `/apis/source.toolkit.fluxcd.io/v1/namespaces/${ns}/ocirepositories/by-digest/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { artifact: { ...r.after!.status!.artifact!, path: foreign, digest: `sha256:${'0'.repeat(64)}` } } },
    });
    const again = await reconcileOnce(client, reconciler, ns, 'by-digest');
    expect(again.outcome.error).toBeUndefined();
    expect(again.after!.status!.artifact!.path).toBe(`ocirepository/${ns}/by-digest/${digests['2.0.0']}.tar.gz`);
    expect(readdirSync(otherDir).sort()).toEqual(otherFiles);
  });

  it('private registry: dockerconfigjson secretRef, the service account imagePullSecrets; no secret value in status, events or errors', async () => {
    setup.ready();
    const password = privateRegistry.password!;
    const url = `oci://${privateRegistry.host}/secret-app`;
    await createOCIRepository(client, ns, 'private-anon', { url, ref: { tag: '1.0.0' } });
    const anon = await reconcileOnce(client, reconciler, ns, 'private-anon');
    expect(anon.outcome.error).toBeDefined();
    expect(condition(anon.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
    expect(condition(anon.after, 'FetchFailed')!.message).toMatch(/^failed to determine artifact digest: .*requires authentication; set spec.secretRef to a kubernetes.io\/dockerconfigjson Secret/);

    await createSecret(client, ns, 'regcred', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': dockerConfigJson(privateRegistry.host, privateRegistry.username!, password) });
    await createOCIRepository(client, ns, 'private-secret', { url, ref: { tag: '1.0.0' }, secretRef: { name: 'regcred' } });
    const withSecret = await reconcileOnce(client, reconciler, ns, 'private-secret');
    expect(withSecret.outcome.error).toBeUndefined();
    expect(withSecret.after!.status!.artifact!.revision).toBe(`1.0.0@${digests['private']}`);

    await createSecret(client, ns, 'regcred-sa', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': dockerConfigJson(`https://${privateRegistry.host}/v1/`, privateRegistry.username!, password) });
    await client.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'puller' }, imagePullSecrets: [{ name: 'regcred-sa' }] } });
    await createOCIRepository(client, ns, 'private-sa', { url, ref: { tag: '1.0.0' }, serviceAccountName: 'puller' });
    const withSA = await reconcileOnce(client, reconciler, ns, 'private-sa');
    expect(withSA.outcome.error).toBeUndefined();
    expect(condition(withSA.after, 'Ready')?.status).toBe('True');

    // Wrong password: the registry refuses; the message never shows the password.
    const wrong = `${password}-wrong`;
    await createSecret(client, ns, 'regcred-wrong', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': dockerConfigJson(privateRegistry.host, privateRegistry.username!, wrong) });
    await createOCIRepository(client, ns, 'private-wrong', { url, ref: { tag: '1.0.0' }, secretRef: { name: 'regcred-wrong' } });
    const refused = await reconcileOnce(client, reconciler, ns, 'private-wrong');
    expect(refused.outcome.error).toBeDefined();
    // A missing secret: AuthenticationFailed.
    await createOCIRepository(client, ns, 'private-missing', { url, ref: { tag: '1.0.0' }, secretRef: { name: 'nope' } });
    const missing = await reconcileOnce(client, reconciler, ns, 'private-missing');
    expect(condition(missing.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed', message: `failed to get credential: secret '${ns}/nope' not found` });

    const everything = JSON.stringify([anon, withSecret, withSA, refused, missing].map((r) => ({ s: r.statuses, st: r.after?.status, e: r.events, err: r.outcome.error?.message })));
    for (const secret of [password, wrong, Buffer.from(`${privateRegistry.username}:${password}`).toString('base64')]) expect(everything).not.toContain(secret);
  });

  it('ignore and layerSelector: extract honours spec.ignore (a change rebuilds without a new revision), copy stores the layer as is', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'ignore', { url: `oci://${registry.host}/app`, ref: { tag: '1.0.0' }, ignore: '*.md\n' });
    const r = await reconcileOnce(client, reconciler, ns, 'ignore');
    const names = await tarNames(join(storageRoot, r.after!.status!.artifact!.path));
    // spec.ignore replaces the default exclusions: the CI file is kept, README.md goes.
    expect(names).toEqual(['.', 'cloudbuild.yaml', 'deploy.yaml']);
    expect(r.after!.status!.observedIgnore).toBe('*.md\n');
    const firstDigest = r.after!.status!.artifact!.digest;
    await patchOCIRepository(client, ns, 'ignore', { spec: { ignore: 'cloudbuild.yaml\n' } });
    const changed = await reconcileOnce(client, reconciler, ns, 'ignore');
    expect(changed.after!.status!.artifact!.revision).toBe(r.after!.status!.artifact!.revision);
    expect(changed.after!.status!.artifact!.digest).not.toBe(firstDigest);
    expect(await tarNames(join(storageRoot, changed.after!.status!.artifact!.path))).toEqual(['.', 'README.md', 'deploy.yaml']);
    expect(changed.events.map((e) => e.reason)).toEqual(['NewArtifact']);

    await createOCIRepository(client, ns, 'copy', {
      url: `oci://${registry.host}/app`,
      ref: { tag: '1.0.0' },
      layerSelector: { mediaType: 'application/vnd.cncf.flux.content.v1.tar+gzip', operation: 'copy' },
    });
    const copied = await reconcileOnce(client, reconciler, ns, 'copy');
    expect(copied.outcome.error).toBeUndefined();
    const repo = openRepository(`${registry.host}/app`);
    const manifest = JSON.parse((await repo.fetchBytes(await repo.resolve('1.0.0'))).toString()) as { layers: Array<{ digest: string }> };
    repo.close();
    expect(copied.after!.status!.artifact!.digest).toBe(manifest.layers[0]!.digest);
    expect(copied.after!.status!.observedLayerSelector).toEqual({ mediaType: 'application/vnd.cncf.flux.content.v1.tar+gzip', operation: 'copy' });

    await createOCIRepository(client, ns, 'no-layer', { url: `oci://${registry.host}/app`, ref: { tag: '1.0.0' }, layerSelector: { mediaType: 'application/x-none' } });
    const noLayer = await reconcileOnce(client, reconciler, ns, 'no-layer');
    expect(condition(noLayer.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactLayerOperationFailed', message: "failed to find layer with media type 'application/x-none' in artifact" });
  });

  it('an invalid URL stalls without retry', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'with-tag', { url: `oci://${registry.host}/app:1.0.0` });
    const r = await reconcileOnce(client, reconciler, ns, 'with-tag');
    expect(r.outcome.error).toBeUndefined();
    expect(r.outcome.requeueAfterMs).toBeUndefined();
    const message = `URL validation failed for 'oci://${registry.host}/app:1.0.0': URL must not contain a tag; remove ':1.0.0'`;
    expect(condition(r.after, 'Stalled')).toMatchObject({ status: 'True', reason: 'URLInvalid', message });
    expect(condition(r.after, 'Ready')).toMatchObject({ status: 'False', reason: 'URLInvalid', message });
    expect(r.after!.status!.observedGeneration).toBe(r.after!.metadata.generation);
  });

  it('registry down: FetchFailed with the last artifact kept, then a Succeeded event on recovery', async () => {
    setup.ready();
    const forwarder = new Forwarder(Number(registry.host.split(':')[1]));
    await forwarder.up();
    try {
      await createOCIRepository(client, ns, 'outage', { url: `oci://127.0.0.1:${forwarder.port}/app`, ref: { tag: '1.0.0' }, timeout: '5s' });
      const ok = await reconcileOnce(client, reconciler, ns, 'outage');
      expect(ok.outcome.error).toBeUndefined();
      const artifact = ok.after!.status!.artifact!;
      await forwarder.down();
      const down = await reconcileOnce(client, reconciler, ns, 'outage');
      expect(down.outcome.error).toBeDefined();
      expect(condition(down.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
      expect(condition(down.after, 'Ready')).toMatchObject({ status: 'False', reason: 'OCIArtifactPullFailed' });
      expect(condition(down.after, 'ArtifactInStorage')?.status).toBe('True');
      expect(down.after!.status!.artifact).toEqual(artifact);
      expect(down.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'OCIArtifactPullFailed' })]);
      await forwarder.up();
      const back = await reconcileOnce(client, reconciler, ns, 'outage');
      expect(back.outcome.error).toBeUndefined();
      expect(condition(back.after, 'FetchFailed')).toBeUndefined();
      expect(condition(back.after, 'Ready')?.status).toBe('True');
      expect(back.events).toEqual([expect.objectContaining({ type: 'Normal', reason: 'Succeeded', message: expect.stringContaining(`stored artifact with revision '1.0.0@${digests['1.0.0']}'`) })]);
    } finally {
      await forwarder.down();
    }
  });

  it('suspend does nothing; deletion removes the artifacts and the finalizer', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'lifecycle', { url: `oci://${registry.host}/app`, ref: { tag: '2.0.0' } });
    const r = await reconcileOnce(client, reconciler, ns, 'lifecycle');
    expect(r.outcome.error).toBeUndefined();
    await patchOCIRepository(client, ns, 'lifecycle', { spec: { suspend: true, ref: { tag: '1.0.0' } } });
    const suspended = await reconcileOnce(client, reconciler, ns, 'lifecycle');
    expect(suspended.outcome).toEqual({});
    expect(suspended.after!.status!.artifact!.revision).toBe(`2.0.0@${digests['2.0.0']}`);
    const dir = join(storageRoot, 'ocirepository', ns, 'lifecycle');
    expect(existsSync(dir)).toBe(true);
    await client.request({ method: 'DELETE', path: `/apis/source.toolkit.fluxcd.io/v1/namespaces/${ns}/ocirepositories/lifecycle` });
    const deleting = await getOCIRepository(client, ns, 'lifecycle');
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    const gone = await reconcileOnce(client, reconciler, ns, 'lifecycle');
    expect(gone.outcome.finalizer).toBe('remove');
    expect(gone.after).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });
});
