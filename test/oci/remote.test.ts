// The registry client against a real distribution 2.8 registry, with the fault proxy used as a
// recorder where the test needs to see the requests: content negotiation, tag pagination,
// chunked and monolithic uploads, cross-repository mount, the referrers fallback, limits and
// bad input.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MediaTypes,
  MemoryStore,
  copy,
  descriptorFor,
  fetchManifest,
  openRepository,
  pushManifest,
  referrersTag,
  type ImageIndex,
} from '../../src/oci/index.js';
import { startFaultProxy, type FaultProxy } from '../env/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { expectOciError, expectSameBytes, pushRandomImage, pushRandomIndex, pushReferrer } from './helpers.js';

let reg: RunningRegistry;
let proxy: FaultProxy;
beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => proxy.reset());

describe('manifests', () => {
  it('negotiates Docker schema 2 and OCI media types, resolving with HEAD', async () => {
    const repo = openRepository(`${proxy.host}/neg/app`);
    const docker = await pushRandomImage(repo, { tag: 'docker', docker: true });
    const oci = await pushRandomImage(repo, { tag: 'oci' });
    proxy.reset();
    expect(await repo.resolve('docker')).toEqual({ mediaType: MediaTypes.dockerManifest, digest: docker.descriptor.digest, size: docker.descriptor.size });
    expect((await repo.resolve('oci')).mediaType).toBe(MediaTypes.ociManifest);
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
    const accept = String(proxy.requests[0]?.headers.accept);
    for (const t of [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList]) expect(accept).toContain(t);
    const fetched = await fetchManifest(repo, 'docker');
    expect(fetched.manifest).toEqual(docker.manifest);
    expect(oci.descriptor.digest).not.toBe(docker.descriptor.digest);
  });

  it('refuses unknown manifest media types and schema 1', async () => {
    const repo = openRepository(`${proxy.host}/neg/app`);
    proxy.inject({ path: /\/manifests\/legacy$/, fault: { kind: 'status', status: 200, headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }, body: JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'legacy', fsLayers: [] }) }, times: 2 });
    await expectOciError(repo.resolve('legacy'), 'UNSUPPORTED_MEDIA_TYPE', /schemaVersion 1/);
    const weird = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown', stuff: [] }));
    const mem = new MemoryStore();
    const desc = descriptorFor('application/x-unknown', weird);
    await mem.push(desc, weird);
    await expectOciError(fetchManifest(mem, desc), 'UNSUPPORTED_MEDIA_TYPE', /unsupported manifest media type "application\/x-unknown"/);
  });

  it('limits manifest sizes', async () => {
    const repo = openRepository(`${reg.host}/neg/app`);
    await expectOciError(repo.fetchBytes({ mediaType: MediaTypes.ociManifest, digest: `sha256:${'1'.repeat(64)}`, size: 5 * 1024 * 1024 }), 'TOO_LARGE', /exceeds the limit of 4194304 bytes/);
    const huge: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [], annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } };
    await expectOciError(pushManifest(repo, huge), 'TOO_LARGE');
  });

  it('reports a missing manifest, tag or repository as NOT_FOUND', async () => {
    const repo = openRepository(`${reg.host}/neg/nothing-here`);
    await expectOciError(repo.resolve('v1'), 'NOT_FOUND', new RegExp(`resolving ${reg.host}/neg/nothing-here:v1: manifest unknown`));
    await expectOciError(repo.listTags(), 'NOT_FOUND', /listing tags/);
    expect(await repo.referrers({ mediaType: MediaTypes.ociManifest, digest: `sha256:${'2'.repeat(64)}`, size: 1 })).toEqual([]);
  });
});

describe('tags', () => {
  // distribution 2.8 ignores `n` and sends every tag at once; distribution v3 pages with `Link`.
  let reg3: RunningRegistry;
  let proxy3: FaultProxy;
  beforeAll(async () => {
    reg3 = await startRegistry({ flavor: 'distribution3' });
    proxy3 = await startFaultProxy(reg3.url);
  });
  afterAll(async () => {
    await proxy3?.stop();
    await reg3?.stop();
  });

  it('follows Link pagination (distribution v3)', async () => {
    const repo = openRepository(`${proxy3.host}/tags/app`);
    const img = await pushRandomImage(repo, { tag: 't0' });
    const want = ['t0'];
    for (let i = 1; i < 7; i++) {
      await repo.tag(img.descriptor, `t${i}`);
      want.push(`t${i}`);
    }
    proxy3.reset();
    expect(await repo.listTags({ pageSize: 3 })).toEqual(want);
    const pages = proxy3.requests.filter((r) => r.path.includes('/tags/list'));
    expect(pages.length).toBe(3);
    expect(pages[1]?.path).toMatch(/[?&]last=t2/);
  });

  it('copies an index with referrers into distribution v3 and deletes there', async () => {
    const mem = new MemoryStore();
    const { descriptor } = await pushRandomIndex(mem, 'multi');
    const sig = await pushReferrer(mem, descriptor);
    const dst = openRepository(`${reg3.host}/v3/app`);
    await copy(mem, 'multi', dst, 'multi', { referrers: true });
    expect((await dst.resolve('multi')).digest).toBe(descriptor.digest);
    expect((await dst.referrers(descriptor)).map((d) => d.digest)).toEqual([sig.digest]);
    await dst.delete(sig);
    expect(await dst.referrers(descriptor)).toEqual([]);
  });
});

