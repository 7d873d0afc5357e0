// Interop with the real Flux CLI (built from its Go module by test/env/tools.ts): what lading
// pushes, `flux pull artifact` extracts; what `flux push artifact` pushes, lading pulls, inspects
// and lists.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FluxConfigMediaType, FluxContentMediaType, inspectArtifact, listArtifacts, pullArtifact, pushArtifact } from '../../src/artifact/index.js';
import { fetchManifest, openRepository, parseReference, type ImageManifest } from '../../src/oci/index.js';
import { toolPath } from '../env/tools.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir, writeTree } from './helpers.js';

const run = promisify(execFile);

/** Runs the flux CLI with a private HOME and docker config (no credentials, no kubeconfig). */
async function flux(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = toolPath('flux'); // throws, saying how to build it, when it is missing
  const home = tempDir('lading-flux-home-');
  mkdirSync(join(home, '.docker'));
  try {
    return await run(bin, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, DOCKER_CONFIG: join(home, '.docker') }, timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`flux ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

async function manifestOf(url: string): Promise<ImageManifest> {
  const ref = parseReference(url);
  const repo = openRepository(ref);
  try {
    const { manifest } = await fetchManifest(repo, ref.reference);
    if (!('layers' in manifest)) throw new Error(`${url} is an index`);
    return manifest;
  } finally {
    repo.close();
  }
}

describe('interop with the Flux CLI', async () => {
  const reg = await registryForSuite();

  it('flux pull artifact extracts what lading pushed (a directory)', async () => {
    const url = `oci://${reg.host}/${repoName('flux-pull')}:1.0.0`;
    await pushArtifact({ url, path: demoApp, source: 'https://github.com/example/demo', revision: '1.0.0@sha1:abc' });
    const out = tempDir();
    const { stderr } = await flux(['pull', 'artifact', url, '--output', out]);
    expect(stderr).toContain('https://github.com/example/demo');
    expect(readTree(out)).toEqual(readTree(demoApp));
  });

  it('flux pull artifact extracts what lading pushed from memory (stdin)', async () => {
    const url = `oci://${reg.host}/${repoName('flux-pull')}:stdin`;
    await pushArtifact({ url, files: [{ path: 'manifests.yaml', content: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n' }] });
    const out = tempDir();
    await flux(['pull', 'artifact', url, '--output', out]);
    expect(readTree(out)).toEqual({ 'manifests.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n' });
  });

  it('lading pulls, inspects and lists what flux push artifact pushed, with the same media types and annotations as its own', async () => {
    const repo = repoName('flux-push');
    const fluxURL = `oci://${reg.host}/${repo}:1.0.0`;
    await flux(['push', 'artifact', fluxURL, '--path', demoApp, '--source', 'https://github.com/example/demo', '--revision', '1.0.0@sha1:abc', '--insecure-registry']);

    const out = join(tempDir(), 'pulled');
    const pulled = await pullArtifact({ url: fluxURL, output: out });
    expect(pulled.source).toBe('https://github.com/example/demo');
    expect(pulled.revision).toBe('1.0.0@sha1:abc');
    expect(readTree(out)).toEqual(readTree(demoApp));

    const inspected = await inspectArtifact({ url: fluxURL });
    expect(inspected.resources.map((r) => `${r.kind}/${r.name}`)).toContain('Deployment/backend');
    expect(inspected.images).toContain('ghcr.io/stefanprodan/podinfo:6.0.0');

    const listed = await listArtifacts({ url: `oci://${reg.host}/${repo}` });
    expect(listed).toMatchObject([{ tag: '1.0.0', source: 'https://github.com/example/demo', revision: '1.0.0@sha1:abc' }]);

    const ladingURL = `oci://${reg.host}/${repo}:lading`;
    await pushArtifact({ url: ladingURL, path: demoApp, source: 'https://github.com/example/demo', revision: '1.0.0@sha1:abc' });
    const fromFlux = await manifestOf(fluxURL);
    const fromLading = await manifestOf(ladingURL);
    expect(fromLading.mediaType).toBe(fromFlux.mediaType);
    expect(fromLading.config.mediaType).toBe(fromFlux.config.mediaType);
    expect(fromFlux.config.mediaType).toBe(FluxConfigMediaType);
    expect(fromLading.layers.map((l) => l.mediaType)).toEqual(fromFlux.layers.map((l) => l.mediaType));
    expect(fromFlux.layers[0]?.mediaType).toBe(FluxContentMediaType);
    expect(Object.keys(fromLading.annotations ?? {})).toEqual(Object.keys(fromFlux.annotations ?? {}));
    // Both config blobs are go-containerregistry image configs with the same fields.
    const configOf = async (url: string, m: ImageManifest) => {
      const ref = parseReference(url);
      const r = openRepository(ref);
      try {
        return JSON.parse((await r.fetchBytes(m.config)).toString()) as Record<string, unknown>;
      } finally {
        r.close();
      }
    };
    const fluxConfig = await configOf(fluxURL, fromFlux);
    const ladingConfig = await configOf(ladingURL, fromLading);
    expect(Object.keys(ladingConfig)).toEqual(Object.keys(fluxConfig));
    expect(ladingConfig['rootfs']).toEqual(fluxConfig['rootfs']);
    // The same bytes: Go's zero time as `created` in both (the push time is in the annotation).
    expect([ladingConfig['created'], fluxConfig['created']]).toEqual(['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z']);
    expect(fromLading.config).toEqual(fromFlux.config);
  });

  it('flux and lading agree on --reproducible: the same content gives the same digest every time', async () => {
    const dir = writeTree(tempDir(), { 'a.yaml': 'a: 1\n', 'sub/b.yaml': 'b: 2\n' });
    const repo = repoName('flux-repro');
    const push = async (tag: string) => {
      const { stdout } = await flux(['push', 'artifact', `oci://${reg.host}/${repo}:${tag}`, '--path', dir, '--source', 's', '--revision', 'r', '--reproducible', '--insecure-registry', '-o', 'json']);
      return (JSON.parse(stdout) as { digest: string }).digest;
    };
    expect(await push('f1')).toBe(await push('f2'));
    const l1 = await pushArtifact({ url: `${reg.host}/${repo}:l1`, path: dir, source: 's', revision: 'r', reproducible: true });
    const l2 = await pushArtifact({ url: `${reg.host}/${repo}:l2`, path: dir, source: 's', revision: 'r', reproducible: true });
    expect(l1.digest).toBe(l2.digest);
    // Both tools' artifacts carry the same created time and extract to the same tree.
    const a = await manifestOf(`${reg.host}/${repo}:f1`);
    const b = await manifestOf(`${reg.host}/${repo}:l1`);
    expect(b.annotations).toEqual(a.annotations);
    const outF = tempDir();
    const outL = tempDir();
    await flux(['pull', 'artifact', `oci://${reg.host}/${repo}:l1`, '--output', outL]);
    await pullArtifact({ url: `${reg.host}/${repo}:f1`, output: join(outF, 'x') });
    expect(readTree(join(outF, 'x'))).toEqual(readTree(outL));
  });

  it('honours the same default ignore rules as flux push artifact', async () => {
    const dir = writeTree(tempDir(), { 'a.yaml': 'a\n', '.git/HEAD': 'ref\n', 'logo.png': 'png', 'dist/x.zip': 'zip', 'keep/.gitignore': 'x' });
    const repo = repoName('flux-ignore');
    await flux(['push', 'artifact', `oci://${reg.host}/${repo}:flux`, '--path', dir, '--source', 's', '--revision', 'r', '--insecure-registry']);
    await pushArtifact({ url: `${reg.host}/${repo}:lading`, path: dir });
    const outF = join(tempDir(), 'f');
    const outL = join(tempDir(), 'l');
    await pullArtifact({ url: `${reg.host}/${repo}:flux`, output: outF });
    await pullArtifact({ url: `${reg.host}/${repo}:lading`, output: outL });
    expect(readTree(outL)).toEqual(readTree(outF));
    expect(Object.keys(readTree(outL))).toEqual(['a.yaml']);
  });
});
