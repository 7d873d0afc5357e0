// lading signing and verification against a real registry (Debian's docker-registry, distribution
// 2.8, which has no OCI referrers API: bundles go through the referrers tag fallback).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descriptorFor, fetchManifest, MediaTypes, pushManifest, referrersTag, type Descriptor, type ImageIndex, type ImageManifest } from '../../src/oci/index.js';
import { attachmentTag, attest, generateKeyPair, isSignError, sign, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, tree, verify, verifyArtifact, verifyAttestation } from '../../src/sign/index.js';
import { startFaultProxy } from '../env/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { lading, pushRandomImage, pushRandomIndex, repo, tempDir } from './helpers.js';

let registry: RunningRegistry;
let dir: string;
const env = (): NodeJS.ProcessEnv => ({ LADING_PASSWORD: 'test-pass', HOME: dir });

beforeAll(async () => {
  registry = await startRegistry({ flavor: 'distribution2' });
  dir = tempDir();
  await generateKeyPair({ dir, password: 'test-pass' });
  await generateKeyPair({ dir, outputKeyPrefix: 'other', password: 'other-pass' });
});

afterAll(async () => {
  await registry?.stop();
});

async function expectSignError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail').toBeDefined();
  expect(isSignError(err) ? err.code : String(err)).toBe(code);
  expect((err as Error).message).toMatch(message);
}

async function sigManifest(name: string, digest: string): Promise<ImageManifest> {
  return (await fetchManifest(repo(registry.host, name), attachmentTag(digest, 'sig'))).manifest as ImageManifest;
}

