// Pulling artifacts that are malicious, corrupted in transit, cut mid-blob, or made by other tools.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FluxContentMediaType, inspectArtifact, pullArtifact, readArtifactFiles } from '../../src/artifact/index.js';
import { MediaTypes } from '../../src/oci/index.js';
import { startFaultProxy } from '../env/fault-proxy.js';
import { makeTarball, type RawEntry } from './archives.js';
import { lading } from './cli-io.js';
import { pushLayers, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

describe('pulling from a registry', async () => {
  const reg = await registryForSuite();
  const proxy = await startFaultProxy(reg.url);
  afterAll(() => proxy.stop());

  const evil: Array<[string, RawEntry]> = [
    ['traversal', { name: '../../escaped.yaml', body: 'x' }],
    ['absolute path', { name: '/tmp/lading-escaped.yaml', body: 'x' }],
    ['symlink escape', { name: 'etc', type: 'symlink', linkname: '../../../../etc' }],
    ['device file', { name: 'dev-null', type: 'character-device', devmajor: 1, devminor: 3 }],
  ];
  for (const [name, entry] of evil) {
    it(`refuses a layer with a ${name}, writes nothing, and the CLI exits 1 naming the entry`, async () => {
      const layer = await makeTarball([{ name: 'ok.yaml', body: 'a: 1\n' }, entry]);
      const url = await pushLayers(reg.host, repoName('evil'), 'v1', [{ data: layer, mediaType: FluxContentMediaType }]);
      const parent = tempDir();
      const out = join(parent, 'out');
      await expect(pullArtifact({ url, output: out })).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' });
      expect(readdirSync(parent)).toEqual([]);
      const r = await lading(['pull', 'artifact', url, '-o', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`pulling ${url.slice(0, url.lastIndexOf(':'))}:v1`);
      expect(r.stderr).toContain(entry.name);
      expect(existsSync(out)).toBe(false);
      expect(existsSync('/tmp/lading-escaped.yaml')).toBe(false);
    });
  }

  it('refuses a size bomb by default and accepts it with --max-size', async () => {
    const layer = await makeTarball([{ name: 'zeros', body: Buffer.alloc(101 * 1024 * 1024) }]);
    const url = await pushLayers(reg.host, repoName('bomb'), 'v1', [{ data: layer, mediaType: FluxContentMediaType }]);
    const parent = tempDir();
    const r = await lading(['pull', 'artifact', url, '-o', join(parent, 'out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exceeds the limit of 104857600 bytes .*--max-size/);
    expect(readdirSync(parent)).toEqual([]);
    const ok = await lading(['pull', 'artifact', url, '-o', join(parent, 'out'), '--max-size', '200MiB']);
    expect(ok.code).toBe(0);
  });

  it('fails on a blob corrupted in transit (digest mismatch) and writes nothing', async () => {
    const layer = await makeTarball([{ name: 'a.yaml', body: 'a: 1\n'.repeat(1000) }]);
    const repo = repoName('corrupt');
    await pushLayers(reg.host, repo, 'v1', [{ data: layer, mediaType: FluxContentMediaType }]);
    proxy.reset();
    proxy.inject({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'corrupt' }, times: 100 });
    const parent = tempDir();
    const err = await pullArtifact({ url: `oci://${proxy.host}/${repo}:v1`, output: join(parent, 'out'), registry: { retryBaseMs: 1 } }).catch((e: unknown) => e);
    proxy.reset();
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/digest mismatch/);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('completes a pull whose blob download is cut once (the client retries)', async () => {
    const files: RawEntry[] = Array.from({ length: 50 }, (_, i) => ({ name: `d/f${i}.yaml`, body: `i: ${i}\n`.repeat(200) }));
    const layer = await makeTarball(files);
    const repo = repoName('cut');
    await pushLayers(reg.host, repo, 'v1', [{ data: layer, mediaType: FluxContentMediaType }]);
    proxy.reset();
    proxy.inject({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'cut', afterBytes: 100 }, times: 1 });
    const out = join(tempDir(), 'out');
    const pulled = await pullArtifact({ url: `oci://${proxy.host}/${repo}:v1`, output: out, registry: { retryBaseMs: 1 } });
    expect(proxy.requests.some((r) => r.fault === 'cut')).toBe(true);
    proxy.reset();
    expect(pulled.files).toBe(50);
    expect(Object.keys(readTree(out))).toHaveLength(50);
  });

  it('pulls artifacts made by other tools: any tar+gzip layer, a chosen layer, and refuses a non-archive layer', async () => {
    const repo = repoName('other');
    const a = await makeTarball([{ name: 'a.yaml', body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n' }]);
    const b = await makeTarball([{ name: 'b.yaml', body: 'b: 1\n' }], { gzip: false });
    const url = await pushLayers(reg.host, repo, 'v1', [
      { data: a, mediaType: MediaTypes.ociLayerGzip },
      { data: b, mediaType: 'application/vnd.example.plain.tar' },
    ]);
    const out1 = join(tempDir(), 'first');
    await pullArtifact({ url, output: out1 });
    expect(readTree(out1)).toEqual({ 'a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n' });
    const out2 = join(tempDir(), 'second');
    const r = await lading(['pull', 'artifact', url, '-o', out2, '--layer-media-type', 'application/vnd.example.plain.tar']);
    expect(r.code).toBe(0);
    expect(readTree(out2)).toEqual({ 'b.yaml': 'b: 1\n' });
    const none = await lading(['pull', 'artifact', url, '-o', join(tempDir(), 'x'), '--layer-media-type', 'application/none']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no layer with media type application\/none/);
    expect((await inspectArtifact({ url })).resources.map((res) => res.name)).toEqual(['a']);

    const text = await pushLayers(reg.host, repo, 'text', [{ data: Buffer.from('not a tarball, just a static file'), mediaType: 'application/vnd.cncf.flux.content.v1' }]);
    await expect(readArtifactFiles(text)).rejects.toMatchObject({ code: 'INVALID_ARCHIVE' });
  });
});
