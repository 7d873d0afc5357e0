// The OCI 1.1 referrers API against a registry that serves it: go-containerregistry's registry
// with WithReferrersSupport(true) (test/tools/oci/referrers-registry). lading must list through
// GET /v2/<name>/referrers/<digest>, filter by artifactType, and leave the referrers tag schema
// (sha256-<hex>) alone there. That registry sends no OCI-Subject header and lists the config media
// type as every referrer's artifactType, without annotations; lading copes with both. The tag
// fallback on distribution v3 is tested in remote.test.ts.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MediaTypes,
  copy,
  fetchManifest,
  openRepository,
  pushManifest,
  referrersTag,
  type Descriptor,
  type ImageIndex,
} from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushRandomImage, pushRandomIndex, pushReferrer } from './helpers.js';

let reg: RunningRegistry;

beforeAll(async () => {
  reg = await startRegistry({ flavor: 'ggcr-referrers' });
});

afterAll(async () => {
  await reg?.stop();
});

interface LoggedRequest {
  method: string;
  path: string;
}

/** The requests the registry logged (its own access log), from byte `offset` of the log on. */
function requestsSince(offset: number): LoggedRequest[] {
  const text = readFileSync(reg.logFile, 'utf8').slice(offset);
  const out: LoggedRequest[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (GET|HEAD|PUT|POST|PATCH|DELETE) (\S+)/.exec(line);
    if (m?.[1] && m[2]) out.push({ method: m[1], path: decodeURIComponent(m[2]) });
  }
  return out;
}

function logOffset(): number {
  return readFileSync(reg.logFile, 'utf8').length;
}

/** The registry's own referrers listing, read with a plain HTTP client. */
async function apiListing(name: string, digest: string): Promise<{ contentType: string | null; index: ImageIndex }> {
  const res = await fetch(`${reg.url}/v2/${name}/referrers/${digest}`, { headers: { Accept: MediaTypes.ociIndex } });
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), index: (await res.json()) as ImageIndex };
}

