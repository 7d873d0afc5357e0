// Sigstore bundles as OCI 1.1 referrers on a registry that serves the referrers API
// (go-containerregistry's registry with WithReferrersSupport(true), test/tools/oci/referrers-registry),
// with the real cosign v3 in both directions, offline. The other sign tests run on distribution
// 2.8 and v3, which have no referrers API (bundles go through the sha256-<hex> tag there).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchManifest, MediaTypes, referrersTag, type ImageIndex, type ImageManifest } from '../../src/oci/index.js';
import { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE_TYPE, sign, verify, verifyAttestation } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushReferrer } from '../oci/helpers.js';
import { cosign, cosignPath, expectOk, interopKeys, lading, pushRandomImage, repo, tempDir } from './helpers.js';

const LADING_PASS = 'lading-made';
const COSIGN_PASS = 'cosign-made';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/** Flags that keep cosign v3 offline (as in cosign-interop.test.ts). */
const OFFLINE_SIGN = ['--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '-y'];
const OFFLINE_VERIFY = ['--insecure-ignore-tlog=true', '--allow-http-registry'];

let registry: RunningRegistry;
let dir: string;
let ladingKey: { key: string; pub: string };
let cosignKey: { key: string; pub: string };
const ladingEnv = (): NodeJS.ProcessEnv => ({ LADING_PASSWORD: LADING_PASS, HOME: dir });

beforeAll(async () => {
  cosignPath(); // fails here, with how to build it, when cosign is missing
  registry = await startRegistry({ flavor: 'ggcr-referrers' });
  dir = tempDir();
  ({ lading: ladingKey, cosign: cosignKey } = await interopKeys(dir, { lading: LADING_PASS, cosign: COSIGN_PASS }));
});

afterAll(async () => {
  await registry?.stop();
});

/** The registry's own referrers listing for `digest`, read with a plain HTTP client. */
async function apiReferrers(name: string, digest: string): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${name}/referrers/${digest}`, { headers: { Accept: MediaTypes.ociIndex } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe(MediaTypes.ociIndex);
  return ((await res.json()) as ImageIndex).manifests.map((d) => d.digest).sort();
}

async function tagsOf(name: string): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${name}/tags/list`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** `Signed sha256:… (bundle) → host/repo@sha256:…` → the referrer's digest. */
function pushedReferrer(stderr: string): string {
  const m = /→ \S+@(sha256:[0-9a-f]{64})/.exec(stderr);
  if (!m?.[1]) throw new Error(`no referrer digest in lading's output:\n${stderr}`);
  return m[1];
}

async function bundleManifest(name: string, digest: string): Promise<ImageManifest> {
  return (await fetchManifest(repo(registry.host, name), digest)).manifest as ImageManifest;
}

interface TreeJson {
  referrers: Array<{ artifactType: string; digest: string; error?: string }>;
  attachments: unknown[];
}

describe('bundles as referrers on a registry with the referrers API', () => {
  it('lading sign --format bundle and lading attest: listed by the API; lading verify, verify-attestation and tree find them; no referrers tag', async () => {
    const name = 'lading-signed';
    const image = await pushRandomImage(registry.host, name, '1.0.0');
    const ref = `${registry.host}/${name}:1.0.0`;

    const s = await lading(['sign', '--key', ladingKey.key, '--format', 'bundle', ref], { cwd: dir, env: ladingEnv() });
    expectOk(s, 'lading sign --format bundle');
    const sigDigest = pushedReferrer(s.stderr);
    const a = await lading(['attest', '--key', ladingKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', 'bundle', ref], { cwd: dir, env: ladingEnv() });
    expectOk(a, 'lading attest --format bundle');
    const attDigest = pushedReferrer(a.stderr);

    expect(await apiReferrers(name, image.digest)).toEqual([sigDigest, attDigest].sort());
    for (const digest of [sigDigest, attDigest]) {
      const m = await bundleManifest(name, digest);
      expect([m.artifactType, m.subject?.digest, m.layers.map((l) => l.mediaType)]).toEqual([BUNDLE_MEDIA_TYPE, image.digest, [BUNDLE_MEDIA_TYPE]]);
    }
    expect(await tagsOf(name)).toEqual(['1.0.0']);
    expect(await tagsOf(name)).not.toContain(referrersTag(image.digest));

    const v = await lading(['verify', '--key', ladingKey.pub, ref], { cwd: dir });
    expectOk(v, 'lading verify');
    const verified = JSON.parse(v.stdout) as Array<{ critical: { image: Record<string, string>; type: string } }>;
    expect(verified.map((o) => [o.critical.image['docker-manifest-digest'], o.critical.type])).toEqual([[image.digest, COSIGN_SIGN_PREDICATE_TYPE]]);
    const wrongKey = await lading(['verify', '--key', cosignKey.pub, ref], { cwd: dir });
    expect(wrongKey.code).toBe(1);

    const va = await lading(['verify-attestation', '--key', ladingKey.pub, '--type', 'cyclonedx', ref], { cwd: dir });
    expectOk(va, 'lading verify-attestation');
    const envelopes = va.stdout.trim().split('\n').map((line) => JSON.parse(line) as { payload: string });
    const statements = envelopes.map((e) => JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ digest: Record<string, string> }> });
    expect(statements.map((st) => [st.predicateType, st.subject[0]?.digest['sha256']])).toEqual([[CYCLONEDX, image.digest.slice(7)]]);

    const t = await lading(['tree', '-o', 'json', ref], { cwd: dir });
    expectOk(t, 'lading tree');
    const treeOut = JSON.parse(t.stdout) as TreeJson;
    expect(treeOut.attachments).toEqual([]);
    expect(treeOut.referrers.map((r) => [r.digest, r.artifactType, r.error]).sort()).toEqual(
      [
        [sigDigest, COSIGN_SIGN_PREDICATE_TYPE, undefined],
        [attDigest, CYCLONEDX, undefined],
      ].sort(),
    );

    // Signing again with the same key finds the bundle through the API and adds nothing.
    const again = await sign(ref, { key: ladingKey.key, password: LADING_PASS, format: 'bundle' });
    expect(again.signatures.map((e) => e.created)).toEqual([false]);
    expect(await apiReferrers(name, image.digest)).toEqual([sigDigest, attDigest].sort());
    expect(await tagsOf(name)).toEqual(['1.0.0']);
  });

  it('the real cosign v3 verifies lading-made bundle signatures and attestations listed by the API', async () => {
    const name = 'lading-for-cosign';
    const image = await pushRandomImage(registry.host, name, '1.0.0');
    const ref = `${registry.host}/${name}:1.0.0`;
    await sign(ref, { key: cosignKey.key, password: COSIGN_PASS, format: 'bundle' });
    expectOk(await lading(['attest', '--key', cosignKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', 'bundle', ref], { cwd: dir, env: { COSIGN_PASSWORD: COSIGN_PASS, HOME: dir } }), 'lading attest');
    expect(await apiReferrers(name, image.digest)).toHaveLength(2);
    expect(await tagsOf(name)).toEqual(['1.0.0']);

    const r = await cosign(['verify', '--key', cosignKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
    expectOk(r, 'cosign verify');
    expect(r.stderr).toContain('The signatures were verified against the specified public key');
    const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string>; type: string } }>;
    // cosign v3.1.3's verify accepts every bundle the key signed, the attestation included (it
    // does the same through the referrers tag); lading's verify keeps the signature bundle only.
    expect(out.map((o) => [o.critical.image['docker-manifest-digest'], o.critical.type]).sort()).toEqual(
      [
        [image.digest, COSIGN_SIGN_PREDICATE_TYPE],
        [image.digest, CYCLONEDX],
      ].sort(),
    );
    const wrong = await cosign(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
    expect(wrong.code).not.toBe(0);

    const ra = await cosign(['verify-attestation', '--key', cosignKey.pub, ...OFFLINE_VERIFY, '--type', 'cyclonedx', ref], { cwd: dir });
    expectOk(ra, 'cosign verify-attestation');
    const envelope = JSON.parse(ra.stdout.trim().split('\n')[0] as string) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ digest: Record<string, string> }> };
    expect([statement.predicateType, statement.subject[0]?.digest['sha256']]).toEqual([CYCLONEDX, image.digest.slice(7)]);
  });

  it('cosign signs and attests in the new bundle format there → lading verify, verify-attestation and tree find them', async () => {
    const name = 'cosign-signed';
    const image = await pushRandomImage(registry.host, name, '1.0.0');
    const ref = `${registry.host}/${name}:1.0.0`;
    expectOk(await cosign(['sign', '--key', ladingKey.key, ...OFFLINE_SIGN, '-a', 'env=staging', ref], { cwd: dir, password: LADING_PASS }), 'cosign sign');
    expectOk(await cosign(['attest', '--key', ladingKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', ...OFFLINE_SIGN, ref], { cwd: dir, password: LADING_PASS }), 'cosign attest');
    const listed = await apiReferrers(name, image.digest);
    expect(listed).toHaveLength(2);

    const v = await verify(ref, { key: ladingKey.pub, annotations: { env: 'staging' } });
    expect(v.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest']])).toEqual([['bundle', image.digest]]);
    const cli = await lading(['verify', '--key', ladingKey.pub, '-a', 'env=staging', ref], { cwd: dir });
    expectOk(cli, 'lading verify');
    const wrong = await lading(['verify', '--key', cosignKey.pub, ref], { cwd: dir });
    expect(wrong.code).toBe(1);

    const va = await verifyAttestation(ref, { key: ladingKey.pub, type: 'cyclonedx' });
    expect(va.attestations.map((x) => [x.format, x.predicateType, x.statement.subject[0]?.digest['sha256']])).toEqual([['bundle', CYCLONEDX, image.digest.slice(7)]]);
    expectOk(await lading(['verify-attestation', '--key', ladingKey.pub, '--type', 'cyclonedx', ref], { cwd: dir }), 'lading verify-attestation');

    const t = await lading(['tree', '-o', 'json', ref], { cwd: dir });
    expectOk(t, 'lading tree');
    const treeOut = JSON.parse(t.stdout) as TreeJson;
    expect(treeOut.referrers.map((r) => r.digest).sort()).toEqual(listed);
    expect(treeOut.referrers.map((r) => r.artifactType).sort()).toEqual([CYCLONEDX, COSIGN_SIGN_PREDICATE_TYPE].sort());
  });

  it('other referrers of the image are shown by tree and skipped by verify', async () => {
    const name = 'mixed';
    const image = await pushRandomImage(registry.host, name, '1.0.0');
    const ref = `${registry.host}/${name}:1.0.0`;
    const other = await pushReferrer(repo(registry.host, name), image, 'application/vnd.example.sbom');
    await sign(ref, { key: ladingKey.key, password: LADING_PASS, format: 'bundle' });
    expect(await apiReferrers(name, image.digest)).toHaveLength(2);

    const v = await verify(ref, { key: ladingKey.pub });
    expect(v.signatures.map((s) => s.format)).toEqual(['bundle']);
    const t = await lading(['tree', '-o', 'json', ref], { cwd: dir });
    expectOk(t, 'lading tree');
    const treeOut = JSON.parse(t.stdout) as TreeJson;
    expect(treeOut.referrers.map((r) => r.artifactType).sort()).toEqual(['application/vnd.example.sbom', COSIGN_SIGN_PREDICATE_TYPE].sort());
    expect(treeOut.referrers.find((r) => r.artifactType === 'application/vnd.example.sbom')?.digest).toBe(other.digest);
    expectOk(await cosign(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign verify (with another referrer present)');
  });
});