describe('classic signatures', () => {
  it('sign then verify, with cosign-shaped output', async () => {
    const image = await pushRandomImage(registry.host, 'classic', '1.0.0');
    const ref = `${registry.host}/classic:1.0.0`;
    // cosign's offline flags are accepted, so cosign command lines work unchanged.
    const s = await lading(['sign', '--key', 'cosign.key', '-y', '--tlog-upload=false', '--use-signing-config=false', ref], { cwd: dir, env: env() });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toContain(`Pushing signature to: ${registry.host}/classic`);

    const m = await sigManifest('classic', image.digest);
    expect(m.mediaType).toBe(MediaTypes.ociManifest);
    expect(m.layers).toHaveLength(1);
    expect(m.layers[0]?.mediaType).toBe(SIMPLE_SIGNING_MEDIA_TYPE);
    expect(m.layers[0]?.annotations?.[SIGNATURE_ANNOTATION]).toMatch(/^[A-Za-z0-9+/]+=*$/);

    const v = await lading(['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog=true', ref], { cwd: dir, env: env() });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toBe(
      `\nVerification for ${ref} --\nThe following checks were performed on each of these signatures:\n` +
        '  - The cosign claims were validated\n  - The signatures were verified against the specified public key\n',
    );
    expect(v.stdout.endsWith('\n')).toBe(true);
    expect(v.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(v.stdout)).toEqual([
      {
        critical: { identity: { 'docker-reference': `${registry.host}/classic` }, image: { 'docker-manifest-digest': image.digest }, type: 'cosign container image signature' },
        optional: null,
      },
    ]);
  });

  it('signing again with the same key adds nothing; new annotations add a signature', async () => {
    const image = await pushRandomImage(registry.host, 'resign', '1');
    const ref = `${registry.host}/resign:1`;
    const key = join(dir, 'cosign.key');
    const first = await sign(ref, { key, password: 'test-pass' });
    expect(first.signatures.map((s) => s.created)).toEqual([true]);
    const again = await sign(ref, { key, password: 'test-pass' });
    expect(again.signatures.map((s) => s.created)).toEqual([false]);
    expect((await sigManifest('resign', image.digest)).layers).toHaveLength(1);
    await sign(ref, { key, password: 'test-pass', annotations: { env: 'prod' } });
    await sign(ref, { key, password: 'test-pass', annotations: { env: 'prod' } });
    expect((await sigManifest('resign', image.digest)).layers).toHaveLength(2);
    // Another key appends to the same signature image.
    await sign(ref, { key: join(dir, 'other.key'), password: 'other-pass' });
    expect((await sigManifest('resign', image.digest)).layers).toHaveLength(3);

    const withAnnotation = await verify(ref, { key: join(dir, 'cosign.pub'), annotations: { env: 'prod' } });
    expect(withAnnotation.signatures).toHaveLength(1);
    expect(withAnnotation.checks[0]).toBe('The specified annotations were verified.');
    await expectSignError(verify(ref, { key: join(dir, 'cosign.pub'), annotations: { env: 'dev' } }), 'NO_MATCHING_SIGNATURES', /missing or incorrect annotation/);
  });

  it('exit 1 with a precise reason: no signatures, wrong key', async () => {
    await pushRandomImage(registry.host, 'unsigned', '1');
    const none = await lading(['verify', '--key', 'cosign.pub', `${registry.host}/unsigned:1`], { cwd: dir, env: env() });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`✗ verifying ${registry.host}/unsigned:1: no signatures found\n`);
    expect(none.stdout).toBe('');

    await pushRandomImage(registry.host, 'wrongkey', '1');
    await sign(`${registry.host}/wrongkey:1`, { key: join(dir, 'other.key'), password: 'other-pass' });
    const wrong = await lading(['verify', '--key', 'cosign.pub', `${registry.host}/wrongkey:1`], { cwd: dir, env: env() });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/no matching signatures: .*\.sig layer sha256:[0-9a-f]{64}: the signature does not verify with the key .*cosign\.pub/);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('rejects a tampered payload and a signature for another digest', async () => {
    const image = await pushRandomImage(registry.host, 'tamper', '1');
    const ref = `${registry.host}/tamper:1`;
    await sign(ref, { key: join(dir, 'cosign.key'), password: 'test-pass' });
    const storage = repo(registry.host, 'tamper');
    const m = await sigManifest('tamper', image.digest);
    const layer = m.layers[0] as Descriptor;
    const payload = await storage.fetchBytes(layer);
    const tampered = Buffer.from(payload.toString('utf8').replace('"optional":null', '"optional":{"evil":"yes"}'));
    const tamperedDesc = descriptorFor(layer.mediaType, tampered, { annotations: layer.annotations ?? {} });
    await storage.push(tamperedDesc, tampered);
    await pushManifest(storage, { ...m, layers: [tamperedDesc] }, { tag: attachmentTag(image.digest, 'sig') });
    await expectSignError(verify(ref, { key: join(dir, 'cosign.pub') }), 'NO_MATCHING_SIGNATURES', /the signature does not verify/);

    // A valid signature of image A, copied under image B's .sig tag, names A's digest.
    const other = await pushRandomImage(registry.host, 'tamper', '2');
    await pushManifest(storage, m, { tag: attachmentTag(other.digest, 'sig') });
    await expectSignError(verify(`${registry.host}/tamper:2`, { key: join(dir, 'cosign.pub') }), 'NO_MATCHING_SIGNATURES', new RegExp(`the signature is for ${image.digest}, not ${other.digest}`));
  });

  it('rejects a layer corrupted in transit and a malformed signature manifest', async () => {
    const image = await pushRandomImage(registry.host, 'corrupt', '1');
    await sign(`${registry.host}/corrupt:1`, { key: join(dir, 'cosign.key'), password: 'test-pass' });
    const layer = (await sigManifest('corrupt', image.digest)).layers[0] as Descriptor;
    const proxy = await startFaultProxy(registry.url);
    try {
      proxy.inject({ method: 'GET', path: new RegExp(`/blobs/${layer.digest}$`), fault: { kind: 'corrupt' }, times: 1000 });
      const r = await lading(['verify', '--key', 'cosign.pub', `${proxy.host}/corrupt:1`], { cwd: dir, env: env() });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`layer ${layer.digest}: fetching the signed payload: .*(digest|mismatch)`, 'i'));
    } finally {
      await proxy.stop();
    }
    // The .sig tag names an index instead of an image.
    const storage = repo(registry.host, 'corrupt');
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [image] };
    await pushManifest(storage, index, { tag: attachmentTag(image.digest, 'sig') });
    const r = await lading(['verify', '--key', 'cosign.pub', `${registry.host}/corrupt:1`], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.sig in oci:\/\/.*\/corrupt is not an image manifest \(no layers\)/);
  });

  it('a .sig manifest with 1000 layers is examined; 1001 are refused', async () => {
    const image = await pushRandomImage(registry.host, 'many', '1');
    const storage = repo(registry.host, 'many');
    const junk = Buffer.from('{"critical":{}}');
    const junkDesc = descriptorFor(SIMPLE_SIGNING_MEDIA_TYPE, junk, { annotations: { [SIGNATURE_ANNOTATION]: 'MEUCIQ==' } });
    await storage.push(junkDesc, junk);
    const config = Buffer.from('{}');
    const configDesc = descriptorFor(MediaTypes.ociConfig, config);
    await storage.push(configDesc, config);
    const manifest = (n: number): ImageManifest => ({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: Array.from({ length: n }, () => junkDesc) });
    await pushManifest(storage, manifest(1000), { tag: attachmentTag(image.digest, 'sig') });
    await expectSignError(verify(`${registry.host}/many:1`, { key: join(dir, 'cosign.pub') }), 'NO_MATCHING_SIGNATURES', /does not verify .*; and 995 more$/);
    await pushManifest(storage, manifest(1001), { tag: attachmentTag(image.digest, 'sig') });
    const r = await lading(['verify', '--key', 'cosign.pub', `${registry.host}/many:1`], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.sig in oci:\/\/.*\/many has 1001 layers, more than the 1000 allowed\n$/);
    // The oversized .sig image does not hide a valid bundle signature.
    await sign(`${registry.host}/many:1`, { key: join(dir, 'cosign.key'), password: 'test-pass', format: 'bundle' });
    const v = await verify(`${registry.host}/many:1`, { key: join(dir, 'cosign.pub') });
    expect(v.signatures.map((s) => s.format)).toEqual(['bundle']);
    expect(v.rejected.map((x) => x.reason)).toEqual([expect.stringMatching(/has 1001 layers/)]);
  });

  it('--recursive signs an index and each manifest it lists', async () => {
    const { index, children } = await pushRandomIndex(registry.host, 'multi', '1');
    const result = await sign(`${registry.host}/multi:1`, { key: join(dir, 'cosign.key'), password: 'test-pass', recursive: true });
    expect(result.signatures.map((s) => s.digest)).toEqual([index.digest, ...children.map((c) => c.digest)]);
    for (const child of children) {
      const v = await verify(`${registry.host}/multi@${child.digest}`, { key: join(dir, 'cosign.pub') });
      expect(v.signatures).toHaveLength(1);
    }
  });
});