async function tagsOf(name: string): Promise<string[]> {
  const res = await fetch(`${reg.url}/v2/${name}/tags/list`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/**
 * The referrers tag of `subject` was not written, and read at most once: a repository that does
 * not know yet whether the registry has the API reads the tag alongside its first API request.
 */
function expectNoFallbackTraffic(requests: LoggedRequest[], name: string, subject: string): void {
  const tagPath = `/v2/${name}/manifests/${referrersTag(subject)}`;
  const touched = requests.filter((r) => r.path === tagPath);
  expect(touched.filter((r) => r.method !== 'GET')).toEqual([]);
  expect(touched.length).toBeLessThanOrEqual(1);
}

describe('referrers API (go-containerregistry registry)', () => {
  it('a manifest with a subject is listed by the registry; lading writes no referrers tag', async () => {
    const name = 'api/app';
    const img = await pushRandomImage(openRepository(`${reg.host}/${name}`), { tag: 'v1' });
    const offset = logOffset();
    // A fresh repository object: it has never seen this registry's referrers API before the push.
    const sig = await pushReferrer(openRepository(`${reg.host}/${name}`), img.descriptor, 'application/vnd.example.signature');
    const att = await pushReferrer(openRepository(`${reg.host}/${name}`), img.descriptor, 'application/vnd.example.attestation');
    const requests = requestsSince(offset);
    expectNoFallbackTraffic(requests, name, img.descriptor.digest);
    // Without OCI-Subject in the PUT response, lading asked the API once per new repository object.
    expect(requests.filter((r) => r.method === 'GET' && r.path === `/v2/${name}/referrers/${img.descriptor.digest}`)).toHaveLength(2);

    const listing = await apiListing(name, img.descriptor.digest);
    expect(listing.contentType).toBe(MediaTypes.ociIndex);
    expect(listing.index.manifests.map((d) => d.digest).sort()).toEqual([sig.digest, att.digest].sort());
    expect(await tagsOf(name)).toEqual(['v1']);
  });

  it('lists through the API with artifactType and annotations, and filters by artifactType', async () => {
    const name = 'api/filter';
    const repo = openRepository(`${reg.host}/${name}`);
    const img = await pushRandomImage(repo, { tag: 'v1' });
    const a = await pushReferrer(repo, img.descriptor, 'application/vnd.example.a');
    const b = await pushReferrer(repo, img.descriptor, 'application/vnd.example.b');
    const other = await pushRandomImage(repo, { tag: 'v2' });
    const c = await pushReferrer(repo, other.descriptor, 'application/vnd.example.a');

    // The registry lists the empty config type for both and drops the annotations ...
    const raw = await apiListing(name, img.descriptor.digest);
    expect(new Set(raw.index.manifests.map((d) => d.artifactType))).toEqual(new Set([MediaTypes.ociEmpty]));

    // ... lading reports what the manifests say.
    const offset = logOffset();
    const reader = openRepository(`${reg.host}/${name}`);
    const all = await reader.referrers(img.descriptor);
    expect(all.map((d) => [d.digest, d.artifactType, d.annotations?.['org.example.note']]).sort()).toEqual(
      [
        [a.digest, 'application/vnd.example.a', 'test'],
        [b.digest, 'application/vnd.example.b', 'test'],
      ].sort(),
    );
    expect(all.every((d) => d.mediaType === MediaTypes.ociManifest && d.size > 0)).toBe(true);
    expect((await reader.referrers(img.descriptor, { artifactType: 'application/vnd.example.b' })).map((d) => d.digest)).toEqual([b.digest]);
    expect((await reader.referrers(img.descriptor, { artifactType: 'application/vnd.example.none' })).map((d) => d.digest)).toEqual([]);
    expect((await reader.referrers(other.descriptor, { artifactType: 'application/vnd.example.a' })).map((d) => d.digest)).toEqual([c.digest]);

    const requests = requestsSince(offset);
    expect(requests.filter((r) => r.method === 'GET' && r.path === `/v2/${name}/referrers/${img.descriptor.digest}`)).toHaveLength(1);
    expect(requests.some((r) => r.method === 'GET' && r.path === `/v2/${name}/referrers/${img.descriptor.digest}?artifactType=application/vnd.example.b`)).toBe(true);
    expectNoFallbackTraffic(requests, name, img.descriptor.digest);
    expectNoFallbackTraffic(requests, name, other.descriptor.digest);
  });

  it('an index as subject and an index as referrer (listed without artifactType)', async () => {
    const name = 'api/index';
    const repo = openRepository(`${reg.host}/${name}`);
    const { descriptor: subject, images } = await pushRandomIndex(repo, 'multi');
    const child = images[0]?.descriptor as Descriptor;
    const referrerIndex = await pushManifest(repo, {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      artifactType: 'application/vnd.example.bundle-set',
      manifests: [child],
      subject,
      annotations: { 'org.example.kind': 'set' },
    });
    const raw = await apiListing(name, subject.digest);
    expect(raw.index.manifests.map((d) => [d.digest, d.mediaType, d.artifactType])).toEqual([[referrerIndex.digest, MediaTypes.ociIndex, undefined]]);
    const listed = await openRepository(`${reg.host}/${name}`).referrers(subject, { artifactType: 'application/vnd.example.bundle-set' });
    expect(listed.map((d) => [d.digest, d.mediaType, d.artifactType, d.annotations])).toEqual([
      [referrerIndex.digest, MediaTypes.ociIndex, 'application/vnd.example.bundle-set', { 'org.example.kind': 'set' }],
    ]);
    expect(await tagsOf(name)).not.toContain(referrersTag(subject.digest));
  });

  it('deleting a referrer takes it out of the listing and writes no referrers tag', async () => {
    const name = 'api/delete';
    const repo = openRepository(`${reg.host}/${name}`);
    const img = await pushRandomImage(repo, { tag: 'v1' });
    const a = await pushReferrer(repo, img.descriptor, 'application/vnd.example.a');
    const b = await pushReferrer(repo, img.descriptor, 'application/vnd.example.b');
    const offset = logOffset();
    await openRepository(`${reg.host}/${name}`).delete(a);
    expect((await apiListing(name, img.descriptor.digest)).index.manifests.map((d) => d.digest)).toEqual([b.digest]);
    expect((await openRepository(`${reg.host}/${name}`).referrers(img.descriptor)).map((d) => d.digest)).toEqual([b.digest]);
    expect(await tagsOf(name)).toEqual(['v1']);
    expect(requestsSince(offset).filter((r) => r.method === 'PUT')).toEqual([]);
  });

  it('a subject with no referrers, and a repository that does not exist yet: an empty list', async () => {
    const repo = openRepository(`${reg.host}/api/empty`);
    const img = await pushRandomImage(repo, { tag: 'v1' });
    expect(await repo.referrers(img.descriptor)).toEqual([]);
    expect(await openRepository(`${reg.host}/api/nothing-here`).referrers(img.descriptor)).toEqual([]);
  });

  it('a tag-schema index that lists artifacts as the empty type (as cosign v2 writes it) is completed from the manifests (distribution v3)', async () => {
    const v3 = await startRegistry({ flavor: 'distribution3' });
    try {
      const repo = openRepository(`${v3.host}/api/other-tool`);
      const img = await pushRandomImage(repo, { tag: '1.0.0' });
      const sig = await pushReferrer(repo, img.descriptor, 'application/vnd.dev.sigstore.bundle.v0.3+json');
      // Rewrite the sha256-<hex> index the way go-containerregistry v0.20 lists referrers: the
      // config's media type as artifactType, no annotations.
      const tag = referrersTag(img.descriptor.digest);
      const written = (await fetchManifest(repo, tag)).manifest as ImageIndex;
      expect(written.manifests.map((d) => d.digest)).toEqual([sig.digest]);
      const bare: ImageIndex = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: written.manifests.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, artifactType: MediaTypes.ociEmpty })),
      };
      await pushManifest(repo, bare, { tag });
      const fresh = openRepository(`${v3.host}/api/other-tool`);
      const listed = await fresh.referrers(img.descriptor, { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
      expect(listed.map((d) => [d.digest, d.artifactType, d.annotations?.['org.example.note']])).toEqual([[sig.digest, 'application/vnd.dev.sigstore.bundle.v0.3+json', 'test']]);
    } finally {
      await v3.stop();
    }
  });

  it('copy --referrers between the API and the tag schema, both ways (distribution v3)', async () => {
    const v3 = await startRegistry({ flavor: 'distribution3' });
    try {
      const src = openRepository(`${reg.host}/api/copy-src`);
      const { descriptor, images } = await pushRandomIndex(src, 'multi');
      const onIndex = await pushReferrer(src, descriptor, 'application/vnd.example.signature');
      const onChild = await pushReferrer(src, images[1]?.descriptor as Descriptor, 'application/vnd.example.sbom');

      // API → tag schema: distribution v3 gets the sha256-<hex> index, with the real artifactTypes.
      const mid = openRepository(`${v3.host}/api/copy-mid`);
      await copy(src, 'multi', mid, 'multi', { referrers: true });
      const tagIndex = (await fetchManifest(openRepository(`${v3.host}/api/copy-mid`), referrersTag(descriptor.digest))).manifest as ImageIndex;
      expect(tagIndex.manifests.map((d) => [d.digest, d.artifactType])).toEqual([[onIndex.digest, 'application/vnd.example.signature']]);
      expect((await mid.referrers(images[1]?.descriptor as Descriptor)).map((d) => [d.digest, d.artifactType])).toEqual([[onChild.digest, 'application/vnd.example.sbom']]);

      // Tag schema → API: the referrers arrive as manifests with a subject, and no tag is written.
      const offset = logOffset();
      const dst = openRepository(`${reg.host}/api/copy-dst`);
      await copy(openRepository(`${v3.host}/api/copy-mid`), 'multi', dst, 'multi', { referrers: true });
      expect((await apiListing('api/copy-dst', descriptor.digest)).index.manifests.map((d) => d.digest)).toEqual([onIndex.digest]);
      expect((await apiListing('api/copy-dst', (images[1]?.descriptor as Descriptor).digest)).index.manifests.map((d) => d.digest)).toEqual([onChild.digest]);
      expect((await tagsOf('api/copy-dst')).sort()).toEqual(['multi']);
      expectNoFallbackTraffic(requestsSince(offset), 'api/copy-dst', descriptor.digest);
    } finally {
      await v3.stop();
    }
  });
});
