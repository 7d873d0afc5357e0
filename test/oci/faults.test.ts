// Faults injected by a proxy in front of a real registry: 429 with Retry-After, 500s, a connection
// cut in the middle of a blob, resets during upload, corrupted content. Copies retry and
// complete, or fail with a clear error and leave nothing half-written.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LayoutStore, MemoryStore, copy, openRepository, type RegistryOptions } from '../../src/oci/index.js';
import { runCaptured } from '../cli/captured-io.js';
import { startFaultProxy, type FaultProxy } from '../env/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { expectOciError, pushRandomImage, tempDir, type TestImage, expectSameBytes } from './helpers.js';

let reg: RunningRegistry;
let proxy: FaultProxy;
let img: TestImage;
const tmp = tempDir('lading-faults-');
const fast: RegistryOptions = { retryBaseMs: 5, retries: 3 };
let n = 0;

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
  img = await pushRandomImage(openRepository(`${reg.host}/faults/src`), { tag: 'v1', layers: 2, layerSize: 2_000_000 });
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  tmp.remove();
});
beforeEach(() => proxy.reset());

const viaProxy = (repo: string, opts: RegistryOptions = fast) => openRepository(`${proxy.host}/${repo}`, opts);
const blobPath = (digest: string) => new RegExp(`/blobs/${digest.replace(':', ':')}$`);
const layer0 = () => img.layers[0]!;

describe('retries', () => {
  it('429 with Retry-After on a blob: waits, retries and completes', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'status', status: 429, headers: { 'Retry-After': '1' } } });
    const dst = new MemoryStore();
    await copy(viaProxy('faults/src'), 'v1', dst, 'v1');
    expectSameBytes(await dst.fetchBytes(layer0()), img.layerBytes[0]);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer0().digest));
    expect(gets.map((r) => r.fault ?? 'ok')).toEqual(['status', 'ok']);
  });

  it('500s on manifest upload and on the upload start: retries and completes', async () => {
    proxy.inject({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 500 }, times: 2 });
    proxy.inject({ method: 'POST', path: /\/blobs\/uploads\/$/, fault: { kind: 'status', status: 503 }, times: 1 });
    const dst = viaProxy(`faults/dst${++n}`);
    await copy(new MemoryStore(), 'x', dst).catch(() => undefined); // nothing to copy: resolve fails
    const src = openRepository(`${reg.host}/faults/src`);
    await copy(src, 'v1', dst, 'v1');
    expect((await openRepository(`${reg.host}/faults/dst${n}`).resolve('v1')).digest).toBe(img.descriptor.digest);
    expect(proxy.requests.filter((r) => r.fault === 'status').length).toBe(3);
  });

  it('a connection cut in the middle of a blob: resumes with a Range request', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'cut', afterBytes: 700_000 } });
    const dst = new MemoryStore();
    await copy(viaProxy('faults/src'), 'v1', dst, 'v1');
    expectSameBytes(await dst.fetchBytes(layer0()), img.layerBytes[0]);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer0().digest));
    expect(gets.length).toBe(2);
    expect(gets[1]?.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/bytes=(\d+)-/.exec(gets[1]!.headers.range!)![1])).toBeGreaterThan(0);
  });

  it('a connection cut in the middle of a small blob read whole (fetchBytes): asked for again, digest checked', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'cut', afterBytes: 500_000 } });
    expectSameBytes(await viaProxy('faults/src').fetchBytes(layer0()), img.layerBytes[0]);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(layer0().digest));
    expect(gets.map((r) => r.fault ?? 'ok')).toEqual(['cut', 'ok']);
  });

  it('a small blob that does not match its digest (fetchBytes): DIGEST_MISMATCH', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'corrupt' } });
    await expectOciError(viaProxy('faults/src').fetchBytes(layer0()), 'DIGEST_MISMATCH');
  });

  it('a connection reset during a streamed upload: the blob copy starts again and completes', async () => {
    proxy.inject({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'reset' } });
    const dst = viaProxy(`faults/dst${++n}`);
    await copy(await src(), 'v1', dst, 'v1');
    expect((await dst.resolve('v1')).digest).toBe(img.descriptor.digest);
    expect(proxy.requests.filter((r) => r.fault === 'reset').length).toBe(1);
  });
});

// A layout source, so the upload side is the only remote one.
async function src(): Promise<LayoutStore> {
  const dir = join(tmp.path, `src-${++n}`);
  const layout = await LayoutStore.open(dir, { create: true });
  await copy(openRepository(`${reg.host}/faults/src`), 'v1', layout, 'v1');
  return layout;
}

