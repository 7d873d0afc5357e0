// OCIRepository signature verification with cosign keys (signed by the real cosign and by
// lading), what happens to unsigned, wrongly signed and tampered artifacts (SourceVerified False,
// nothing stored, the last good artifact kept), keyless and notation refused clearly; and hostile
// artifacts (links out of the tree, path traversal, too many entries, too many bytes), which fail
// with FetchFailed and write nothing outside the storage root.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { installLadingCrds } from './crd-install.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxConfigMediaType, FluxContentMediaType, pushArtifact } from '../../src/artifact/index.js';
import { ArtifactStorage, createOCIRepositoryReconciler } from '../../src/controller/source/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { openRepository } from '../../src/oci/index.js';
import { generateKeyPair, sign } from '../../src/sign/index.js';
import { makeTarball } from '../artifact/archives.js';
import { pushLayers } from '../artifact/helpers.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { clusterKubeconfig, connect, deferredSetup, tempDir } from '../kube/helpers.js';
import { cosign, expectOk } from '../sign/helpers.js';
import { condition, createNamespace, createOCIRepository, createSecret, patchOCIRepository, reconcileOnce } from './fixtures/source/harness.js';

const setup = deferredSetup();
let client: KubeClient;
let ns: string;
let registry: RunningRegistry;
let storageRoot: string;
let storage: ArtifactStorage;
let work: string;
let keys: string;
let reconciler: ReturnType<typeof createOCIRepositoryReconciler>;

