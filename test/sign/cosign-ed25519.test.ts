// Ed25519 keys with the real cosign v3, both directions, offline, against a real registry.
//
// cosign v3.1.3 signs images and attestations with an Ed25519 key using Ed25519ph (RFC 8032,
// pre-hashed: pkg/cosign/keys.go GetDefaultLoadOptions), but `cosign verify --key` and
// `verify-attestation --key` load the public key with signature.LoadVerifier, which checks plain
// Ed25519 — so cosign rejects its own Ed25519 signatures. These tests pin that behaviour, and
// show lading verifying both schemes and signing the plain Ed25519 that cosign does verify.
import { generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchManifest, type ImageManifest } from '../../src/oci/index.js';
import { attachmentTag, loadPrivateKey, loadPublicKey, sign, SIGNATURE_ANNOTATION, verify } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { cosign, cosignPath, expectOk, lading, pushRandomImage, repo, tempDir } from './helpers.js';

const PASS = 'ed-pass';
const OFFLINE_SIGN = ['--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '-y'];
const OFFLINE_VERIFY = ['--insecure-ignore-tlog=true', '--allow-http-registry'];

let dir: string;
let registry: RunningRegistry;
/** Imported by cosign from an Ed25519 PKCS#8 PEM: ed.key (encrypted), ed.pub; ed.pem is the plain PKCS#8. */
let ed: { key: string; pub: string; pem: string };
/** A second Ed25519 pair, for wrong-key checks. */
let other: { key: string; pub: string };

async function importEd25519(prefix: string): Promise<{ key: string; pub: string; pem: string }> {
  const pem = join(dir, `${prefix}.pem`);
  writeFileSync(pem, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  expectOk(await cosign(['import-key-pair', '--key', pem, '--output-key-prefix', prefix], { cwd: dir, password: PASS }), `cosign import-key-pair (Ed25519 ${prefix})`);
  return { key: join(dir, `${prefix}.key`), pub: join(dir, `${prefix}.pub`), pem };
}

beforeAll(async () => {
  cosignPath(); // fails here, with how to build it, when cosign is missing
  dir = tempDir();
  ed = await importEd25519('ed');
  other = await importEd25519('other');
  writeFileSync(join(dir, 'sbom.json'), JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [] }));
  registry = await startRegistry({ flavor: 'distribution3' });
});

afterAll(async () => {
  await registry?.stop();
});

const run = (args: string[]) => lading(args, { cwd: dir, env: { COSIGN_PASSWORD: PASS, HOME: dir } });

