// Interoperability with the real cosign v2 (v2.6.5, the last v2 release, built from Go modules by
// the test environment: test/tools/cosign2), both directions, offline (keys only: no Fulcio, no
// Rekor, no TUF), against real local registries. cosign-interop.test.ts does the same for v3.
//
// What cosign v2.6.5 does, offline with a key (read from its source and checked here):
// - `sign` / `attest` write the classic format by default (`sha256-<hex>.sig` / `.att`);
//   `--new-bundle-format` writes a Sigstore bundle v0.3 referrer instead, with the key alone
//   (`--tlog-upload=false`; v2 never fetches a signing config unless asked to).
// - `verify` / `verify-attestation` look for bundle referrers first and, when there is one, only
//   check bundles; that path needs trusted material even for a key, and v2 gets it from TUF
//   (unreachable here) unless `--trusted-root FILE` is given: without it v2 refuses with "trusted
//   root is required when using new bundle format". A trusted root with no authorities at all is
//   enough for a key and `--insecure-ignore-tlog=true`.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchManifest, referrersTag, type ImageIndex, type ImageManifest } from '../../src/oci/index.js';
import { attachmentTag, sign, verify, verifyAttestation } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { toolPath } from '../env/tools.js';
import { cosign, expectOk, interopKeys, lading, pushRandomImage, pushRandomIndex, repo, tempDir, type ProcessRun } from './helpers.js';

const LADING_PASS = 'lading-made';
const COSIGN2_PASS = 'cosign2-made';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/** Flags that keep cosign v2 offline when signing (v2 uses no signing config unless asked). */
const OFFLINE_SIGN = ['--tlog-upload=false', '--allow-http-registry', '-y'];
const OFFLINE_VERIFY = ['--insecure-ignore-tlog=true', '--allow-http-registry'];
/** The bundle path of v2's verify needs trusted material; a root with no authorities will do for a key. */
const EMPTY_TRUSTED_ROOT = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' };

/** Runs the real cosign v2 offline: no TUF, no Rekor; an isolated HOME and docker config. */
function cosign2(args: string[], opts: { cwd: string; password?: string; env?: NodeJS.ProcessEnv }): Promise<ProcessRun> {
  return cosign(args, { ...opts, tool: 'cosign2' });
}

let dir: string;
/** Made by lading: lading.key / lading.pub */
let ladingKey: { key: string; pub: string };
/** Made by cosign v2: cosign.key / cosign.pub */
let cosign2Key: { key: string; pub: string };
let trustedRoot: string;

beforeAll(async () => {
  toolPath('cosign2'); // fails here, with how to build it, when cosign v2 is missing
  dir = tempDir();
  ({ lading: ladingKey, cosign: cosign2Key } = await interopKeys(dir, { lading: LADING_PASS, cosign: COSIGN2_PASS }, 'cosign2'));
  trustedRoot = join(dir, 'empty-trusted-root.json');
  writeFileSync(trustedRoot, JSON.stringify(EMPTY_TRUSTED_ROOT));
});