describe('failures leave nothing half-written', () => {
  it('persistent 500s: a clear error naming the registry response, and no tag at the destination', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'status', status: 500 }, times: 100 });
    const dir = join(tmp.path, `dst-${++n}`);
    const dst = await LayoutStore.open(dir, { create: true });
    await expectOciError(copy(viaProxy('faults/src'), 'v1', dst, 'v1'), 'REGISTRY', new RegExp(`fetching blob ${layer0().digest} from oci://${proxy.host}/faults/src: 500`));
    await expectOciError(dst.resolve('v1'), 'NOT_FOUND');
    expect(existsSync(join(dir, 'blobs', 'sha256', layer0().digest.slice(7)))).toBe(false);
    expect(readdirSync(join(dir, 'blobs', 'sha256')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a connection cut again and again: fails with a network error, no partial blob', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'cut', afterBytes: 100_000 }, times: 100 });
    const dir = join(tmp.path, `dst-${++n}`);
    const dst = await LayoutStore.open(dir, { create: true });
    await expectOciError(copy(viaProxy('faults/src', { retryBaseMs: 5, retries: 2 }), 'v1', dst, 'v1', { blobRetries: 1 }), 'NETWORK', new RegExp(layer0().digest));
    expect(existsSync(join(dir, 'blobs', 'sha256', layer0().digest.slice(7)))).toBe(false);
    expect(readdirSync(join(dir, 'blobs', 'sha256')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expectOciError(dst.resolve('v1'), 'NOT_FOUND');
  });

  it('a blob that does not match its digest: DIGEST_MISMATCH, and the destination registry stores nothing', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'corrupt' }, times: 100 });
    const dstName = `faults/dst${++n}`;
    const dst = openRepository(`${reg.host}/${dstName}`, fast);
    await expectOciError(copy(viaProxy('faults/src'), 'v1', dst, 'v1'), 'DIGEST_MISMATCH', new RegExp(`expected ${layer0().digest}`));
    expect(await dst.exists(layer0())).toBe(false);
    await expectOciError(dst.resolve('v1'), 'NOT_FOUND');
  });

  it('a manifest that does not match its digest is refused', async () => {
    proxy.inject({ method: 'GET', path: new RegExp(`/manifests/${img.descriptor.digest}$`), fault: { kind: 'corrupt' } });
    await expectOciError(viaProxy('faults/src').fetchBytes(img.descriptor), 'DIGEST_MISMATCH');
  });

  it('a Docker-Content-Digest that contradicts the requested digest is refused', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    proxy.inject({ method: 'HEAD', path: new RegExp(`/manifests/${img.descriptor.digest}$`), fault: { kind: 'status', status: 200, headers: { 'Docker-Content-Digest': wrong, 'Content-Type': img.descriptor.mediaType, 'Content-Length': String(img.descriptor.size) }, body: '' } });
    await expectOciError(viaProxy('faults/src').resolve(img.descriptor.digest), 'DIGEST_MISMATCH', /answered with digest sha256:0000/);
  });

  it('an unreachable registry: a network error naming it', async () => {
    const port = proxy.host.split(':')[1];
    await proxy.stop();
    try {
      await expectOciError(openRepository(`127.0.0.1:${port}/x`, fast).resolve('v1'), 'NETWORK', new RegExp(`^resolving 127.0.0.1:${port}/x:v1: contacting registry 127.0.0.1:${port}: .*ECONNREFUSED.*is the registry 127.0.0.1:${port} running`));
    } finally {
      proxy = await startFaultProxy(reg.url);
    }
  });

  it('a registry that stops answering: a timeout error after --registry-timeout without progress', async () => {
    proxy.inject({ method: 'HEAD', path: /\/manifests\/v1$/, fault: { kind: 'stall' }, times: 100 });
    await expectOciError(viaProxy('faults/src', { idleTimeoutMs: 300, retries: 1, retryBaseMs: 5 }).resolve('v1'), 'TIMEOUT', new RegExp(`resolving ${proxy.host}/faults/src:v1: no response from ${proxy.host} within 300 ms`));
  });

  it('cancellation with an AbortSignal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expectOciError(copy(viaProxy('faults/src'), 'v1', new MemoryStore(), 'v1', { signal: ac.signal }), 'ABORTED');
  });
});

