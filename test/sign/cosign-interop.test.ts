// Interoperability with the real cosign v3 (built from Go modules by the test environment), both
// directions, offline (keys only: no Fulcio, no Rekor, no TUF), against real local registries.
// Key pairs cross over: lading signs with a key cosign generated and cosign signs with a key
// lading generated.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchManifest, type ImageManifest } from '../../src/oci/index.js';
import { attachmentTag, sign, verify, verifyAttestation } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { cosign, cosignPath, expectOk, interopKeys, lading, pushRandomImage, repo, tempDir } from './helpers.js';

const LADING_PASS = 'lading-made';
const COSIGN_PASS = 'cosign-made';

/** Flags that keep cosign v3 offline. */
const OFFLINE_SIGN = ['--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '-y'];
const OFFLINE_VERIFY = ['--insecure-ignore-tlog=true', '--allow-http-registry'];

let dir: string;
/** Made by lading: ladingKey.key / .pub */
let ladingKey: { key: string; pub: string };
/** Made by cosign: cosign.key / cosign.pub */
let cosignKey: { key: string; pub: string };

beforeAll(async () => {
  cosignPath(); // fails here, with how to build it, when cosign is missing
  dir = tempDir();
  ({ lading: ladingKey, cosign: cosignKey } = await interopKeys(dir, { lading: LADING_PASS, cosign: COSIGN_PASS }));
});

for (const flavor of ['distribution2', 'distribution3'] as const) {
  describe(`cosign v3 interop on ${flavor}`, () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry({ flavor });
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('lading signs (classic, the default) → cosign verify --key accepts; cosign-made key', async () => {
      const image = await pushRandomImage(registry.host, 'l-classic', '1.0.0');
      const ref = `${registry.host}/l-classic:1.0.0`;
      await sign(ref, { key: cosignKey.key, password: COSIGN_PASS, annotations: { env: 'prod' } });
      const r = await cosign(['verify', '--key', cosignKey.pub, ...OFFLINE_VERIFY, '-a', 'env=prod', ref], { cwd: dir });
      expectOk(r, 'cosign verify');
      expect(r.stderr).toContain('The signatures were verified against the specified public key');
      const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string> }; optional: Record<string, string> }>;
      expect(out).toHaveLength(1);
      expect(out[0]?.critical.image['docker-manifest-digest']).toBe(image.digest);
      expect(out[0]?.optional).toEqual({ env: 'prod' });
      // The other key must not verify (the test is not vacuous).
      const wrong = await cosign(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(wrong.code).not.toBe(0);
    });

    it('lading signs (bundle) → cosign verify --key accepts; lading-made key', async () => {
      const image = await pushRandomImage(registry.host, 'l-bundle', '1.0.0');
      const ref = `${registry.host}/l-bundle:1.0.0`;
      await sign(ref, { key: ladingKey.key, password: LADING_PASS, format: 'bundle' });
      const r = await cosign(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expectOk(r, 'cosign verify');
      const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string>; type: string } }>;
      expect(out.map((o) => [o.critical.image['docker-manifest-digest'], o.critical.type])).toEqual([[image.digest, 'https://sigstore.dev/cosign/sign/v1']]);
      const wrong = await cosign(['verify', '--key', cosignKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(wrong.code).not.toBe(0);
    });

    it('cosign signs classic (--new-bundle-format=false) with a lading-made key → lading verifies', async () => {
      const image = await pushRandomImage(registry.host, 'c-classic', '1.0.0');
      const ref = `${registry.host}/c-classic:1.0.0`;
      expectOk(await cosign(['sign', '--key', ladingKey.key, '--new-bundle-format=false', ...OFFLINE_SIGN, '-a', 'team=platform', ref], { cwd: dir, password: LADING_PASS }), 'cosign sign');
      const m = (await fetchManifest(repo(registry.host, 'c-classic'), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
      expect(m.layers).toHaveLength(1);

      const v = await lading(['verify', '--key', ladingKey.pub, '-a', 'team=platform', ref], { cwd: dir });
      expectOk(v, 'lading verify');
      const out = JSON.parse(v.stdout) as Array<{ critical: { image: Record<string, string> }; optional: Record<string, string> }>;
      expect(out.map((o) => o.critical.image['docker-manifest-digest'])).toEqual([image.digest]);
      expect(out[0]?.optional).toEqual({ team: 'platform' });
      const wrong = await lading(['verify', '--key', cosignKey.pub, ref], { cwd: dir });
      expect(wrong.code).toBe(1);

      // lading's payload is byte-identical to cosign's: signing again with that key adds nothing.
      const again = await sign(ref, { key: ladingKey.key, password: LADING_PASS, annotations: { team: 'platform' } });
      expect(again.signatures[0]?.created).toBe(false);
      // And cosign appends to a lading-extended signature image without complaint.
      await sign(ref, { key: cosignKey.key, password: COSIGN_PASS });
      expectOk(await cosign(['verify', '--key', cosignKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign verify (appended)');
      const m2 = (await fetchManifest(repo(registry.host, 'c-classic'), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
      expect(m2.layers).toHaveLength(2);
    });

    it('cosign signs classic with Docker media types (as older cosign did) → lading verifies and appends', async () => {
      const image = await pushRandomImage(registry.host, 'c-docker', '1.0.0');
      const ref = `${registry.host}/c-docker:1.0.0`;
      expectOk(
        await cosign(['sign', '--key', cosignKey.key, '--new-bundle-format=false', ...OFFLINE_SIGN, ref], { cwd: dir, password: COSIGN_PASS, env: { COSIGN_DOCKER_MEDIA_TYPES: '1' } }),
        'cosign sign (docker media types)',
      );
      const before = await fetchManifest(repo(registry.host, 'c-docker'), attachmentTag(image.digest, 'sig'));
      expect(before.descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      const v = await verify(ref, { key: cosignKey.pub });
      expect(v.signatures.map((s) => s.payload.critical.image['docker-manifest-digest'])).toEqual([image.digest]);
      await sign(ref, { key: ladingKey.key, password: LADING_PASS });
      expectOk(await cosign(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign verify (lading appended)');
      expectOk(await cosign(['verify', '--key', cosignKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign verify (original kept)');
    });

    it('cosign signs in the new bundle format (v3 default) → lading verifies', async () => {
      const image = await pushRandomImage(registry.host, 'c-bundle', '1.0.0');
      const ref = `${registry.host}/c-bundle:1.0.0`;
      expectOk(await cosign(['sign', '--key', cosignKey.key, ...OFFLINE_SIGN, '-a', 'env=staging', ref], { cwd: dir, password: COSIGN_PASS }), 'cosign sign');
      const v = await verify(ref, { key: cosignKey.pub, annotations: { env: 'staging' } });
      expect(v.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest']])).toEqual([['bundle', image.digest]]);
      const tree = await lading(['tree', '-o', 'json', ref], { cwd: dir });
      expectOk(tree, 'lading tree');
      expect((JSON.parse(tree.stdout) as { referrers: Array<{ artifactType: string }> }).referrers.map((r) => r.artifactType)).toEqual(['https://sigstore.dev/cosign/sign/v1']);
    });

    it('attestations: lading attests (classic and bundle) → cosign verify-attestation accepts', async () => {
      for (const format of ['classic', 'bundle'] as const) {
        const name = `l-att-${format}`;
        const image = await pushRandomImage(registry.host, name, '1.0.0');
        const ref = `${registry.host}/${name}:1.0.0`;
        const a = await lading(['attest', '--key', cosignKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', format, ref], { cwd: dir, env: { COSIGN_PASSWORD: COSIGN_PASS } });
        expectOk(a, `lading attest (${format})`);
        const r = await cosign(['verify-attestation', '--key', cosignKey.pub, ...OFFLINE_VERIFY, '--type', 'cyclonedx', ref], { cwd: dir });
        expectOk(r, `cosign verify-attestation (${format})`);
        const envelope = JSON.parse(r.stdout.trim().split('\n')[0] as string) as { payload: string };
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ digest: Record<string, string> }>; predicate: { components: unknown[] } };
        expect(statement.predicateType).toBe('https://cyclonedx.org/bom');
        expect(statement.subject[0]?.digest['sha256']).toBe(image.digest.slice(7));
        expect(statement.predicate.components).toHaveLength(1);
        const wrong = await cosign(['verify-attestation', '--key', ladingKey.pub, ...OFFLINE_VERIFY, '--type', 'cyclonedx', ref], { cwd: dir });
        expect(wrong.code).not.toBe(0);
      }
    });

    it('attestations: cosign attests (classic and bundle) with a lading-made key → lading verify-attestation accepts', async () => {
      for (const [name, flags] of [
        ['c-att', ['--new-bundle-format=false']],
        ['c-att-b', []],
      ] as const) {
        const image = await pushRandomImage(registry.host, name, '1.0.0');
        const ref = `${registry.host}/${name}:1.0.0`;
        expectOk(await cosign(['attest', '--key', ladingKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', ...flags, ...OFFLINE_SIGN, ref], { cwd: dir, password: LADING_PASS }), `cosign attest ${name}`);
        const v = await verifyAttestation(ref, { key: ladingKey.pub, type: 'cyclonedx' });
        expect(v.attestations.map((a) => [a.format, a.predicateType])).toEqual([[flags.length ? 'classic' : 'bundle', 'https://cyclonedx.org/bom']]);
        expect(v.attestations[0]?.statement.subject[0]?.digest['sha256']).toBe(image.digest.slice(7));
        const cli = await lading(['verify-attestation', '--key', ladingKey.pub, '--type', 'cyclonedx', ref], { cwd: dir });
        expectOk(cli, 'lading verify-attestation');
        const wrong = await lading(['verify-attestation', '--key', cosignKey.pub, '--type', 'cyclonedx', ref], { cwd: dir });
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toMatch(/no matching attestations: .*the signature does not verify with the key .*cosign\.pub \(ECDSA P-256\)\n$/);
      }
    });

    it('verify-attestation without --type keeps only custom attestations, as cosign (classic and bundle)', async () => {
      writeFileSync(join(dir, 'notes.txt'), 'built on a Tuesday');
      for (const format of ['classic', 'bundle'] as const) {
        const name = `att-default-${format}`;
        await pushRandomImage(registry.host, name, 'both');
        const both = `${registry.host}/${name}:both`;
        const env = { COSIGN_PASSWORD: COSIGN_PASS };
        expectOk(await lading(['attest', '--key', cosignKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', format, both], { cwd: dir, env }), 'lading attest cyclonedx');
        expectOk(await lading(['attest', '--key', cosignKey.key, '--predicate', 'notes.txt', '--format', format, both], { cwd: dir, env }), 'lading attest custom');
        const predicateTypes = (stdout: string) => stdout.trim().split('\n').map((line) => (JSON.parse(Buffer.from((JSON.parse(line) as { payload: string }).payload, 'base64').toString('utf8')) as { predicateType: string }).predicateType);
        const c = await cosign(['verify-attestation', '--key', cosignKey.pub, ...OFFLINE_VERIFY, both], { cwd: dir });
        expectOk(c, `cosign verify-attestation (${format})`);
        const l = await lading(['verify-attestation', '--key', cosignKey.pub, both], { cwd: dir });
        expectOk(l, `lading verify-attestation (${format})`);
        expect(predicateTypes(c.stdout)).toEqual(['https://cosign.sigstore.dev/attestation/v1']);
        expect(predicateTypes(l.stdout)).toEqual(predicateTypes(c.stdout));

        // Only an SBOM: both refuse, naming the type they looked for and the one they found.
        await pushRandomImage(registry.host, name, 'sbom');
        const sbom = `${registry.host}/${name}:sbom`;
        expectOk(await lading(['attest', '--key', cosignKey.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', format, sbom], { cwd: dir, env }), 'lading attest cyclonedx');
        const cNone = await cosign(['verify-attestation', '--key', cosignKey.pub, ...OFFLINE_VERIFY, sbom], { cwd: dir });
        expect(cNone.code).not.toBe(0);
        expect(cNone.stderr).toContain('none of the attestations matched the predicate type: custom, found: https://cyclonedx.org/bom');
        const lNone = await lading(['verify-attestation', '--key', cosignKey.pub, sbom], { cwd: dir });
        expect(lNone.code).toBe(1);
        expect(lNone.stdout).toBe('');
        expect(lNone.stderr).toContain('none of the attestations matched the predicate type custom (https://cosign.sigstore.dev/attestation/v1), found: https://cyclonedx.org/bom');
      }
    });

    it('RSA-2048 and ECDSA P-384 keys imported by cosign: each tool verifies the other (P-384 signs with SHA-384, as cosign)', async () => {
      const pairs = {
        rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
        p384: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
      };
      for (const [alg, privateKey] of Object.entries(pairs)) {
        writeFileSync(join(dir, `${alg}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
        expectOk(await cosign(['import-key-pair', '--key', `${alg}.pem`, '--output-key-prefix', `imported-${flavor}-${alg}`], { cwd: dir, password: 'imp' }), `cosign import-key-pair ${alg}`);
        const key = join(dir, `imported-${flavor}-${alg}.key`);
        const pub = join(dir, `imported-${flavor}-${alg}.pub`);
        const digestFlags = alg === 'p384' ? ['--signature-digest-algorithm', 'sha384'] : [];

        const image = await pushRandomImage(registry.host, `imported-${alg}`, '1');
        const ref = `${registry.host}/imported-${alg}:1`;
        await sign(ref, { key, password: 'imp' });
        expectOk(await cosign(['verify', '--key', pub, ...digestFlags, ...OFFLINE_VERIFY, ref], { cwd: dir }), `cosign verify ${alg}`);

        const other = await pushRandomImage(registry.host, `imported-${alg}`, '2');
        const otherRef = `${registry.host}/imported-${alg}:2`;
        expectOk(await cosign(['sign', '--key', key, '--new-bundle-format=false', ...OFFLINE_SIGN, otherRef], { cwd: dir, password: 'imp' }), `cosign sign ${alg}`);
        const v = await verify(otherRef, { key: pub });
        expect(v.signatures.map((s) => s.payload.critical.image['docker-manifest-digest'])).toEqual([other.digest]);
        expect(image.digest).not.toBe(other.digest);
      }
    });

    it('cosign tree lists what lading attached', async () => {
      const image = await pushRandomImage(registry.host, 'tree', '1.0.0');
      const ref = `${registry.host}/tree:1.0.0`;
      await sign(ref, { key: ladingKey.key, password: LADING_PASS });
      const r = await cosign(['tree', '--allow-http-registry', ref], { cwd: dir });
      expectOk(r, 'cosign tree');
      expect(r.stdout).toContain(`Signatures for an image tag: ${registry.host}/tree:${attachmentTag(image.digest, 'sig')}`);
    });
  });
}