describe('cosign v2 from the test environment', () => {
  it('is cosign v2.6.5', async () => {
    const r = await cosign2(['version', '--json'], { cwd: dir });
    expectOk(r, 'cosign2 version');
    expect((JSON.parse(r.stdout) as { gitVersion: string }).gitVersion).toBe('v2.6.5');
  });

  it('generate-key-pair: an encrypted sigstore key (0600) that lading reads, with the password from COSIGN_PASSWORD', async () => {
    const pem = readFileSync(cosign2Key.key, 'utf8');
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect(statSync(cosign2Key.key).mode & 0o777).toBe(0o600);
    expect(readFileSync(cosign2Key.pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });
});

for (const flavor of ['distribution2', 'distribution3', 'ggcr-referrers'] as const) {
  describe(`cosign v2 interop on ${flavor}`, () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry({ flavor });
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('cosign v2 signs (classic, its default) with its own key → lading verify accepts; the other key is refused', async () => {
      const image = await pushRandomImage(registry.host, 'c2-classic', '1.0.0');
      const ref = `${registry.host}/c2-classic:1.0.0`;
      expectOk(await cosign2(['sign', '--key', cosign2Key.key, ...OFFLINE_SIGN, '-a', 'team=platform', ref], { cwd: dir, password: COSIGN2_PASS }), 'cosign2 sign');
      const m = (await fetchManifest(repo(registry.host, 'c2-classic'), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
      expect(m.layers).toHaveLength(1);

      const v = await lading(['verify', '--key', cosign2Key.pub, '-a', 'team=platform', ref], { cwd: dir });
      expectOk(v, 'lading verify');
      const out = JSON.parse(v.stdout) as Array<{ critical: { image: Record<string, string>; type: string }; optional: Record<string, string> }>;
      expect(out.map((o) => [o.critical.image['docker-manifest-digest'], o.critical.type])).toEqual([[image.digest, 'cosign container image signature']]);
      expect(out[0]?.optional).toEqual({ team: 'platform' });

      const wrong = await lading(['verify', '--key', ladingKey.pub, ref], { cwd: dir });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('no matching signatures');
      expect(wrong.stderr).toContain('the signature does not verify with the key');
      const wrongAnnotation = await lading(['verify', '--key', cosign2Key.pub, '-a', 'team=other', ref], { cwd: dir });
      expect(wrongAnnotation.code).toBe(1);

      // lading appends its own signature to v2's signature image; v2 still verifies both.
      await sign(ref, { key: ladingKey.key, password: LADING_PASS });
      const m2 = (await fetchManifest(repo(registry.host, 'c2-classic'), attachmentTag(image.digest, 'sig'))).manifest as ImageManifest;
      expect(m2.layers).toHaveLength(2);
      expectOk(await cosign2(['verify', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign2 verify (v2 signature)');
      expectOk(await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir }), 'cosign2 verify (lading appended)');
    });

    it('cosign v2 signs in the new bundle format (--new-bundle-format, key only) with a lading-made key → lading verify accepts', async () => {
      const image = await pushRandomImage(registry.host, 'c2-bundle', '1.0.0');
      const ref = `${registry.host}/c2-bundle:1.0.0`;
      expectOk(await cosign2(['sign', '--key', ladingKey.key, '--new-bundle-format', ...OFFLINE_SIGN, ref], { cwd: dir, password: LADING_PASS }), 'cosign2 sign --new-bundle-format');
      // No classic signature was written: what lading accepts is the bundle.
      await expect(fetchManifest(repo(registry.host, 'c2-bundle'), attachmentTag(image.digest, 'sig'))).rejects.toThrow();
      if (flavor !== 'ggcr-referrers') {
        // Without the referrers API, v2 (go-containerregistry v0.20.7) lists the bundle in the
        // referrers tag index under its config media type and without annotations: lading has to
        // read the manifest to see that it is a bundle.
        const index = (await fetchManifest(repo(registry.host, 'c2-bundle'), referrersTag(image.digest))).manifest as ImageIndex;
        expect(index.manifests.map((d) => [d.artifactType, d.annotations])).toEqual([['application/vnd.oci.empty.v1+json', undefined]]);
      }

      const v = await verify(ref, { key: ladingKey.pub });
      expect(v.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest'], s.payload.critical.type])).toEqual([['bundle', image.digest, 'https://sigstore.dev/cosign/sign/v1']]);
      const cli = await lading(['verify', '--key', ladingKey.pub, ref], { cwd: dir });
      expectOk(cli, 'lading verify');
      const wrong = await lading(['verify', '--key', cosign2Key.pub, ref], { cwd: dir });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('the signature does not verify with the key');

      // v2 verifies its own bundle only when given trusted material (TUF is out of reach here).
      const noRoot = await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(noRoot.code).not.toBe(0);
      expect(noRoot.stderr).toContain('trusted root is required when using new bundle format');
      expectOk(await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, '--trusted-root', trustedRoot, ref], { cwd: dir }), 'cosign2 verify (own bundle)');

      const tree = await lading(['tree', '-o', 'json', ref], { cwd: dir });
      expectOk(tree, 'lading tree');
      expect((JSON.parse(tree.stdout) as { referrers: Array<{ artifactType: string }> }).referrers.map((r) => r.artifactType)).toEqual(['https://sigstore.dev/cosign/sign/v1']);
    });

    it('both formats on one image: lading accepts each; cosign v2 then checks the bundles only', async () => {
      const image = await pushRandomImage(registry.host, 'c2-both', '1.0.0');
      const ref = `${registry.host}/c2-both:1.0.0`;
      expectOk(await cosign2(['sign', '--key', cosign2Key.key, ...OFFLINE_SIGN, ref], { cwd: dir, password: COSIGN2_PASS }), 'cosign2 sign (classic)');
      expectOk(await cosign2(['sign', '--key', ladingKey.key, '--new-bundle-format', ...OFFLINE_SIGN, ref], { cwd: dir, password: LADING_PASS }), 'cosign2 sign (bundle)');
      const byCosign2Key = await verify(ref, { key: cosign2Key.pub });
      expect(byCosign2Key.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest']])).toEqual([['classic', image.digest]]);
      const byLadingKey = await verify(ref, { key: ladingKey.pub });
      expect(byLadingKey.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest']])).toEqual([['bundle', image.digest]]);
      // v2 switches to bundles when it finds one, so the classic signature is not looked at.
      const classicOnly = await cosign2(['verify', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, '--trusted-root', trustedRoot, ref], { cwd: dir });
      expect(classicOnly.code).not.toBe(0);
      expectOk(await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, '--trusted-root', trustedRoot, ref], { cwd: dir }), 'cosign2 verify (bundle)');
    });

    it('cosign v2 attests (classic and --new-bundle-format) → lading verify-attestation accepts; the other key is refused', async () => {
      for (const [name, flags, format] of [
        ['c2-att', [], 'classic'],
        ['c2-att-b', ['--new-bundle-format'], 'bundle'],
      ] as const) {
        const image = await pushRandomImage(registry.host, name, '1.0.0');
        const ref = `${registry.host}/${name}:1.0.0`;
        expectOk(
          await cosign2(['attest', '--key', cosign2Key.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', ...flags, ...OFFLINE_SIGN, ref], { cwd: dir, password: COSIGN2_PASS }),
          `cosign2 attest (${format})`,
        );
        const v = await verifyAttestation(ref, { key: cosign2Key.pub, type: 'cyclonedx' });
        expect(v.attestations.map((a) => [a.format, a.predicateType])).toEqual([[format, CYCLONEDX]]);
        expect(v.attestations[0]?.statement.subject[0]?.digest['sha256']).toBe(image.digest.slice(7));
        expect((v.attestations[0]?.statement.predicate as { components: unknown[] }).components).toHaveLength(1);

        const cli = await lading(['verify-attestation', '--key', cosign2Key.pub, '--type', 'cyclonedx', '-o', 'json', ref], { cwd: dir });
        expectOk(cli, `lading verify-attestation (${format})`);
        const wrong = await lading(['verify-attestation', '--key', ladingKey.pub, '--type', 'cyclonedx', ref], { cwd: dir });
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toContain('the signature does not verify with the key');
        // A signature is not an attestation: `lading verify` finds nothing to accept.
        expect((await lading(['verify', '--key', cosign2Key.pub, ref], { cwd: dir })).code).toBe(1);
      }
    });

    it('lading signs (default and --format classic) with a cosign-v2-made key → cosign v2 verify --key accepts', async () => {
      for (const [name, flags] of [
        ['l-default', []],
        ['l-classic', ['--format', 'classic']],
      ] as const) {
        const image = await pushRandomImage(registry.host, name, '1.0.0');
        const ref = `${registry.host}/${name}:1.0.0`;
        const s = await lading(['sign', '--key', cosign2Key.key, '-a', 'env=prod', ...flags, ref], { cwd: dir, env: { COSIGN_PASSWORD: COSIGN2_PASS, HOME: dir } });
        expectOk(s, `lading sign ${flags.join(' ')}`);
        expect(s.stderr).toContain('(classic)');
        const r = await cosign2(['verify', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, '-a', 'env=prod', ref], { cwd: dir });
        expectOk(r, 'cosign2 verify');
        expect(r.stderr).toContain('The signatures were verified against the specified public key');
        const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string> }; optional: Record<string, string> }>;
        expect(out.map((o) => o.critical.image['docker-manifest-digest'])).toEqual([image.digest]);
        expect(out[0]?.optional).toEqual({ env: 'prod' });
        const wrong = await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
        expect(wrong.code).not.toBe(0);
      }
    });

    it('lading signs in the bundle format → cosign v2 verifies it with a trusted root, refuses it without one', async () => {
      const image = await pushRandomImage(registry.host, 'l-bundle', '1.0.0');
      const ref = `${registry.host}/l-bundle:1.0.0`;
      expectOk(await lading(['sign', '--key', ladingKey.key, '--format', 'bundle', ref], { cwd: dir, env: { LADING_PASSWORD: LADING_PASS, HOME: dir } }), 'lading sign --format bundle');
      const noRoot = await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ref], { cwd: dir });
      expect(noRoot.code).not.toBe(0);
      expect(noRoot.stderr).toContain('trusted root is required when using new bundle format');

      const r = await cosign2(['verify', '--key', ladingKey.pub, ...OFFLINE_VERIFY, '--trusted-root', trustedRoot, ref], { cwd: dir });
      expectOk(r, 'cosign2 verify --trusted-root');
      const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string>; type: string } }>;
      expect(out.map((o) => [o.critical.image['docker-manifest-digest'], o.critical.type])).toEqual([[image.digest, 'https://sigstore.dev/cosign/sign/v1']]);
      const wrong = await cosign2(['verify', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, '--trusted-root', trustedRoot, ref], { cwd: dir });
      expect(wrong.code).not.toBe(0);
    });

    it('lading attests (classic and bundle) with a cosign-v2-made key → cosign v2 verify-attestation accepts', async () => {
      for (const format of ['classic', 'bundle'] as const) {
        const name = `l-att-${format}`;
        const image = await pushRandomImage(registry.host, name, '1.0.0');
        const ref = `${registry.host}/${name}:1.0.0`;
        expectOk(
          await lading(['attest', '--key', cosign2Key.key, '--type', 'cyclonedx', '--predicate', 'sbom.json', '--format', format, ref], { cwd: dir, env: { COSIGN_PASSWORD: COSIGN2_PASS, HOME: dir } }),
          `lading attest (${format})`,
        );
        const rootFlags = format === 'bundle' ? ['--trusted-root', trustedRoot] : [];
        const r = await cosign2(['verify-attestation', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, ...rootFlags, '--type', 'cyclonedx', ref], { cwd: dir });
        expectOk(r, `cosign2 verify-attestation (${format})`);
        const envelope = JSON.parse(r.stdout.trim().split('\n')[0] as string) as { payload: string };
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ digest: Record<string, string> }> };
        expect(statement.predicateType).toBe(CYCLONEDX);
        expect(statement.subject[0]?.digest['sha256']).toBe(image.digest.slice(7));
        const wrong = await cosign2(['verify-attestation', '--key', ladingKey.pub, ...OFFLINE_VERIFY, ...rootFlags, '--type', 'cyclonedx', ref], { cwd: dir });
        expect(wrong.code).not.toBe(0);
      }
    });
  });
}