describe('tags without pagination', () => {
  it('lists every tag from distribution 2.8, which ignores `n`', async () => {
    const repo = openRepository(`${reg.host}/tags/app`);
    const img = await pushRandomImage(repo, { tag: 'a' });
    await repo.tag(img.descriptor, 'b');
    expect((await repo.listTags({ pageSize: 1 })).sort()).toEqual(['a', 'b']);
  });
});

describe('uploads', () => {
  it('chunked upload with PATCH', async () => {
    const repo = openRepository(`${proxy.host}/up/chunked`, { uploadChunkSize: 64 * 1024 });
    const data = randomBytes(300 * 1024);
    const desc = descriptorFor(MediaTypes.ociLayerGzip, data);
    await repo.push(desc, Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]));
    expect(proxy.requests.filter((r) => r.method === 'PATCH').length).toBe(5);
    expectSameBytes(await openRepository(`${reg.host}/up/chunked`).fetchBytes(desc), data);
  });

  it('monolithic streamed upload of a blob larger than the memory limit for fetchBytes', async () => {
    const repo = openRepository(`${reg.host}/up/mono`);
    const chunk = randomBytes(1 << 20);
    const chunks = Array.from({ length: 80 }, () => chunk);
    const { createHash } = await import('node:crypto');
    const h = createHash('sha256');
    for (const c of chunks) h.update(c);
    const desc = { mediaType: MediaTypes.ociLayerGzip, digest: `sha256:${h.digest('hex')}`, size: 80 << 20 };
    await repo.push(desc, Readable.from(chunks));
    expect(await repo.exists(desc)).toBe(true);
    await expectOciError(repo.fetchBytes(desc), 'TOO_LARGE', /exceeds the limit of 67108864 bytes/);
    let total = 0;
    for await (const c of await repo.fetch(desc)) total += (c as Buffer).length;
    expect(total).toBe(80 << 20);
  });

  it('mounts blobs across repositories of the same registry instead of copying', async () => {
    const src = openRepository(`${proxy.host}/mount/src`);
    const img = await pushRandomImage(src, { tag: 'v1', layers: 2 });
    proxy.reset();
    const kinds: string[] = [];
    await copy(src, 'v1', openRepository(`${proxy.host}/mount/dst`), 'v1', { onProgress: (e) => kinds.push(e.kind) });
    expect(kinds.filter((k) => k === 'mounted').length).toBe(3);
    expect(proxy.requests.filter((r) => r.method === 'POST' && /mount=sha256/.test(r.path) && /from=mount%2Fsrc/.test(r.path)).length).toBe(3);
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
    expect((await openRepository(`${reg.host}/mount/dst`).resolve('v1')).digest).toBe(img.descriptor.digest);
  });
});

describe('referrers tag schema', () => {
  it('maintains the sha256-<hex> index on push and delete, readable by any client', async () => {
    const repo = openRepository(`${reg.host}/refs/app`);
    const img = await pushRandomImage(repo, { tag: 'v1' });
    const a = await pushReferrer(repo, img.descriptor, 'application/vnd.example.a');
    const b = await pushReferrer(repo, img.descriptor, 'application/vnd.example.b');
    const tag = referrersTag(img.descriptor.digest);
    expect(tag).toBe(`sha256-${img.descriptor.digest.slice(7)}`);
    const { manifest } = await fetchManifest(openRepository(`${reg.host}/refs/app`), tag);
    expect((manifest as ImageIndex).manifests.map((d) => [d.digest, d.artifactType])).toEqual([
      [a.digest, 'application/vnd.example.a'],
      [b.digest, 'application/vnd.example.b'],
    ]);
    await repo.delete(a);
    expect((await repo.referrers(img.descriptor)).map((d) => d.digest)).toEqual([b.digest]);
  });
});
