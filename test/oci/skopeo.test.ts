// skopeo (Debian) as an independent client, both directions: what lading pushes, skopeo inspects
// and copies; what skopeo writes (to a registry and to an OCI layout), lading reads and verifies.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayoutStore, MemoryStore, copy, fetchManifest, openRepository, type ImageManifest } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushRandomImage, pushRandomIndex, requireBinary, tempDir, expectSameBytes } from './helpers.js';

const run = promisify(execFile);
const skopeo = () => requireBinary('/usr/bin/skopeo', 'skopeo');
let reg: RunningRegistry;
const tmp = tempDir('lading-skopeo-');

beforeAll(async () => {
  reg = await startRegistry({ auth: true });
});
afterAll(async () => {
  await reg?.stop();
  tmp.remove();
});

const creds = () => ({ credentials: { get: async () => ({ username: reg.username!, password: reg.password! }) } });
const skopeoCreds = () => `${reg.username}:${reg.password}`;

describe('skopeo reads what lading writes', () => {
  it('inspects and copies an image lading pushed', async () => {
    const repo = openRepository(`${reg.host}/interop/from-lading`, creds());
    const img = await pushRandomImage(repo, { tag: '1.0.0', layers: 3, layerSize: 300_000 });
    const { stdout } = await run(skopeo(), ['inspect', '--tls-verify=false', '--creds', skopeoCreds(), `docker://${reg.host}/interop/from-lading:1.0.0`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
    expect(info.Digest).toBe(img.descriptor.digest);
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
    expect(info.Architecture).toBe('amd64');
    const raw = await run(skopeo(), ['inspect', '--raw', '--tls-verify=false', '--creds', skopeoCreds(), `docker://${reg.host}/interop/from-lading:1.0.0`]);
    expect(JSON.parse(raw.stdout)).toEqual(img.manifest);
    const out = join(tmp.path, 'skopeo-out');
    await run(skopeo(), ['copy', '--src-tls-verify=false', '--src-creds', skopeoCreds(), `docker://${reg.host}/interop/from-lading:1.0.0`, `oci:${out}:copied`]);
    for (const [i, l] of img.layers.entries()) {
      expectSameBytes(readFileSync(join(out, 'blobs', 'sha256', l.digest.slice(7))), img.layerBytes[i]);
    }
  });

  it('skopeo copies from an OCI layout lading wrote (an index with two platforms)', async () => {
    const dir = join(tmp.path, 'lading-layout');
    const layout = await LayoutStore.open(dir, { create: true });
    const { descriptor } = await pushRandomIndex(layout, 'multi');
    await run(skopeo(), ['copy', '--all', '--dest-tls-verify=false', '--dest-creds', skopeoCreds(), `oci:${dir}:multi`, `docker://${reg.host}/interop/layout:multi`]);
    const repo = openRepository(`${reg.host}/interop/layout`, creds());
    expect((await repo.resolve('multi')).digest).toBe(descriptor.digest);
  });
});

describe('lading reads what skopeo writes', () => {
  it('pulls and verifies an image skopeo pushed (Docker schema 2 media types)', async () => {
    const src = join(tmp.path, 'src-layout');
    const layout = await LayoutStore.open(src, { create: true });
    const img = await pushRandomImage(layout, { tag: 'v1', layers: 2, layerSize: 200_000 });
    // skopeo converts to Docker schema 2 on the way, as `docker push` would store it.
    await run(skopeo(), ['copy', '--format', 'v2s2', '--dest-tls-verify=false', '--dest-creds', skopeoCreds(), `oci:${src}:v1`, `docker://${reg.host}/interop/from-skopeo:v1`]);
    const repo = openRepository(`${reg.host}/interop/from-skopeo`, creds());
    const desc = await repo.resolve('v1');
    expect(desc.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const { manifest } = await fetchManifest(repo, desc);
    expect((manifest as ImageManifest).layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest));
    const mem = new MemoryStore();
    await copy(repo, 'v1', mem, 'v1');
    for (const [i, l] of (manifest as ImageManifest).layers.entries()) expectSameBytes(await mem.fetchBytes(l), img.layerBytes[i]);
  });

  it('reads an OCI layout skopeo wrote', async () => {
    const repo = openRepository(`${reg.host}/interop/from-lading`, creds());
    const out = join(tmp.path, 'skopeo-layout-2');
    await run(skopeo(), ['copy', '--src-tls-verify=false', '--src-creds', skopeoCreds(), `docker://${reg.host}/interop/from-lading:1.0.0`, `oci:${out}:x`]);
    const layout = await LayoutStore.open(out);
    const { manifest } = await fetchManifest(layout, 'x');
    const original = await fetchManifest(repo, '1.0.0');
    expect((manifest as ImageManifest).layers.map((l) => l.digest)).toEqual((original.manifest as ImageManifest).layers.map((l) => l.digest));
    const back = openRepository(`${reg.host}/interop/roundtrip`, creds());
    await copy(layout, 'x', back, 'x');
    const { stdout } = await run(skopeo(), ['inspect', '--tls-verify=false', '--creds', skopeoCreds(), `docker://${reg.host}/interop/roundtrip:x`]);
    expect((JSON.parse(stdout) as { Layers: string[] }).Layers).toEqual((original.manifest as ImageManifest).layers.map((l) => l.digest));
  });
});