async function push(repo: string, tag: string, content: string): Promise<string> {
  const dir = join(work, `${repo}-${tag}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'deploy.yaml'), content);
  return (await pushArtifact({ url: `oci://${registry.host}/${repo}:${tag}`, path: dir, source: 'https://example/src', revision: `${tag}@sha1:abc` })).digest;
}

function filesOf(name: string): string[] {
  const dir = join(storageRoot, 'ocirepository', ns, name);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

beforeAll(() =>
  setup.run(async () => {
    const kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig);
    await installLadingCrds(kubeconfig);
    ns = await createNamespace(client, 'lading-ocirepo-verify');
    registry = await startRegistry();
    storageRoot = tempDir('lading-source-storage-');
    work = tempDir('lading-source-work-');
    keys = tempDir('lading-source-keys-');
    storage = new ArtifactStorage({ root: storageRoot, advertisedAddress: 'localhost:9090' });
    reconciler = createOCIRepositoryReconciler({ storage, registry: { retries: 0, retryBaseMs: 10 }, env: {}, maxEntries: 50, maxBytes: 1024 * 1024, workDir: work });
    await generateKeyPair({ dir: keys, outputKeyPrefix: 'good', password: 'pw' });
    await generateKeyPair({ dir: keys, outputKeyPrefix: 'other', password: 'pw' });
    await createSecret(client, ns, 'cosign-keys', 'Opaque', { 'a-other.pub': readFileSync(join(keys, 'other.pub')), 'good.pub': readFileSync(join(keys, 'good.pub')), 'notes.txt': 'not a key' });
    await createSecret(client, ns, 'other-key', 'Opaque', { 'other.pub': readFileSync(join(keys, 'other.pub')) });
  }),
);

afterAll(async () => {
  await registry?.stop();
  if (client && ns) await client.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  for (const d of [storageRoot, work, keys]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('OCIRepository verification', () => {
  it('cosign-signed: verified before the pull; unsigned, tampered and wrongly signed revisions keep the last good artifact', async () => {
    setup.ready();
    const first = await push('signed', 'latest', 'kind: Deployment # 1\n');
    const ref = `${registry.host}/signed@${first}`;
    expectOk(await cosign(['sign', '--key', join(keys, 'good.key'), '--new-bundle-format=false', '--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '-y', ref], { password: 'pw' }), 'cosign sign');
    await createOCIRepository(client, ns, 'signed', { url: `oci://${registry.host}/signed`, verify: { provider: 'cosign', secretRef: { name: 'cosign-keys' } } });
    const ok = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(ok.outcome.error).toBeUndefined();
    const revision = `latest@${first}`;
    expect(condition(ok.after, 'SourceVerified')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `verified signature of revision ${revision}` });
    expect(condition(ok.after, 'Ready')).toMatchObject({ status: 'True', message: `stored artifact for digest '${revision}'` });
    const good = ok.after!.status!.artifact!;
    const stored = filesOf('signed');

    // Unsigned: the tag now names unsigned content.
    const unsigned = await push('signed', 'latest', 'kind: Deployment # 2 unsigned\n');
    const u = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(u.outcome.error).toBeDefined();
    expect(condition(u.after, 'SourceVerified')).toMatchObject({
      status: 'False',
      reason: 'VerificationError',
      message: `failed to verify the signature using provider 'cosign': no matching signatures were found for '${registry.host}/signed@${unsigned}'`,
    });
    expect(condition(u.after, 'Ready')).toMatchObject({ status: 'False', reason: 'VerificationError' });
    expect(condition(u.after, 'ArtifactOutdated')).toMatchObject({ status: 'True', reason: 'NewRevision' });
    expect(u.after!.status!.artifact).toEqual(good);
    expect(filesOf('signed')).toEqual(stored);
    expect(u.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'VerificationError' })]);

    // Tampered: the first digest's signature copied onto the new digest's signature tag.
    const repo = openRepository(`${registry.host}/signed`);
    const sigTag = (d: string) => `${d.replace(':', '-')}.sig`;
    const sigDesc = await repo.resolve(sigTag(first));
    await repo.tag(sigDesc, sigTag(unsigned));
    repo.close();
    const t = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(condition(t.after, 'SourceVerified')).toMatchObject({ status: 'False', reason: 'VerificationError' });
    expect(t.after!.status!.artifact).toEqual(good);
    expect(filesOf('signed')).toEqual(stored);

    // Signed (by lading) with the other key: every *.pub key of the Secret is tried.
    await sign(`${registry.host}/signed@${unsigned}`, { key: join(keys, 'other.key'), password: 'pw' });
    const w = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(condition(w.after, 'SourceVerified')).toMatchObject({ status: 'True', message: `verified signature of revision latest@${unsigned}` });
    expect(w.after!.status!.artifact!.revision).toBe(`latest@${unsigned}`);
    expect(w.events.map((e) => e.reason)).toEqual(['NewArtifact']);

    // Only a key that signed nothing here: the next revision fails.
    const third = await push('signed', 'latest', 'kind: Deployment # 3\n');
    await sign(`${registry.host}/signed@${third}`, { key: join(keys, 'good.key'), password: 'pw' });
    await patchOCIRepository(client, ns, 'signed', { spec: { verify: { provider: 'cosign', secretRef: { name: 'other-key' } } } });
    const wrongKey = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(condition(wrongKey.after, 'SourceVerified')).toMatchObject({ status: 'False', reason: 'VerificationError' });
    expect(wrongKey.after!.status!.artifact!.revision).toBe(`latest@${unsigned}`);
    // The right key again: verified (a failed verification is always retried).
    await patchOCIRepository(client, ns, 'signed', { spec: { verify: { provider: 'cosign', secretRef: { name: 'cosign-keys' } } } });
    const fixed = await reconcileOnce(client, reconciler, ns, 'signed');
    expect(condition(fixed.after, 'SourceVerified')?.status).toBe('True');
    expect(fixed.after!.status!.artifact!.revision).toBe(`latest@${third}`);
  });

  it('keyless and notation fail with a clear SourceVerified message', async () => {
    setup.ready();
    await push('keyless', 'latest', 'x: 1\n');
    await createOCIRepository(client, ns, 'keyless', { url: `oci://${registry.host}/keyless`, verify: { provider: 'cosign', matchOIDCIdentity: [{ issuer: '.*', subject: '.*' }] } });
    const k = await reconcileOnce(client, reconciler, ns, 'keyless');
    expect(condition(k.after, 'SourceVerified')).toMatchObject({ status: 'False', reason: 'VerificationError' });
    expect(condition(k.after, 'SourceVerified')!.message).toMatch(/^failed to verify the signature using provider 'cosign keyless': keyless verification .* not supported by lading yet/);
    expect(k.after!.status!.artifact).toBeUndefined();
    await createOCIRepository(client, ns, 'notation', { url: `oci://${registry.host}/keyless`, verify: { provider: 'notation', secretRef: { name: 'cosign-keys' } } });
    const n = await reconcileOnce(client, reconciler, ns, 'notation');
    expect(condition(n.after, 'SourceVerified')!.message).toMatch(/^failed to verify the signature using provider 'notation': notation verification is not supported/);
    expect(filesOf('keyless')).toEqual([]);
    expect(filesOf('notation')).toEqual([]);
  });
});

describe('hostile artifacts', () => {
  const outside = join(tmpdir(), `lading-source-pwned-${process.pid}`);

  it.each([
    ['a link leading out of the tree', /outside/, [{ name: 'ok.yaml', body: 'a: 1\n' }, { name: 'up', type: 'symlink' as const, linkname: '../../../../../../../../../../etc/passwd' }]],
    ['a link out of the tree, then a file through it', /would be written through the link/, [{ name: 'ok.yaml', body: 'a: 1\n' }, { name: 'evil', type: 'symlink' as const, linkname: '../../../../../../../../../../tmp' }, { name: `evil/lading-source-pwned-${process.pid}`, body: 'x' }]],
    ['an absolute link', /absolute path/, [{ name: 'passwd', type: 'symlink' as const, linkname: '/etc/passwd' }]],
    ['path traversal', /escapes the target directory/, [{ name: `../../../../../../../../tmp/lading-source-pwned-${process.pid}`, body: 'x' }]],
    ['too many entries', /more than 50 entries/, Array.from({ length: 60 }, (_, i) => ({ name: `f${i}.yaml`, body: 'a: 1\n' }))],
    ['too many bytes', /exceeds the limit of 1048576 bytes/, [{ name: 'big.yaml', body: Buffer.alloc(2 * 1024 * 1024, 'a') }]],
  ])('%s: FetchFailed, nothing stored, nothing written outside', async (label, why, entries) => {
    setup.ready();
    const name = `hostile-${label.replace(/[^a-z]+/g, '-').replace(/-+$/, '')}`;
    const url = await pushLayers(registry.host, name, 'v1', [{ data: await makeTarball(entries), mediaType: FluxContentMediaType }], FluxConfigMediaType);
    await createOCIRepository(client, ns, name, { url: url.replace(/:v1$/, ''), ref: { tag: 'v1' } });
    const r = await reconcileOnce(client, reconciler, ns, name);
    expect(r.outcome.error).toBeDefined();
    expect(condition(r.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactLayerOperationFailed' });
    expect(condition(r.after, 'FetchFailed')!.message).toMatch(/^failed to extract layer contents from artifact: /);
    expect(condition(r.after, 'FetchFailed')!.message).toMatch(why);
    expect(condition(r.after, 'FetchFailed')!.message).not.toContain('--');
    expect(r.after!.status!.artifact).toBeUndefined();
    expect(filesOf(name)).toEqual([]);
    expect(existsSync(outside)).toBe(false);
    // No working directory is left behind.
    expect(readdirSync(work).filter((f) => f.startsWith('ocirepository-'))).toEqual([]);
  });

  it('a layer chosen by media type among several is extracted', async () => {
    setup.ready();
    const url = await pushLayers(
      registry.host,
      'multi-layer',
      'v1',
      [
        { data: Buffer.from('{"not":"this"}'), mediaType: 'application/vnd.example.meta+json' },
        { data: await makeTarball([{ name: 'app/deploy.yaml', body: 'kind: Deployment\n' }]), mediaType: 'application/vnd.example.config.tar+gzip' },
      ],
      FluxConfigMediaType,
    );
    await createOCIRepository(client, ns, 'multi-layer', { url: url.replace(/:v1$/, ''), ref: { tag: 'v1' }, layerSelector: { mediaType: 'application/vnd.example.config.tar+gzip', operation: 'extract' } });
    const r = await reconcileOnce(client, reconciler, ns, 'multi-layer');
    expect(r.outcome.error).toBeUndefined();
    expect(r.after!.status!.artifact!.metadata).toEqual({ 'org.opencontainers.image.source': 'other-tool' });
    // Without a selector the first layer (not an archive) is used, as Flux does.
    await createOCIRepository(client, ns, 'multi-layer-first', { url: url.replace(/:v1$/, ''), ref: { tag: 'v1' } });
    const first = await reconcileOnce(client, reconciler, ns, 'multi-layer-first');
    expect(condition(first.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactLayerOperationFailed' });
  });
});