describe('hostile registries', () => {
  const tagPage = (tags: string[], next?: string) => ({
    kind: 'status' as const,
    status: 200,
    headers: { 'Content-Type': 'application/json', ...(next ? { Link: `<${next}>; rel="next"` } : {}) },
    body: JSON.stringify({ name: 'faults/src', tags }),
  });

  it('tag-list pagination that links back to a page already read: refused, naming the repository, after a few requests', async () => {
    proxy.inject({ method: 'GET', path: /\/tags\/list/, fault: tagPage(['a', 'b'], '/v2/faults/src/tags/list?n=2&last=b'), times: 10_000 });
    await expectOciError(viaProxy('faults/src').listTags(), 'REGISTRY', new RegExp(`^listing tags of oci://${proxy.host}/faults/src: the registry's pagination links back to a page already read`));
    expect(proxy.requests.filter((r) => r.path.includes('/tags/list')).length).toBe(2);
  });

  it('pages that bring no new tags but link on (a loop through changing URLs): refused', async () => {
    proxy.inject({ method: 'GET', path: /\/tags\/list\?n=1000$/, fault: tagPage(['a', 'b'], '/v2/faults/src/tags/list?n=2&last=1') });
    proxy.inject({ method: 'GET', path: /last=1$/, fault: tagPage(['b', 'a'], '/v2/faults/src/tags/list?n=2&last=2') });
    await expectOciError(viaProxy('faults/src').listTags(), 'REGISTRY', /page 2 of the tag list brought no new tags but links to another/);
  });

  it('pagination that goes on: pages are followed and tags kept once each', async () => {
    proxy.inject({ method: 'GET', path: /\/tags\/list\?n=1000$/, fault: tagPage(['a', 'b'], '/v2/faults/src/tags/list?n=2&last=b') });
    proxy.inject({ method: 'GET', path: /last=b$/, fault: tagPage(['b', 'c']) });
    expect(await viaProxy('faults/src').listTags()).toEqual(['a', 'b', 'c']);
  });

  it('a tag list of ~3.5 MiB in one response is read whole (no argument spreading over it)', async () => {
    const tags = Array.from({ length: 120_000 }, (_, i) => `release-${String(i).padStart(8, '0')}-abcdefghijkl`);
    const page = tagPage(tags);
    expect(page.body.length).toBeGreaterThan(3.5 * 1024 * 1024);
    proxy.inject({ method: 'GET', path: /\/tags\/list/, fault: page });
    const listed = await viaProxy('faults/src').listTags();
    expect(listed.length).toBe(tags.length);
    expect(listed[119_999]).toBe(tags[119_999]);
  });

  it('pages that each fit the page limit but together exceed the tag list limit (64 MiB): refused, not held in memory', async () => {
    // Three pages of ~30 MiB of distinct 128-character tags, each linking to the next.
    const page = (n: number, next?: string) => tagPage(Array.from({ length: 235_000 }, (_, i) => `p${n}-${String(i).padStart(8, '0')}`.padEnd(128, 'x')), next);
    const first = page(1, '/v2/faults/src/tags/list?n=2&last=p1');
    expect(first.body.length).toBeGreaterThan(28 * 1024 * 1024);
    expect(first.body.length).toBeLessThan(32 * 1024 * 1024);
    proxy.inject({ method: 'GET', path: /\/tags\/list\?n=1000$/, fault: first });
    proxy.inject({ method: 'GET', path: /last=p1$/, fault: page(2, '/v2/faults/src/tags/list?n=2&last=p2') });
    proxy.inject({ method: 'GET', path: /last=p2$/, fault: page(3, '/v2/faults/src/tags/list?n=2&last=p3') });
    await expectOciError(viaProxy('faults/src').listTags(), 'TOO_LARGE', /the tag list exceeds the limit of 67108864 bytes \(at page 3\)/);
    expect(proxy.requests.filter((r) => r.path.includes('last=p3'))).toHaveLength(0);
  });

  it('a registry trickling one byte every 2 s: the overall deadline (timeoutMs) stops the copy, the idle limit never would', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'trickle', intervalMs: 2000, afterBytes: 1000 }, times: 10 });
    const dst = new MemoryStore();
    await expectOciError(copy(viaProxy('faults/src', { ...fast, timeoutMs: 3000, idleTimeoutMs: 60_000 }), 'v1', dst, 'v1'), 'TIMEOUT', new RegExp(`the registry operation on ${proxy.host} did not finish within 3 s`));
    expect(await dst.exists(layer0())).toBe(false);
  });

  it('--timeout on the CLI bounds a whole copy from a trickling registry (exit 1, the limit named)', async () => {
    proxy.inject({ method: 'GET', path: blobPath(layer0().digest), fault: { kind: 'trickle', intervalMs: 2000, afterBytes: 1000 }, times: 10 });
    const run = await runCaptured(['copy', `${proxy.host}/faults/src:v1`, `${reg.host}/faults/deadline:v1`, '--timeout', '3s'], { env: { HOME: tmp.path, DOCKER_CONFIG: tmp.path, PATH: process.env['PATH'] }, cwd: tmp.path });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/did not finish within 3 s/);
    await expectOciError(openRepository(`${reg.host}/faults/deadline`).resolve('v1'), 'NOT_FOUND');
  });
});