describe('bundle signatures (OCI 1.1 referrers, tag fallback)', () => {
  it('signs as a referrer through the fallback tag; verify accepts it; re-signing adds nothing', async () => {
    const image = await pushRandomImage(registry.host, 'bundle', '1.0.0');
    const ref = `${registry.host}/bundle:1.0.0`;
    const s = await lading(['sign', '--key', 'cosign.key', '--format', 'bundle', '-a', 'team=platform', ref], { cwd: dir, env: env() });
    expect(s.code, s.stderr).toBe(0);

    const storage = repo(registry.host, 'bundle');
    const fallback = (await fetchManifest(storage, referrersTag(image.digest))).manifest as ImageIndex;
    expect(fallback.manifests).toHaveLength(1);
    expect(fallback.manifests[0]?.artifactType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    const referrer = (await fetchManifest(storage, fallback.manifests[0] as Descriptor)).manifest as ImageManifest;
    expect(referrer.subject?.digest).toBe(image.digest);
    expect(referrer.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
    expect(referrer.annotations?.['dev.sigstore.bundle.predicateType']).toBe('https://sigstore.dev/cosign/sign/v1');
    const bundle = JSON.parse((await storage.fetchBytes(referrer.layers[0] as Descriptor)).toString('utf8')) as {
      mediaType: string;
      verificationMaterial: { publicKey: { hint: string } };
      dsseEnvelope: { payload: string; payloadType: string; signatures: Array<{ keyid: string }> };
    };
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.publicKey.hint).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(bundle.dsseEnvelope.signatures[0]?.keyid).toBe('');
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as Record<string, unknown>;
    expect(statement).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: image.digest.slice(7) }, annotations: { team: 'platform' } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    });

    const v = await lading(['verify', '--key', 'cosign.pub', '-a', 'team=platform', ref], { cwd: dir, env: env() });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toEqual([
      { critical: { identity: { 'docker-reference': ref }, image: { 'docker-manifest-digest': image.digest }, type: 'https://sigstore.dev/cosign/sign/v1' }, optional: { team: 'platform' } },
    ]);

    const again = await sign(ref, { key: join(dir, 'cosign.key'), password: 'test-pass', format: 'bundle', annotations: { team: 'platform' } });
    expect(again.signatures[0]?.created).toBe(false);
    expect(((await fetchManifest(storage, referrersTag(image.digest))).manifest as ImageIndex).manifests).toHaveLength(1);

    await expectSignError(verify(ref, { key: join(dir, 'other.pub') }), 'NO_MATCHING_SIGNATURES', /@sha256:[0-9a-f]{64}: the signature does not verify with the key/);
  });

  it('a referrers index pointing at missing content: reported, and other signatures still count', async () => {
    const image = await pushRandomImage(registry.host, 'dangling', '1');
    const ref = `${registry.host}/dangling:1`;
    const storage = repo(registry.host, 'dangling');
    // Two bundle referrers; then delete one's manifest and the other's bundle blob.
    await sign(ref, { key: join(dir, 'cosign.key'), password: 'test-pass', format: 'bundle' });
    await sign(ref, { key: join(dir, 'cosign.key'), password: 'test-pass', format: 'bundle', annotations: { n: '2' } });
    const listed = ((await fetchManifest(storage, referrersTag(image.digest))).manifest as ImageIndex).manifests;
    expect(listed).toHaveLength(2);
    const [gone, broken] = listed as [Descriptor, Descriptor];
    const brokenManifest = (await fetchManifest(storage, broken)).manifest as ImageManifest;
    // Straight at the registry API: the lading client would also drop the index entry.
    for (const [kind, digest] of [['manifests', gone.digest], ['blobs', (brokenManifest.layers[0] as Descriptor).digest]]) {
      const res = await fetch(`${registry.url}/v2/dangling/${kind}/${digest}`, { method: 'DELETE' });
      expect(res.status).toBe(202);
    }

    const err = await verify(ref, { key: join(dir, 'cosign.pub') }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isSignError(err) && err.code).toBe('NO_MATCHING_SIGNATURES');
    expect(err?.message).toMatch(new RegExp(`@${gone.digest}: .*(not found|unknown)`, 'i'));
    expect(err?.message).toMatch(new RegExp(`@${broken.digest}: .*(not found|unknown)`, 'i'));
    const t = await tree(ref);
    expect(t.referrers.find((r) => r.digest === gone.digest)?.error).toMatch(/not found|unknown/i);

    await sign(ref, { key: join(dir, 'cosign.key'), password: 'test-pass' });
    const v = await verify(ref, { key: join(dir, 'cosign.pub') });
    expect(v.signatures.map((s) => s.format)).toEqual(['classic']);
    expect(v.rejected).toHaveLength(2);
  });

  it('when listing referrers fails, classic signatures still verify and the failure is reported', async () => {
    const image = await pushRandomImage(registry.host, 'noreferrers', '1');
    await sign(`${registry.host}/noreferrers:1`, { key: join(dir, 'cosign.key'), password: 'test-pass' });
    const proxy = await startFaultProxy(registry.url);
    try {
      proxy.inject({ path: /\/referrers\//, fault: { kind: 'status', status: 500 }, times: 1000 });
      proxy.inject({ path: new RegExp(`/manifests/${referrersTag(image.digest)}$`), fault: { kind: 'status', status: 403, body: '{"errors":[{"code":"DENIED","message":"no"}]}' }, times: 1000 });
      const ref = `${proxy.host}/noreferrers:1`;
      const v = await verify(ref, { key: join(dir, 'cosign.pub'), registry: { retries: 0 } });
      expect(v.signatures.map((s) => s.format)).toEqual(['classic']);
      expect(v.rejected.map((r) => r.source)).toEqual([`referrers of ${proxy.host}/noreferrers@${image.digest}`]);
      expect(proxy.requests.some((r) => r.fault !== undefined)).toBe(true);
      // Nothing verifies with the other key: the error carries the listing failure too.
      await expectSignError(verify(ref, { key: join(dir, 'other.pub'), registry: { retries: 0 } }), 'NO_MATCHING_SIGNATURES', /referrers of .*: .*(500|403|denied)/i);
    } finally {
      await proxy.stop();
    }
  });

  it('verifyArtifact accepts oci:// references and returns the verified digest', async () => {
    const image = await pushRandomImage(registry.host, 'artifact', 'v1');
    await sign(`oci://${registry.host}/artifact:v1`.replace('oci://', ''), { key: join(dir, 'cosign.key'), password: 'test-pass', format: 'bundle' });
    const v = await verifyArtifact(`oci://${registry.host}/artifact:v1`, { key: join(dir, 'cosign.pub') });
    expect(v.digest).toBe(image.digest);
  });
});