describe('Ed25519 keys with cosign v3', () => {
  it('cosign import-key-pair accepts an Ed25519 PKCS#8 key; lading reads the encrypted key and the public key it wrote', async () => {
    const key = await loadPrivateKey(ed.key, { password: PASS });
    expect(key.algorithm).toBe('ed25519');
    const pub = await loadPublicKey(ed.pub);
    expect(pub.algorithm).toBe('ed25519');
    expect(pub.hint).toBe(key.hint);
    expect(readFileSync(ed.pub, 'utf8').trim()).toBe(key.publicKeyPem.trim());
  });

  for (const format of ['classic', 'bundle'] as const) {
    it(`cosign signs (${format}) with Ed25519ph → lading verifies; cosign verify --key rejects its own signature; a wrong key fails with the reason`, async () => {
      const name = `c-ed-${format}`;
      const image = await pushRandomImage(registry.host, name, '1');
      const ref = `${registry.host}/${name}:1`;
      const flags = format === 'classic' ? ['--new-bundle-format=false'] : [];
      expectOk(await cosign(['sign', '--key', ed.key, ...flags, ...OFFLINE_SIGN, '-a', 'env=prod', ref], { cwd: dir, password: PASS }), 'cosign sign');

      const v = await run(['verify', '--key', ed.pub, '-a', 'env=prod', ref]);
      expectOk(v, 'lading verify');
      const out = JSON.parse(v.stdout) as Array<{ critical: { image: Record<string, string> }; optional: Record<string, string> }>;
      expect(out.map((o) => [o.critical.image['docker-manifest-digest'], o.optional])).toEqual([[image.digest, { env: 'prod' }]]);
      expect(v.stderr).toContain('The signatures were verified against the specified public key');

      if (format === 'classic') {
        // What cosign wrote is Ed25519ph: plain Ed25519 (Node's crypto) does not verify it.
        const m = (await fetchManifest(repo(registry.host, name), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
        const layer = m.layers[0]!;
        const payload = await repo(registry.host, name).fetchBytes(layer);
        const signature = Buffer.from(layer.annotations?.[SIGNATURE_ANNOTATION] ?? '', 'base64');
        expect(cryptoVerify(null, payload, (await loadPublicKey(ed.pub)).publicKey, signature)).toBe(false);
      }

      // cosign v3.1.3 cannot verify the Ed25519 signature it just made.
      const own = await cosign(['verify', '--key', ed.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(own.code).not.toBe(0);
      expect(own.stderr).toContain(format === 'classic' ? 'no matching signatures: failed to verify signature' : 'accepted signatures do not match threshold, Found: 0, Expected 1');

      const wrong = await run(['verify', '--key', other.pub, ref]);
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toBe('');
      const digestPattern = 'sha256:[0-9a-f]{64}';
      const source = format === 'classic' ? `${escape(`${registry.host}/${name}:${attachmentTag(image.digest, 'sig')} layer `)}${digestPattern}` : `${escape(`${registry.host}/${name}@`)}${digestPattern}`;
      expect(wrong.stderr).toMatch(new RegExp(`^✗ verifying ${escape(ref)}: no matching signatures: ${source}: the signature does not verify with the key ${escape(other.pub)} \\(Ed25519; checked as Ed25519 and Ed25519ph\\)\\n$`));
    });

    it(`lading signs (${format}) with an Ed25519 key → cosign verify --key accepts`, async () => {
      const name = `l-ed-${format}`;
      const image = await pushRandomImage(registry.host, name, '1');
      const ref = `${registry.host}/${name}:1`;
      // The encrypted key cosign wrote for classic, the plain PKCS#8 PEM for bundle.
      const s = await run(['sign', '--key', format === 'classic' ? ed.key : ed.pem, '--format', format, '-a', 'team=platform', ref]);
      expectOk(s, 'lading sign');

      const r = await cosign(['verify', '--key', ed.pub, ...OFFLINE_VERIFY, '-a', 'team=platform', ref], { cwd: dir });
      expectOk(r, 'cosign verify');
      expect(r.stderr).toContain('The signatures were verified against the specified public key');
      const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string> } }>;
      expect(out.map((o) => o.critical.image['docker-manifest-digest'])).toEqual([image.digest]);
      const wrong = await cosign(['verify', '--key', other.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(wrong.code).not.toBe(0);

      expectOk(await run(['verify', '--key', ed.pub, ref]), 'lading verify');
      const again = await run(['sign', '--key', ed.key, '--format', format, '-a', 'team=platform', ref]);
      expectOk(again, 'lading sign again');
      expect(again.stderr).toContain('Already signed with this key:');
    });

    it(`attestations (${format}): cosign attests with Ed25519ph → lading verifies, cosign does not; lading attests → cosign verify-attestation accepts`, async () => {
      const flags = format === 'classic' ? ['--new-bundle-format=false'] : [];
      const byCosign = await pushRandomImage(registry.host, `c-ed-att-${format}`, '1');
      const cRef = `${registry.host}/c-ed-att-${format}:1`;
      expectOk(await cosign(['attest', '--key', ed.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', ...flags, ...OFFLINE_SIGN, cRef], { cwd: dir, password: PASS }), 'cosign attest');
      const v = await run(['verify-attestation', '--key', ed.pub, '--type', 'cyclonedx', '-o', 'json', cRef]);
      expectOk(v, 'lading verify-attestation');
      const statements = JSON.parse(v.stdout) as Array<{ predicateType: string; format: string; statement: { subject: Array<{ digest: Record<string, string> }> } }>;
      expect(statements.map((a) => [a.predicateType, a.format, a.statement.subject[0]?.digest['sha256']])).toEqual([['https://cyclonedx.org/bom', format, byCosign.digest.slice(7)]]);
      const own = await cosign(['verify-attestation', '--key', ed.pub, '--type', 'cyclonedx', ...OFFLINE_VERIFY, cRef], { cwd: dir });
      expect(own.code).not.toBe(0);
      expect(own.stderr).toContain('accepted signatures do not match threshold, Found: 0, Expected 1');
      const wrong = await run(['verify-attestation', '--key', other.pub, '--type', 'cyclonedx', cRef]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/no matching attestations: .*: the signature does not verify with the key .*other\.pub \(Ed25519; checked as Ed25519 and Ed25519ph\)\n$/);

      const byLading = await pushRandomImage(registry.host, `l-ed-att-${format}`, '1');
      const lRef = `${registry.host}/l-ed-att-${format}:1`;
      expectOk(await run(['attest', '--key', ed.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', format, lRef]), 'lading attest');
      const r = await cosign(['verify-attestation', '--key', ed.pub, '--type', 'cyclonedx', ...OFFLINE_VERIFY, lRef], { cwd: dir });
      expectOk(r, 'cosign verify-attestation');
      const envelope = JSON.parse(r.stdout.trim().split('\n')[0] as string) as { payload: string };
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ digest: Record<string, string> }> };
      expect([statement.predicateType, statement.subject[0]?.digest['sha256']]).toEqual(['https://cyclonedx.org/bom', byLading.digest.slice(7)]);
      expect((await cosign(['verify-attestation', '--key', other.pub, '--type', 'cyclonedx', ...OFFLINE_VERIFY, lRef], { cwd: dir })).code).not.toBe(0);
    });
  }

  it('an image cosign signed with Ed25519ph: lading adds a plain Ed25519 signature (not a duplicate), and then cosign verify passes', async () => {
    const image = await pushRandomImage(registry.host, 'mixed-ed', '1');
    const ref = `${registry.host}/mixed-ed:1`;
    expectOk(await cosign(['sign', '--key', ed.key, '--new-bundle-format=false', ...OFFLINE_SIGN, ref], { cwd: dir, password: PASS }), 'cosign sign');
    expect((await cosign(['verify', '--key', ed.pub, ...OFFLINE_VERIFY, ref], { cwd: dir })).code).not.toBe(0);
    // The same claims (no annotations), the same key: only the signature scheme differs.
    const signed = await sign(ref, { key: ed.key, password: PASS });
    expect(signed.signatures.map((s) => s.created)).toEqual([true]);
    const m = (await fetchManifest(repo(registry.host, 'mixed-ed'), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
    expect(m.layers).toHaveLength(2);
    expect(m.layers[0]?.digest).toBe(m.layers[1]?.digest);
    expectOk(await cosign(['verify', '--key', ed.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign verify');
    const v = await verify(ref, { key: ed.pub });
    expect(v.signatures).toHaveLength(2);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
