// The three Storage implementations behave alike, and copy works between every pair of them
// (the remote one is a real distribution 2.8 registry).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LayoutStore,
  MediaTypes,
  MemoryStore,
  copy,
  descriptorFor,
  fetchManifest,
  openRepository,
  type Storage,
} from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { expectOciError, pushRandomImage, pushRandomIndex, pushReferrer, tempDir, expectSameBytes } from './helpers.js';

let registry: RunningRegistry;
const dirs: Array<{ remove: () => void }> = [];
let counter = 0;

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  for (const d of dirs) d.remove();
});

type Kind = 'memory' | 'layout' | 'remote';
async function makeStore(kind: Kind): Promise<Storage> {
  counter++;
  if (kind === 'memory') return new MemoryStore(`m${counter}`);
  if (kind === 'layout') {
    const d = tempDir('lading-layout-');
    dirs.push(d);
    return LayoutStore.open(join(d.path, 'layout'), { create: true });
  }
  return openRepository(`${registry.host}/stores/repo${counter}`);
}

const kinds: Kind[] = ['memory', 'layout', 'remote'];

describe.each(kinds)('%s store', (kind) => {
  it('pushes, resolves, fetches, tags, lists and deletes', async () => {
    const store = await makeStore(kind);
    const img = await pushRandomImage(store, { tag: 'v1' });
    expect(await store.resolve('v1')).toMatchObject({ digest: img.descriptor.digest, mediaType: MediaTypes.ociManifest, size: img.descriptor.size });
    expect(await store.resolve(img.descriptor.digest)).toMatchObject({ digest: img.descriptor.digest });
    expect(await store.exists(img.layers[0]!)).toBe(true);
    expectSameBytes(await store.fetchBytes(img.layers[1]!, { maxBytes: 1 << 20 }), img.layerBytes[1]);
    const { manifest } = await fetchManifest(store, 'v1');
    expect(manifest).toEqual(img.manifest);
    await store.tag(img.descriptor, 'v2');
    expect(await store.listTags()).toEqual(['v1', 'v2']);
    await expectOciError(store.resolve('nope'), 'NOT_FOUND');
    await expectOciError(store.tag(img.descriptor, 'bad tag'), 'INVALID_REFERENCE');
    const missing = descriptorFor(MediaTypes.ociLayerGzip, randomBytes(10));
    expect(await store.exists(missing)).toBe(false);
    await expectOciError(store.fetchBytes(missing), 'NOT_FOUND');
    await store.delete(img.descriptor);
    await expectOciError(store.resolve(img.descriptor.digest), 'NOT_FOUND');
  });

  it('refuses content that does not match its descriptor, and stores nothing', async () => {
    const store = await makeStore(kind);
    const data = randomBytes(1000);
    const desc = descriptorFor(MediaTypes.ociLayerGzip, data);
    const other = randomBytes(1000);
    const { Readable } = await import('node:stream');
    const err = await store.push(desc, Readable.from([other])).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(err, 'push of mismatching content must fail').toBeDefined();
    expect(['DIGEST_MISMATCH', 'REGISTRY']).toContain(err?.code);
    expect(await store.exists(desc)).toBe(false);
    await expectOciError(store.push(desc, other), 'DIGEST_MISMATCH');
    await expectOciError(store.push({ ...desc, size: 999 }, data), 'SIZE_MISMATCH');
    expect(await store.exists(desc)).toBe(false);
  });

  it('finds referrers (the registry through the referrers tag schema)', async () => {
    const store = await makeStore(kind);
    const img = await pushRandomImage(store, { tag: 'v1' });
    const sig = await pushReferrer(store, img.descriptor);
    const att = await pushReferrer(store, img.descriptor, 'application/vnd.example.attestation');
    const refs = await store.referrers(img.descriptor);
    expect(refs.map((r) => r.digest).sort()).toEqual([sig.digest, att.digest].sort());
    expect(refs.find((r) => r.digest === sig.digest)).toMatchObject({ artifactType: 'application/vnd.example.signature', annotations: { 'org.example.note': 'test' } });
    expect((await store.referrers(img.descriptor, { artifactType: 'application/vnd.example.attestation' })).map((r) => r.digest)).toEqual([att.digest]);
    if (kind === 'remote') expect(await store.listTags()).toContain(img.descriptor.digest.replace(':', '-'));
  });
});

describe('copy between every pair of stores', () => {
  const pairs = kinds.flatMap((a) => kinds.map((b) => [a, b] as const));
  it.each(pairs)('%s → %s: an index with two images and referrers', async (a, b) => {
    const src = await makeStore(a);
    const dst = await makeStore(b);
    const { descriptor, images } = await pushRandomIndex(src, 'multi');
    const sig = await pushReferrer(src, descriptor);
    const events: string[] = [];
    const root = await copy(src, 'multi', dst, 'copied', { referrers: true, onProgress: (e) => events.push(e.kind) });
    expect(root.digest).toBe(descriptor.digest);
    expect((await dst.resolve('copied')).digest).toBe(descriptor.digest);
    for (const img of images) {
      for (const [i, l] of img.layers.entries()) expectSameBytes(await dst.fetchBytes(l), img.layerBytes[i]);
      expect(await dst.exists(img.config)).toBe(true);
    }
    expect((await dst.referrers(descriptor)).map((r) => r.digest)).toEqual([sig.digest]);
    expect(events.filter((e) => e === 'copied' || e === 'mounted').length).toBeGreaterThanOrEqual(9);
    // A second copy finds everything in place.
    const again: string[] = [];
    await copy(src, 'multi', dst, 'copied', { onProgress: (e) => again.push(e.kind) });
    expect(again).toEqual(['skipped']);
  });
});

describe('layout store on disk', () => {
  it('writes a valid OCI image layout and reopens it', async () => {
    const d = tempDir();
    dirs.push(d);
    const dir = join(d.path, 'l');
    const store = await LayoutStore.open(dir, { create: true });
    const img = await pushRandomImage(store, { tag: 'v1' });
    expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: img.descriptor.digest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } })]);
    expect(readdirSync(join(dir, 'blobs', 'sha256')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const reopened = await LayoutStore.open(dir);
    expect((await reopened.resolve('v1')).digest).toBe(img.descriptor.digest);
  });

  it('rejects a directory that is not a layout, and a corrupted blob on read', async () => {
    const d = tempDir();
    dirs.push(d);
    await expectOciError(LayoutStore.open(d.path), 'LAYOUT', /no oci-layout file/);
    const store = await LayoutStore.open(join(d.path, 'l'), { create: true });
    const img = await pushRandomImage(store, { tag: 'v1' });
    const blob = join(d.path, 'l', 'blobs', 'sha256', img.layers[0]!.digest.slice(7));
    expect(existsSync(blob)).toBe(true);
    writeFileSync(blob, randomBytes(img.layers[0]!.size));
    await expectOciError(store.fetchBytes(img.layers[0]!), 'DIGEST_MISMATCH');
    const target = new MemoryStore();
    await expectOciError(copy(store, 'v1', target), 'DIGEST_MISMATCH');
    expect(await target.exists(img.layers[0]!)).toBe(false);
    expect(await target.exists(img.descriptor)).toBe(false);
  });
});