describe('classic and bundle together', () => {
  it('classic signatures first, then bundles; classic ones are checked while bundles are still being listed', async () => {
    await pushRandomImage(registry.host, 'both', '1');
    const ref = `${registry.host}/both:1`;
    const key = join(dir, 'cosign.key');
    const pub = join(dir, 'cosign.pub');
    await sign(ref, { key, password: 'test-pass', format: 'bundle' });
    await sign(ref, { key, password: 'test-pass' });
    await sign(ref, { key: join(dir, 'other.key'), password: 'other-pass' });
    const v = await verify(ref, { key: pub });
    expect(v.signatures.map((s) => s.format)).toEqual(['classic', 'bundle']);
    expect(v.rejected.map((r) => r.format)).toEqual(['classic']);
    writeFileSync(join(dir, 'both.json'), '{"a":1}');
    await attest(ref, { key, password: 'test-pass', predicate: join(dir, 'both.json'), format: 'bundle' });
    await attest(ref, { key, password: 'test-pass', predicate: join(dir, 'both.json') });
    const a = await verifyAttestation(ref, { key: pub });
    expect(a.attestations.map((s) => s.format)).toEqual(['classic', 'bundle']);

    // The bundle listing (referrers API, then the referrers tag) never answers: the classic
    // payloads are fetched all the same.
    const proxy = await startFaultProxy(registry.url);
    try {
      const proxied = `${proxy.host}/both:1`;
      const runs: Array<(signal: AbortSignal) => Promise<unknown>> = [
        (signal) => verify(proxied, { key: pub, signal, registry: { retries: 0 } }),
        (signal) => verifyAttestation(proxied, { key: pub, signal, registry: { retries: 0 } }),
      ];
      for (const run of runs) {
        proxy.reset();
        proxy.inject({ path: /\/referrers\/|\/manifests\/sha256-[0-9a-f]{64}$/, fault: { kind: 'stall' }, times: 1000 });
        const controller = new AbortController();
        const pending = run(controller.signal);
        pending.catch(() => undefined);
        // The listing may reach the proxy after the payload (it opens a connection of its own):
        // both must be seen, the listing stalled and the payload fetched all the same.
        const seen = () => proxy.requests.some((r) => r.path.includes('/blobs/')) && proxy.requests.some((r) => r.fault === 'stall');
        for (let waited = 0; !seen(); waited += 20) {
          if (waited > 20_000) throw new Error(`no classic payload fetched while bundles are listed: ${proxy.requests.map((r) => `${r.path} ${r.fault ?? ''}`).join(', ')}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        controller.abort();
        await expect(pending).rejects.toThrow();
      }
    } finally {
      await proxy.stop();
    }
  });

  it('a key error comes before a registry error', async () => {
    // Nothing listens on port 1, and the key does not exist: the key is what is reported.
    await expectSignError(verify('127.0.0.1:1/nothing:1', { key: join(dir, 'missing.pub') }), 'KEY_INVALID', /missing\.pub/);
    await expectSignError(verifyAttestation('127.0.0.1:1/nothing:1', { key: join(dir, 'missing.pub') }), 'KEY_INVALID', /missing\.pub/);
  });
});

describe('attestations and tree', () => {
  it('attest in both formats, verify-attestation filters by type, tree shows everything', async () => {
    const image = await pushRandomImage(registry.host, 'att', '1');
    const ref = `${registry.host}/att:1`;
    writeFileSync(join(dir, 'sbom.json'), JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', components: [] }));
    writeFileSync(join(dir, 'vex.json'), JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [] }));
    writeFileSync(join(dir, 'notes.txt'), 'built on a Tuesday');
    const run = (args: string[]) => lading(args, { cwd: dir, env: env() });
    expect((await run(['attest', '--key', 'cosign.key', '--type', 'cyclonedx', '--predicate', 'sbom.json', ref])).code).toBe(0);
    expect((await run(['attest', '--key', 'cosign.key', '--type', 'openvex', '--predicate', 'vex.json', '--format', 'bundle', ref])).code).toBe(0);
    expect((await run(['attest', '--key', 'cosign.key', '--predicate', 'notes.txt', ref])).code).toBe(0);
    expect((await run(['sign', '--key', 'cosign.key', '--format', 'bundle', ref])).code).toBe(0);

    // No --type means custom, as cosign: only the custom statement, not the SBOM, VEX or signature.
    const byDefault = await run(['verify-attestation', '--key', 'cosign.pub', ref]);
    expect(byDefault.code, byDefault.stderr).toBe(0);
    const envelopes = byDefault.stdout.trim().split('\n').map((l) => JSON.parse(l) as { payload: string; payloadType: string });
    const statements = envelopes.map((e) => JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as { predicateType: string; predicate: unknown; subject: unknown });
    expect(statements.map((s) => s.predicateType)).toEqual(['https://cosign.sigstore.dev/attestation/v1']);
    const custom = statements[0];
    expect((custom?.predicate as { Data: string }).Data).toBe('built on a Tuesday');
    expect(custom?.subject).toEqual([{ name: `${registry.host}/att`, digest: { sha256: image.digest.slice(7) } }]);
    for (const [type, uri] of [
      ['cyclonedx', 'https://cyclonedx.org/bom'],
      ['https://openvex.dev/ns', 'https://openvex.dev/ns'],
      ['custom', 'https://cosign.sigstore.dev/attestation/v1'],
    ] as const) {
      const v = await verifyAttestation(ref, { key: join(dir, 'cosign.pub'), type });
      expect(v.attestations.map((a) => a.predicateType), type).toEqual([uri]);
    }

    const vex = await run(['verify-attestation', '--key', 'cosign.pub', '--type', 'openvex', '-o', 'json', ref]);
    expect(vex.code, vex.stderr).toBe(0);
    const parsed = JSON.parse(vex.stdout) as Array<{ predicateType: string; format: string; statement: { predicate: unknown } }>;
    expect(parsed.map((a) => [a.predicateType, a.format])).toEqual([['https://openvex.dev/ns', 'bundle']]);
    expect(parsed[0]?.statement.predicate).toEqual({ '@context': 'https://openvex.dev/ns/v0.2.0', statements: [] });

    const none = await run(['verify-attestation', '--key', 'cosign.pub', '--type', 'slsaprovenance1', ref]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/none of the attestations matched the predicate type slsaprovenance1 \(https:\/\/slsa\.dev\/provenance\/v1\), found: /);
    const badType = await run(['verify-attestation', '--key', 'cosign.pub', '--type', 'not a type', ref]);
    expect(badType.code).toBe(1);
    expect(badType.stderr).toMatch(/invalid predicate type "not a type"/);
    const wrongKey = await run(['verify-attestation', '--key', 'other.pub', ref]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/no matching attestations: .*does not verify/);

    const t = await run(['tree', ref]);
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.split('\n');
    expect(lines[0]).toBe(`📦 Supply Chain Security Related artifacts for an image: ${ref}`);
    expect(t.stdout).toContain(`└── 💾 Attestations for an image tag: ${registry.host}/att:${attachmentTag(image.digest, 'att')}\n   ├── 🍒 sha256:`);
    expect(t.stdout).toMatch(/└── 🔗 https:\/\/openvex\.dev\/ns artifacts via OCI referrer: .*@sha256:[0-9a-f]{64}\n {3}└── 🍒 sha256:/);
    expect(t.stdout).toMatch(/└── 🔗 https:\/\/sigstore\.dev\/cosign\/sign\/v1 artifacts via OCI referrer/);
    const tj = await run(['tree', '-o', 'json', ref]);
    const data = JSON.parse(tj.stdout) as { digest: string; attachments: Array<{ kind: string; layers: unknown[] }>; referrers: unknown[] };
    expect(data.digest).toBe(image.digest);
    expect(data.attachments.map((a) => [a.kind, a.layers.length])).toEqual([['attestations', 2]]);
    expect(data.referrers).toHaveLength(2);
  });

  it('--replace drops earlier attestations of the same type (classic)', async () => {
    const image = await pushRandomImage(registry.host, 'replace', '1');
    const ref = `${registry.host}/replace:1`;
    writeFileSync(join(dir, 'v1.json'), '{"v":1}');
    writeFileSync(join(dir, 'v2.json'), '{"v":2}');
    const run = (args: string[]) => lading(args, { cwd: dir, env: env() });
    expect((await run(['attest', '--key', 'cosign.key', '--type', 'openvex', '--predicate', 'v1.json', ref])).code).toBe(0);
    expect((await run(['attest', '--key', 'cosign.key', '--type', 'cyclonedx', '--predicate', 'v1.json', ref])).code).toBe(0);
    expect((await run(['attest', '--key', 'cosign.key', '--type', 'openvex', '--predicate', 'v2.json', '--replace', ref])).code).toBe(0);
    const m = (await fetchManifest(repo(registry.host, 'replace'), attachmentTag(image.digest, 'att'))).manifest as ImageManifest;
    expect(m.layers.map((l) => l.annotations?.['predicateType'])).toEqual(['https://cyclonedx.org/bom', 'https://openvex.dev/ns']);
    const v = await verifyAttestation(ref, { key: join(dir, 'cosign.pub'), type: 'openvex' });
    expect(v.attestations.map((a) => a.statement.predicate)).toEqual([{ v: 2 }]);
    // Without --type only custom attestations count (cosign's default), and there are none.
    const byDefault = await run(['verify-attestation', '--key', 'cosign.pub', ref]);
    expect(byDefault.code).toBe(1);
    expect(byDefault.stdout).toBe('');
    expect(byDefault.stderr).toContain('none of the attestations matched the predicate type custom (https://cosign.sigstore.dev/attestation/v1), found: https://cyclonedx.org/bom, https://openvex.dev/ns');
  });

  it('a bad predicate names the file', async () => {
    await pushRandomImage(registry.host, 'badpred', '1');
    writeFileSync(join(dir, 'broken.json'), '{"a":');
    const r = await lading(['attest', '--key', 'cosign.key', '--type', 'spdxjson', '--predicate', 'broken.json', `${registry.host}/badpred:1`], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reading predicate .*broken\.json: not valid JSON/);
    const missing = await lading(['attest', '--key', 'cosign.key', '--predicate', 'nope.json', `${registry.host}/badpred:1`], { cwd: dir, env: env() });
    expect(missing.stderr).toMatch(/reading predicate .*nope\.json: no such file/);
    writeFileSync(join(dir, 'huge.json'), Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
    const huge = await lading(['attest', '--key', 'cosign.key', '--predicate', 'huge.json', `${registry.host}/badpred:1`], { cwd: dir, env: env() });
    expect(huge.code).toBe(1);
    expect(huge.stderr).toMatch(/reading predicate .*huge\.json: 16777217 bytes is over the 16777216-byte limit/);
  });
});

describe('CLI errors', () => {
  it('wrong password and corrupt key: one line, exit 1; missing --key: usage, exit 2', async () => {
    await pushRandomImage(registry.host, 'clierr', '1');
    const ref = `${registry.host}/clierr:1`;
    const wrong = await lading(['sign', '--key', 'cosign.key', ref], { cwd: dir, env: { LADING_PASSWORD: 'nope' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`✗ reading private key ${join(dir, 'cosign.key')}: incorrect password (or the key is corrupt)\n`);
    writeFileSync(join(dir, 'corrupt.key'), '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm9wZQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n');
    const corrupt = await lading(['sign', '--key', 'corrupt.key', ref], { cwd: dir, env: env() });
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(1);
    expect(corrupt.stderr).toMatch(/corrupt\.key: the encrypted key is not valid JSON/);
    const usage = await lading(['verify', ref], { cwd: dir, env: env() });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--key/);
    const help = await lading(['verify', '--help'], { cwd: dir, env: env() });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
  });
});
