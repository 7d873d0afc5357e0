import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Annotations,
  FluxConfigMediaType,
  FluxContentMediaType,
  ReproducibleCreated,
  listArtifacts,
  pullArtifact,
  pushArtifact,
  readArtifactFiles,
  tagArtifact,
  buildArtifact,
} from '../../src/artifact/index.js';
import { fetchManifest, openRepository, parseReference } from '../../src/oci/index.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir, writeTree } from './helpers.js';

describe('push and pull artifacts against a real registry (distribution 2.8)', async () => {
  const reg = await registryForSuite();

  it('pushes a directory with Flux media types and annotations, and pulls it back identical', async () => {
    const url = `oci://${reg.host}/${repoName()}:1.0.0`;
    const pushed = await pushArtifact({ url, path: demoApp, source: 'https://github.com/example/demo', revision: 'main@sha1:abc' });
    expect(pushed.tag).toBe('1.0.0');
    expect(pushed.repository).toBe(url.slice('oci://'.length, url.lastIndexOf(':')));
    expect(pushed.url).toBe(`oci://${pushed.repository}@${pushed.digest}`);

    const ref = parseReference(url);
    const { manifest } = await fetchManifest(openRepository(ref), ref.reference);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    if (!('layers' in manifest)) throw new Error('expected an image manifest');
    expect(manifest.config.mediaType).toBe(FluxConfigMediaType);
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0]!.mediaType).toBe(FluxContentMediaType);
    expect(manifest.annotations?.[Annotations.source]).toBe('https://github.com/example/demo');
    expect(manifest.annotations?.[Annotations.revision]).toBe('main@sha1:abc');
    expect(manifest.annotations?.[Annotations.created]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const out = join(tempDir(), 'pulled');
    const pulled = await pullArtifact({ url, output: out });
    expect(pulled.digest).toBe(pushed.digest);
    expect(pulled.source).toBe('https://github.com/example/demo');
    expect(readTree(out)).toEqual(readTree(demoApp));
  });

  it('content over 32 MiB is packaged through a temporary file (removed afterwards), smaller content in memory: both pull back identical', async () => {
    const big = tempDir();
    // Random bytes do not compress: the layer is over 32 MiB too.
    writeTree(big, { 'a.bin': randomBytes(17 * 1024 * 1024), 'b/c.bin': randomBytes(17 * 1024 * 1024), 'd.yaml': 'd: 1\n' });
    const small = writeTree(tempDir(), { 'd.yaml': 'd: 1\n' });
    const tmp = tempDir();
    const previous = process.env['TMPDIR'];
    process.env['TMPDIR'] = tmp; // where the temporary tarball goes (os.tmpdir())
    // Which temporary directories the pushes made (inotify on the directory).
    const made: string[] = [];
    const watcher = watch(tmp, (_event, file) => {
      if (file?.startsWith('lading-push-') && !made.includes(file)) made.push(file);
    });
    try {
      for (const [dir, name] of [[big, 'big'], [small, 'small']] as const) {
        const url = `oci://${reg.host}/${repoName(name)}:1`;
        made.length = 0;
        const pushed = await pushArtifact({ url, path: dir, reproducible: true });
        await new Promise((resolve) => setTimeout(resolve, 50)); // the watcher's last events
        expect(made.length, `${name}: temporary directories made`).toBe(name === 'big' ? 1 : 0);
        expect(readdirSync(tmp).filter((f) => f.startsWith('lading-push-')), name).toEqual([]);
        const out = join(tempDir(), 'pulled');
        const pulled = await pullArtifact({ url, output: out });
        expect(pulled.digest).toBe(pushed.digest);
        expect(Object.keys(readTree(out))).toEqual(Object.keys(readTree(dir)));
        for (const file of Object.keys(readTree(dir))) expect(readFileSync(join(out, file)).equals(readFileSync(join(dir, file))), file).toBe(true);
      }
    } finally {
      watcher.close();
      if (previous === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = previous;
    }
  });

  it('gives the same digest for the same content with --reproducible, and a new one when content changes', async () => {
    const src = writeTree(tempDir(), { 'deploy/app.yaml': 'kind: ConfigMap\n', 'deploy/more/b.yaml': 'b: 1\n' });
    const repo = repoName();
    const a = await pushArtifact({ url: `${reg.host}/${repo}:a`, path: src, reproducible: true });
    const b = await pushArtifact({ url: `${reg.host}/${repo}:b`, path: src, reproducible: true });
    expect(b.digest).toBe(a.digest);
    const files = await readArtifactFiles(`${reg.host}/${repo}:a`);
    expect(files.annotations[Annotations.created]).toBe(ReproducibleCreated);
    writeTree(src, { 'deploy/app.yaml': 'kind: Secret\n' });
    const c = await pushArtifact({ url: `${reg.host}/${repo}:c`, path: src, reproducible: true });
    expect(c.digest).not.toBe(a.digest);
  });

  it('builds the same tarball bytes as the pushed layer', async () => {
    const repo = repoName();
    const url = `${reg.host}/${repo}:v1`;
    await pushArtifact({ url, path: demoApp, reproducible: true });
    const built = await buildArtifact({ path: demoApp, output: join(tempDir(), 'artifact.tgz') });
    const ref = parseReference(url);
    const { manifest } = await fetchManifest(openRepository(ref), ref.reference);
    if (!('layers' in manifest)) throw new Error('expected an image manifest');
    expect(built.digest).toBe(manifest.layers[0]!.digest);
    expect(built.size).toBe(manifest.layers[0]!.size);
  });

  it('pushes a single file and in-memory files', async () => {
    const dir = writeTree(tempDir(), { 'only.yaml': 'a: 1\n', 'other.yaml': 'b: 2\n' });
    const repo = repoName();
    await pushArtifact({ url: `${reg.host}/${repo}:file`, path: join(dir, 'only.yaml') });
    expect((await readArtifactFiles(`${reg.host}/${repo}:file`)).files.map((f) => f.path)).toEqual(['only.yaml']);
    await pushArtifact({ url: `${reg.host}/${repo}:mem`, files: [{ path: 'stdin.yaml', content: 'c: 3\n' }] });
    const mem = await readArtifactFiles(`${reg.host}/${repo}:mem`);
    expect(mem.files.map((f) => [f.path, f.content.toString()])).toEqual([['stdin.yaml', 'c: 3\n']]);
  });

  it('adds custom annotations, which override the standard ones', async () => {
    const repo = repoName();
    const dir = writeTree(tempDir(), { 'a.yaml': 'a: 1\n' });
    await pushArtifact({
      url: `${reg.host}/${repo}:x`,
      path: dir,
      source: 'src',
      annotations: { 'org.opencontainers.image.licenses': 'Apache-2.0', [Annotations.created]: '2024-01-02T03:04:05Z' },
    });
    const { annotations } = await readArtifactFiles(`${reg.host}/${repo}:x`);
    expect(annotations['org.opencontainers.image.licenses']).toBe('Apache-2.0');
    expect(annotations[Annotations.created]).toBe('2024-01-02T03:04:05Z');
    await expect(
      pushArtifact({ url: `${reg.host}/${repo}:bad`, path: dir, annotations: { [Annotations.created]: 'yesterday' } }),
    ).rejects.toThrow(/org\.opencontainers\.image\.created="yesterday" is not an RFC 3339 time/);
  });

  it('tags an artifact and lists artifacts with filters, hiding cosign and digest tags', async () => {
    const repo = repoName();
    const dir = writeTree(tempDir(), { 'a.yaml': 'a: 1\n' });
    const first = await pushArtifact({ url: `${reg.host}/${repo}:1.0.0`, path: dir, source: 'git', revision: 'v1' });
    writeTree(dir, { 'a.yaml': 'a: 2\n' });
    await pushArtifact({ url: `${reg.host}/${repo}:1.1.0`, path: dir, source: 'git', revision: 'v1.1' });
    await pushArtifact({ url: `${reg.host}/${repo}:v2.0.0-rc.1`, path: dir });
    const tagged = await tagArtifact({ url: `oci://${reg.host}/${repo}:1.0.0`, tags: ['latest', 'stable', 'sha256-abc.sig'] });
    expect(tagged.digest).toBe(first.digest);
    expect(tagged.tagged).toEqual([`oci://${reg.host}/${repo}:latest`, `oci://${reg.host}/${repo}:stable`, `oci://${reg.host}/${repo}:sha256-abc.sig`]);

    const all = await listArtifacts({ url: `oci://${reg.host}/${repo}` });
    expect(all.map((a) => a.tag)).toEqual(['v2.0.0-rc.1', 'stable', 'latest', '1.1.0', '1.0.0']);
    expect(all.find((a) => a.tag === 'latest')).toMatchObject({ digest: first.digest, source: 'git', revision: 'v1', url: `oci://${reg.host}/${repo}:latest` });

    const semver = await listArtifacts({ url: `oci://${reg.host}/${repo}`, semver: '>=1.0.0' });
    expect(semver.map((a) => a.tag)).toEqual(['1.1.0', '1.0.0']);
    const regex = await listArtifacts({ url: `oci://${reg.host}/${repo}`, regex: '^(latest|stable)$' });
    expect(regex.map((a) => a.tag)).toEqual(['stable', 'latest']);
    const hidden = await listArtifacts({ url: `oci://${reg.host}/${repo}`, includeHidden: true });
    expect(hidden.map((a) => a.tag)).toContain('sha256-abc.sig');
  });

  it('refuses to pull into a non-empty directory unless asked to overwrite, and replaces it then', async () => {
    const repo = repoName();
    const src = writeTree(tempDir(), { 'new.yaml': 'n: 1\n' });
    await pushArtifact({ url: `${reg.host}/${repo}:v1`, path: src });
    const out = writeTree(tempDir(), { 'old.yaml': 'o: 1\n' });
    await expect(pullArtifact({ url: `${reg.host}/${repo}:v1`, output: out })).rejects.toMatchObject({ code: 'OUTPUT' });
    expect(readTree(out)).toEqual({ 'old.yaml': 'o: 1\n' });
    await pullArtifact({ url: `${reg.host}/${repo}:v1`, output: out, overwrite: true });
    expect(readTree(out)).toEqual({ 'new.yaml': 'n: 1\n' });
    // Nothing is left beside the output.
    expect(readdirSync(join(out, '..')).filter((n) => n.includes('.lading-'))).toEqual([]);
  });

  it('pulls into an existing empty directory (as flux requires it to exist)', async () => {
    const repo = repoName();
    await pushArtifact({ url: `${reg.host}/${repo}:v1`, files: [{ path: 'x.yaml', content: 'x: 1\n' }] });
    const out = tempDir();
    await pullArtifact({ url: `${reg.host}/${repo}:v1`, output: out });
    expect(readFileSync(join(out, 'x.yaml'), 'utf8')).toBe('x: 1\n');
    expect(existsSync(out)).toBe(true);
  });

  it('fails with a clear error for a missing tag, and writes nothing', async () => {
    const out = join(tempDir(), 'missing');
    await expect(pullArtifact({ url: `${reg.host}/${repoName()}:nope`, output: out })).rejects.toThrow(/nope|not found|unknown/i);
    expect(existsSync(out)).toBe(false);
  });
});
