// The tutorial's flow with lading in place of kustomizer+cosign, checked against the real cosign:
// push the demo app as a Flux artifact, sign it, verify it (both tools), then read the files by
// the digest that was verified.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushArtifact, readArtifactFiles } from '../../src/artifact/index.js';
import { generateKeyPair, sign, verifyArtifact } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { cosign, cosignPath, expectOk, lading, tempDir } from './helpers.js';
import { demoAppDir } from '../fixtures.js';

const demoApp = demoAppDir;

let registry: RunningRegistry;
let dir: string;

beforeAll(async () => {
  cosignPath();
  registry = await startRegistry();
  dir = tempDir();
  await generateKeyPair({ dir, password: 'demo' });
});

afterAll(async () => {
  await registry?.stop();
});

describe('publish, sign and verify a config artifact', () => {
  it('lading push + lading sign → cosign verify; lading verify → read by the verified digest', async () => {
    const pushed = await pushArtifact({ url: `oci://${registry.host}/kustomizer-demo-app:1.0.0`, path: demoApp });
    const ref = `${registry.host}/kustomizer-demo-app:1.0.0`;
    await sign(ref, { key: join(dir, 'cosign.key'), password: 'demo' });

    const c = await cosign(['verify', '--key', join(dir, 'cosign.pub'), '--insecure-ignore-tlog=true', '--allow-http-registry', ref], { cwd: dir });
    expectOk(c, 'cosign verify');
    expect(c.stdout).toContain(`"docker-manifest-digest":"${pushed.digest}"`);

    const verified = await verifyArtifact(`oci://${ref}`, { key: join(dir, 'cosign.pub') });
    expect(verified.digest).toBe(pushed.digest);
    const files = await readArtifactFiles(`oci://${registry.host}/kustomizer-demo-app@${verified.digest}`);
    expect(files.files.map((f) => f.path)).toContain('kustomization.yaml');

    // The tutorial's output shape, from lading.
    const v = await lading(['verify', '--key', 'cosign.pub', ref], { cwd: dir });
    expectOk(v, 'lading verify');
    expect(v.stderr).toContain(`Verification for ${ref} --`);
    expect(v.stdout).toBe(
      `[{"critical":{"identity":{"docker-reference":"${registry.host}/kustomizer-demo-app"},"image":{"docker-manifest-digest":"${pushed.digest}"},"type":"cosign container image signature"},"optional":null}]\n`,
    );
  });

  it('an artifact re-pushed under the same tag after signing no longer verifies', async () => {
    const first = await pushArtifact({ url: `oci://${registry.host}/moved:1.0.0`, path: demoApp, annotations: { build: '1' } });
    await sign(`${registry.host}/moved:1.0.0`, { key: join(dir, 'cosign.key'), password: 'demo' });
    const second = await pushArtifact({ url: `oci://${registry.host}/moved:1.0.0`, path: demoApp, annotations: { build: '2' } });
    expect(second.digest).not.toBe(first.digest);
    const err = await verifyArtifact(`oci://${registry.host}/moved:1.0.0`, { key: join(dir, 'cosign.pub') }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/no signatures found/);
    const c = await cosign(['verify', '--key', join(dir, 'cosign.pub'), '--insecure-ignore-tlog=true', '--allow-http-registry', `${registry.host}/moved:1.0.0`], { cwd: dir });
    expect(c.code).not.toBe(0);
  });
});