describe('more of what cosign v2 writes, and key pairs across lading and cosign v2 (distribution v3)', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ flavor: 'distribution3' });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('cosign v2 sign --recursive of an index → lading verifies the index and each image', async () => {
    const { index, children } = await pushRandomIndex(registry.host, 'c2-index', '1.0.0');
    const ref = `${registry.host}/c2-index:1.0.0`;
    expectOk(await cosign2(['sign', '--key', cosign2Key.key, '--recursive', ...OFFLINE_SIGN, ref], { cwd: dir, password: COSIGN2_PASS }), 'cosign2 sign --recursive');
    for (const d of [index, ...children]) {
      const v = await verify(`${registry.host}/c2-index@${d.digest}`, { key: cosign2Key.pub });
      expect(v.signatures.map((s) => s.payload.critical.image['docker-manifest-digest'])).toEqual([d.digest]);
    }
  });

  it('custom predicates both ways, with the default --type of each tool (classic and bundle)', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'built on a Tuesday');
    for (const [format, flags] of [
      ['classic', []],
      ['bundle', ['--new-bundle-format']],
    ] as const) {
      await pushRandomImage(registry.host, `custom-${format}`, 'by-cosign2');
      const byCosign2 = `${registry.host}/custom-${format}:by-cosign2`;
      expectOk(await cosign2(['attest', '--key', cosign2Key.key, '--predicate', 'notes.txt', ...flags, ...OFFLINE_SIGN, byCosign2], { cwd: dir, password: COSIGN2_PASS }), `cosign2 attest custom (${format})`);
      const v = await verifyAttestation(byCosign2, { key: cosign2Key.pub });
      expect(v.attestations.map((a) => [a.format, a.predicateType])).toEqual([[format, 'https://cosign.sigstore.dev/attestation/v1']]);
      expect((v.attestations[0]?.statement.predicate as { Data: string }).Data).toBe('built on a Tuesday');

      await pushRandomImage(registry.host, `custom-${format}`, 'by-lading');
      const byLading = `${registry.host}/custom-${format}:by-lading`;
      expectOk(await lading(['attest', '--key', cosign2Key.key, '--predicate', 'notes.txt', '--format', format, byLading], { cwd: dir, env: { COSIGN_PASSWORD: COSIGN2_PASS, HOME: dir } }), `lading attest custom (${format})`);
      const rootFlags = format === 'bundle' ? ['--trusted-root', trustedRoot] : [];
      const r = await cosign2(['verify-attestation', '--key', cosign2Key.pub, ...OFFLINE_VERIFY, ...rootFlags, byLading], { cwd: dir });
      expectOk(r, `cosign2 verify-attestation custom (${format})`);
      const statement = JSON.parse(Buffer.from((JSON.parse(r.stdout.trim().split('\n')[0] as string) as { payload: string }).payload, 'base64').toString('utf8')) as { predicateType: string; predicate: { Data: string } };
      expect([statement.predicateType, statement.predicate.Data]).toEqual(['https://cosign.sigstore.dev/attestation/v1', 'built on a Tuesday']);
    }
  });

  it('lading generate-key-pair → cosign v2 signs with it, lading verifies; cosign2 generate-key-pair → lading signs, cosign v2 verifies', async () => {
    const keys = tempDir('lading-cosign2-keys-');
    expectOk(await lading(['generate-key-pair', '--output-key-prefix', 'made-by-lading'], { cwd: keys, env: { LADING_PASSWORD: 'p1', HOME: keys } }), 'lading generate-key-pair');
    expectOk(await cosign2(['generate-key-pair', '--output-key-prefix', 'made-by-cosign2'], { cwd: keys, password: 'p2' }), 'cosign2 generate-key-pair');

    const first = await pushRandomImage(registry.host, 'keys', 'a');
    const a = `${registry.host}/keys:a`;
    expectOk(await cosign2(['sign', '--key', 'made-by-lading.key', ...OFFLINE_SIGN, a], { cwd: keys, password: 'p1' }), 'cosign2 sign with a lading key');
    const va = await lading(['verify', '--key', 'made-by-lading.pub', a], { cwd: keys });
    expectOk(va, 'lading verify');
    expect((JSON.parse(va.stdout) as Array<{ critical: { image: Record<string, string> } }>)[0]?.critical.image['docker-manifest-digest']).toBe(first.digest);

    const second = await pushRandomImage(registry.host, 'keys', 'b');
    const b = `${registry.host}/keys:b`;
    expectOk(await lading(['sign', '--key', 'made-by-cosign2.key', b], { cwd: keys, env: { COSIGN_PASSWORD: 'p2', HOME: keys } }), 'lading sign with a cosign v2 key');
    const vb = await cosign2(['verify', '--key', 'made-by-cosign2.pub', ...OFFLINE_VERIFY, b], { cwd: keys });
    expectOk(vb, 'cosign2 verify');
    expect((JSON.parse(vb.stdout) as Array<{ critical: { image: Record<string, string> } }>)[0]?.critical.image['docker-manifest-digest']).toBe(second.digest);

    // The wrong password for a cosign v2 key: a one-line error, nothing signed.
    const bad = await lading(['sign', '--key', 'made-by-cosign2.key', b], { cwd: keys, env: { COSIGN_PASSWORD: 'not-p2', HOME: keys } });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/password/i);
  });
});
