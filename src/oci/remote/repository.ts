import { Readable } from 'node:stream';
import { DigestCheck, VerifyingStream, descriptorFor, isDigest, markVerifying, verifiesContent, verifyBytes } from '../digest.js';
import { OciError, isOciError, throwIfAborted } from '../errors.js';
import type { RegistryOptions } from '../options.js';
import { isValidTag, parseReference, type Reference } from '../reference.js';
import { MediaTypes, type Descriptor, type FetchBytesOptions, type ImageIndex, type OpOptions, type ReferrersOptions, type ResolveOptions, type Storage } from '../types.js';
import {
  DEFAULT_MAX_BYTES,
  MAX_MANIFEST_BYTES,
  isManifestMediaType,
  mapLimit,
  parseManifest,
  readAll,
  referrerDescriptor,
  referrersTag,
} from '../util.js';
import { repositoryScope } from './auth.js';
import { RegistryClient, drain, header, isRetryableError, networkError, readBody, type HttpResponse } from './client.js';

const MANIFEST_ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList].join(', ');
/** Tag-list pages followed at most (with 1000 tags a page, a million tags). */
const MAX_TAG_PAGES = 1000;
/** The largest tag-list page read. */
const MAX_TAG_PAGE_BYTES = 32 * 1024 * 1024;
/** The most bytes of tag-list pages read in all (a million tags of usual length fit). */
const MAX_TAG_LIST_BYTES = 64 * 1024 * 1024;
const RECENT_MANIFESTS = 32;
/** Blobs up to this size are read whole by fetchBytes (signatures, bundles, configs). */
const SMALL_BLOB_BYTES = 4 * 1024 * 1024;
/** At most this many referrer manifests are read to complete a registry's referrers listing. */
const MAX_LISTING_REPAIRS = 1000;

/** A registry repository as a Storage (OCI distribution spec v1.1). */
export class RemoteRepository implements Storage {
  readonly ref: Reference;
  readonly location: string;
  readonly client: RegistryClient;
  private readonly opts: RegistryOptions;
  /** Manifests pushed or fetched lately, so tagging needs no round trip. */
  private readonly recent = new Map<string, Buffer>();
  /** Whether the registry answers the referrers API here; undefined until seen. */
  private referrersApi: boolean | undefined;

  constructor(ref: Reference, opts: RegistryOptions = {}, client?: RegistryClient) {
    this.ref = ref;
    this.opts = opts;
    this.location = `oci://${ref.name}`;
    this.client = client ?? new RegistryClient(ref.registry, opts);
  }

  private get pull(): string[] {
    return [repositoryScope(this.ref.repository, ['pull'])];
  }

  private get push_(): string[] {
    return [repositoryScope(this.ref.repository, ['pull', 'push'])];
  }

  private path(kind: 'manifests' | 'blobs' | 'tags' | 'referrers', rest: string): string {
    return `/v2/${this.ref.repository}/${kind}/${rest}`;
  }

  private remember(digest: string, bytes: Buffer): void {
    this.recent.set(digest, bytes);
    if (this.recent.size > RECENT_MANIFESTS) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** Closes idle connections. */
  close(): void {
    this.client.close();
  }

  async fetch(desc: Descriptor, opts?: OpOptions): Promise<Readable> {
    throwIfAborted(opts?.signal, `fetching ${desc.digest} from ${this.location}`);
    if (isManifestMediaType(desc.mediaType)) {
      const bytes = await this.fetchBytes(desc, { ...(opts?.signal ? { signal: opts.signal } : {}), maxBytes: MAX_MANIFEST_BYTES });
      return Readable.from([bytes], { objectMode: false });
    }
    const what = `fetching blob ${desc.digest} from ${this.location}`;
    const first = await this.getBlob(desc, 0, what, opts?.signal);
    return new BlobBody(first, new DigestCheck(desc, what), this.opts.retries ?? 4, this.ref.registry, (offset) => this.getBlob(desc, offset, what, opts?.signal), opts?.signal);
  }

  private async getBlob(desc: Descriptor, offset: number, what: string, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers['Range'] = `bytes=${offset}-`;
    const res = await this.client.request({ method: 'GET', path: this.path('blobs', desc.digest), headers, scopes: this.pull, signal, what });
    if (res.statusCode === 404) {
      const err = await this.client.failure(res, what);
      throw new OciError('NOT_FOUND', err.message, { status: 404 });
    }
    return res;
  }

  async fetchBytes(desc: Descriptor, opts?: FetchBytesOptions): Promise<Buffer> {
    const isManifest = isManifestMediaType(desc.mediaType);
    const max = opts?.maxBytes ?? (isManifest ? MAX_MANIFEST_BYTES : DEFAULT_MAX_BYTES);
    const what = `fetching ${isManifest ? 'manifest' : 'blob'} ${desc.digest} from ${this.location}`;
    if (desc.size > max) throw new OciError('TOO_LARGE', `${what}: ${desc.size} bytes exceeds the limit of ${max} bytes`);
    if (!isManifest) return desc.size <= SMALL_BLOB_BYTES ? this.fetchSmallBlob(desc, max, what, opts?.signal) : readAll(await this.fetch(desc, opts), max, what);
    const cached = this.recent.get(desc.digest);
    if (cached) return cached;
    const res = await this.client.request({
      method: 'GET',
      path: this.path('manifests', desc.digest),
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: this.pull,
      signal: opts?.signal,
      what,
    });
    if (res.statusCode === 404) {
      const err = await this.client.failure(res, what);
      throw new OciError('NOT_FOUND', err.message, { status: 404 });
    }
    const bytes = await readBody(res, max, what);
    verifyBytes(desc, bytes, what);
    this.remember(desc.digest, bytes);
    return bytes;
  }

  /**
   * A small blob read whole: one response body, its digest checked, no stream pipeline. A body
   * cut off is asked for again, as the resuming stream of fetch() would.
   */
  private async fetchSmallBlob(desc: Descriptor, max: number, what: string, signal: AbortSignal | undefined): Promise<Buffer> {
    const retries = this.opts.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      const res = await this.getBlob(desc, 0, what, signal);
      let bytes: Buffer;
      try {
        bytes = await readBody(res, max, what);
      } catch (err) {
        if (attempt < retries && isRetryableError(err) && !signal?.aborted) continue;
        throw networkError(err, what, this.ref.registry);
      }
      verifyBytes(desc, bytes, what);
      return bytes;
    }
  }

  async push(desc: Descriptor, content: Readable | Uint8Array, opts?: OpOptions): Promise<void> {
    if (isManifestMediaType(desc.mediaType)) return this.pushManifestBytes(desc, content, desc.digest, opts);
    return this.pushBlob(desc, content, opts);
  }

  private async pushManifestBytes(desc: Descriptor, content: Readable | Uint8Array, reference: string, opts?: OpOptions): Promise<void> {
    const what = `pushing manifest ${desc.digest}${reference !== desc.digest ? ` as ${reference}` : ''} to ${this.location}`;
    const bytes = content instanceof Uint8Array ? Buffer.from(content.buffer, content.byteOffset, content.byteLength) : await readAll(content, MAX_MANIFEST_BYTES, what);
    if (bytes.length > MAX_MANIFEST_BYTES) throw new OciError('TOO_LARGE', `${what}: ${bytes.length} bytes exceeds the limit of ${MAX_MANIFEST_BYTES} bytes`);
    verifyBytes(desc, bytes, what);
    const manifest = parseManifest(bytes, desc.mediaType, what);
    const res = await this.client.request({
      method: 'PUT',
      path: this.path('manifests', reference),
      headers: { 'Content-Type': desc.mediaType },
      body: bytes,
      scopes: this.push_,
      signal: opts?.signal,
      what,
    });
    if (res.statusCode === 404) throw await this.client.failure(res, what);
    drain(res);
    const returned = header(res.headers, 'docker-content-digest');
    if (returned && returned !== desc.digest) throw new OciError('DIGEST_MISMATCH', `${what}: the registry stored digest ${returned}`);
    this.remember(desc.digest, bytes);
    // Registries without the referrers API need the tag-schema index updated by the client. A
    // registry that processed the subject says so with OCI-Subject; some that serve the API do
    // not (go-containerregistry's registry), so without the header the API is asked once, as
    // oras-go does, before falling back to the referrers tag.
    if (manifest.subject && !header(res.headers, 'oci-subject') && !(await this.hasReferrersApi(manifest.subject, opts))) {
      await this.updateReferrersIndex(manifest.subject, (list) => {
        const entry = referrerDescriptor(desc, manifest);
        return list.some((d) => d.digest === desc.digest) ? undefined : [...list, entry];
      }, opts);
    }
  }

  /** Whether GET /v2/<name>/referrers/<digest> is served (an OCI index comes back); remembered. */
  private async hasReferrersApi(subject: Descriptor, opts?: OpOptions): Promise<boolean> {
    if (this.referrersApi !== undefined) return this.referrersApi;
    const what = `checking for the referrers API of ${this.location}`;
    const res = await this.client.request({ method: 'GET', path: this.path('referrers', subject.digest), headers: { Accept: MediaTypes.ociIndex }, scopes: this.pull, signal: opts?.signal, what });
    drain(res);
    this.referrersApi = res.statusCode === 200 && header(res.headers, 'content-type')?.split(';')[0]?.trim() === MediaTypes.ociIndex;
    return this.referrersApi;
  }

  private async updateReferrersIndex(subject: Descriptor, change: (list: Descriptor[]) => Descriptor[] | undefined, opts?: OpOptions): Promise<void> {
    const tag = referrersTag(subject.digest);
    const current = await this.fallbackIndex(subject, opts);
    const next = change(current?.index.manifests ?? []);
    if (!next) return;
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: next };
    const bytes = Buffer.from(JSON.stringify(index));
    const desc = descriptorFor(MediaTypes.ociIndex, bytes);
    await this.pushManifestBytes(desc, bytes, tag, opts);
    // The old index is garbage now; registries that allow deletes can drop it.
    if (current && current.descriptor.digest !== desc.digest) {
      await this.delete(current.descriptor, opts).catch(() => undefined);
    }
  }

  /**
   * The referrers tag schema's index for `subject`, read with one GET of the tag (not a HEAD and
   * a GET: one round trip less on every registry without the referrers API).
   */
  private async fallbackIndex(subject: Descriptor, opts?: OpOptions): Promise<{ descriptor: Descriptor; index: ImageIndex } | undefined> {
    const tag = referrersTag(subject.digest);
    const what = `reading referrers index ${tag} in ${this.location}`;
    const res = await this.client.request({ method: 'GET', path: this.path('manifests', tag), headers: { Accept: MANIFEST_ACCEPT }, scopes: this.pull, signal: opts?.signal, what });
    if (res.statusCode === 404) {
      drain(res);
      return undefined;
    }
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const type = header(res.headers, 'content-type')?.split(';')[0]?.trim();
    const desc = descriptorFor(type && isManifestMediaType(type) ? type : MediaTypes.ociIndex, bytes);
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed && claimed !== desc.digest) throw new OciError('DIGEST_MISMATCH', `${what}: Docker-Content-Digest ${claimed} does not match the content's ${desc.digest}`);
    this.remember(desc.digest, bytes);
    const index = parseManifest(bytes, desc.mediaType, what) as ImageIndex;
    return { descriptor: desc, index: { ...index, manifests: index.manifests ?? [] } };
  }

  private async pushBlob(desc: Descriptor, content: Readable | Uint8Array, opts?: OpOptions): Promise<void> {
    const what = `pushing blob ${desc.digest} to ${this.location}`;
    if (!isDigest(desc.digest)) throw new OciError('INVALID_REFERENCE', `${what}: invalid digest`);
    let body: Buffer | Readable;
    if (content instanceof Uint8Array) {
      body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
      verifyBytes(desc, body, what);
    } else {
      // The source may already verify this digest (a store's fetch stream); else verify here.
      body = verifiesContent(content, desc) ? content : content.pipe(new VerifyingStream(desc, what));
      if (body !== content) content.on('error', (err) => (body as Readable).destroy(err));
      // Errors surface through the request; until it is sent, keep them from being unhandled.
      body.on('error', () => undefined);
    }
    const start = await this.client.request({ method: 'POST', path: this.path('blobs', 'uploads/'), scopes: this.push_, signal: opts?.signal, what });
    if (start.statusCode === 404) throw await this.client.failure(start, what);
    drain(start);
    const location = header(start.headers, 'location');
    if (!location) throw new OciError('REGISTRY', `${what}: the registry sent no upload location`);
    let uploadUrl = await this.client.url(location);
    const chunkSize = this.opts.uploadChunkSize;
    if (chunkSize && chunkSize > 0) {
      let offset = 0;
      const chunks = Buffer.isBuffer(body) ? chunkBuffer(body, chunkSize) : rechunk(body, chunkSize);
      for await (const chunk of chunks) {
        const res = await this.client.request({
          method: 'PATCH',
          path: uploadUrl.toString(),
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
          body: chunk,
          scopes: this.push_,
          signal: opts?.signal,
          what: `${what} (chunk at ${offset})`,
        });
        if (res.statusCode === 404) throw await this.client.failure(res, what);
        drain(res);
        offset += chunk.length;
        const next = header(res.headers, 'location');
        if (next) uploadUrl = new URL(next, uploadUrl);
      }
      uploadUrl.searchParams.set('digest', desc.digest);
      const done = await this.client.request({ method: 'PUT', path: uploadUrl.toString(), body: Buffer.alloc(0), scopes: this.push_, signal: opts?.signal, what });
      if (done.statusCode === 404) throw await this.client.failure(done, what);
      drain(done);
      this.checkDigestHeader(done, desc, what);
      return;
    }
    if (!Buffer.isBuffer(body)) {
      // A stream goes in one streamed PATCH, then an empty PUT closes the upload: distribution
      // takes this measurably faster than a PUT carrying the whole body.
      const patch = await this.client.request({
        method: 'PATCH',
        path: uploadUrl.toString(),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
        body,
        scopes: this.push_,
        signal: opts?.signal,
        what,
      });
      if (patch.statusCode === 404) throw await this.client.failure(patch, what);
      drain(patch);
      const next = header(patch.headers, 'location');
      if (next) uploadUrl = new URL(next, uploadUrl);
    }
    uploadUrl.searchParams.set('digest', desc.digest);
    const put = await this.client.request({
      method: 'PUT',
      path: uploadUrl.toString(),
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.isBuffer(body) ? body : Buffer.alloc(0),
      scopes: this.push_,
      signal: opts?.signal,
      what,
    });
    if (put.statusCode === 404) throw await this.client.failure(put, what);
    drain(put);
    this.checkDigestHeader(put, desc, what);
  }

  private checkDigestHeader(res: HttpResponse, desc: Descriptor, what: string): void {
    const returned = header(res.headers, 'docker-content-digest');
    if (returned && returned !== desc.digest) throw new OciError('DIGEST_MISMATCH', `${what}: the registry stored digest ${returned}`);
  }

  /**
   * Mounts a blob from another repository of the same registry without copying bytes; returns
   * false when the registry started an upload instead (the caller then pushes).
   */
  async mount(desc: Descriptor, fromRepository: string, opts?: OpOptions): Promise<boolean> {
    const what = `mounting blob ${desc.digest} from ${fromRepository} into ${this.location}`;
    const path = `${this.path('blobs', 'uploads/')}?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.client.request({
      method: 'POST',
      path,
      scopes: [...this.push_, repositoryScope(fromRepository, ['pull'])],
      signal: opts?.signal,
      what,
    });
    drain(res);
    if (res.statusCode === 201) return true;
    const location = header(res.headers, 'location');
    if (res.statusCode === 202 && location) {
      // Cancel the upload the registry opened for us.
      const cancel = await this.client
        .request({ method: 'DELETE', path: (await this.client.url(location)).toString(), scopes: this.push_, signal: opts?.signal, what })
        .catch(() => undefined);
      if (cancel) drain(cancel);
    }
    return false;
  }

  async exists(desc: Descriptor, opts?: OpOptions): Promise<boolean> {
    const isManifest = isManifestMediaType(desc.mediaType);
    const what = `checking ${desc.digest} in ${this.location}`;
    const res = await this.client.request({
      method: 'HEAD',
      path: this.path(isManifest ? 'manifests' : 'blobs', desc.digest),
      headers: isManifest ? { Accept: MANIFEST_ACCEPT } : {},
      scopes: this.pull,
      signal: opts?.signal,
      what,
    });
    drain(res);
    return res.statusCode === 200;
  }

  async resolve(reference: string, opts?: ResolveOptions): Promise<Descriptor> {
    const what = `resolving ${this.ref.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    if (!reference.includes(':') && !isValidTag(reference)) throw new OciError('INVALID_REFERENCE', `${what}: invalid tag "${reference}"`);
    const path = this.path('manifests', reference);
    if (opts?.content !== true) {
      const head = await this.client.request({ method: 'HEAD', path, headers: { Accept: MANIFEST_ACCEPT }, scopes: this.pull, signal: opts?.signal, what });
      drain(head);
      if (head.statusCode === 404) throw new OciError('NOT_FOUND', `${what}: manifest unknown`, { status: 404 });
      const digest = header(head.headers, 'docker-content-digest');
      const mediaType = header(head.headers, 'content-type')?.split(';')[0]?.trim();
      const size = Number(header(head.headers, 'content-length'));
      if (digest && mediaType && isManifestMediaType(mediaType) && Number.isSafeInteger(size)) {
        if (reference.includes(':') && digest !== reference) throw new OciError('DIGEST_MISMATCH', `${what}: the registry answered with digest ${digest}`);
        return { mediaType, digest, size };
      }
    }
    // The caller wants the content, or no usable HEAD answer: GET the manifest and compute its digest.
    const res = await this.client.request({ method: 'GET', path, headers: { Accept: MANIFEST_ACCEPT }, scopes: this.pull, signal: opts?.signal, what });
    if (res.statusCode === 404) throw new OciError('NOT_FOUND', `${what}: manifest unknown`, { status: 404 });
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const type = header(res.headers, 'content-type')?.split(';')[0]?.trim();
    const manifest = parseManifest(bytes, type && isManifestMediaType(type) ? type : undefined, what);
    const desc = descriptorFor(type && isManifestMediaType(type) ? type : (manifest.mediaType ?? MediaTypes.ociManifest), bytes);
    if (reference.includes(':') && desc.digest !== reference) throw new OciError('DIGEST_MISMATCH', `${what}: content has digest ${desc.digest}`);
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed && claimed !== desc.digest) throw new OciError('DIGEST_MISMATCH', `${what}: Docker-Content-Digest ${claimed} does not match the content's ${desc.digest}`);
    this.remember(desc.digest, bytes);
    return desc;
  }

  async tag(desc: Descriptor, tag: string, opts?: OpOptions): Promise<void> {
    if (!isValidTag(tag)) throw new OciError('INVALID_REFERENCE', `tagging ${desc.digest} in ${this.location}: invalid tag "${tag}"`);
    const bytes = await this.fetchBytes(desc, opts?.signal ? { signal: opts.signal } : undefined);
    await this.pushManifestBytes(desc, bytes, tag, opts);
  }

  /**
   * All tags, following `Link` pagination (`pageSize` tags per request, default 1000). A registry
   * whose links lead back to a page already read, or whose pages bring no new tags, or that has
   * more than MAX_TAG_PAGES pages or MAX_TAG_LIST_BYTES in all, is refused rather than followed.
   */
  async listTags(opts?: OpOptions & { pageSize?: number }): Promise<string[]> {
    const what = `listing tags of ${this.location}`;
    const tags = new Set<string>();
    const visited = new Set<string>();
    let listBytes = 0;
    let path = `/v2/${this.ref.repository}/tags/list?n=${opts?.pageSize ?? 1000}`;
    for (let page = 1; ; page++) {
      const url = (await this.client.url(path, opts?.signal)).href;
      visited.add(url);
      const res = await this.client.request({ method: 'GET', path: url, scopes: this.pull, signal: opts?.signal, what });
      if (res.statusCode === 404) {
        const err = await this.client.failure(res, what);
        throw new OciError('NOT_FOUND', err.message, { status: 404 });
      }
      const body = await readBody(res, MAX_TAG_PAGE_BYTES, what);
      listBytes += body.length;
      if (listBytes > MAX_TAG_LIST_BYTES) throw new OciError('TOO_LARGE', `${what}: the tag list exceeds the limit of ${MAX_TAG_LIST_BYTES} bytes (at page ${page}); stopped`);
      let parsed: { tags?: unknown };
      try {
        parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
      } catch {
        throw new OciError('REGISTRY', `${what}: the tag list is not JSON`);
      }
      const pageTags = parsed.tags ?? [];
      if (!Array.isArray(pageTags) || pageTags.some((t) => typeof t !== 'string')) throw new OciError('REGISTRY', `${what}: the tag list's "tags" is not a list of strings`);
      const before = tags.size;
      for (const tag of pageTags as string[]) tags.add(tag);
      const link = nextLink(header(res.headers, 'link'));
      if (link === undefined) break;
      const next = (await this.client.url(link, opts?.signal)).href;
      if (visited.has(next)) throw new OciError('REGISTRY', `${what}: the registry's pagination links back to a page already read (from page ${page}); stopped`);
      if (tags.size === before) throw new OciError('REGISTRY', `${what}: page ${page} of the tag list brought no new tags but links to another; stopped`);
      if (page >= MAX_TAG_PAGES) throw new OciError('TOO_LARGE', `${what}: more than ${MAX_TAG_PAGES} pages of tags; stopped`);
      path = next;
    }
    return Array.from(tags);
  }

  async referrers(subject: Descriptor, opts?: ReferrersOptions): Promise<Descriptor[]> {
    const what = `listing referrers of ${subject.digest} in ${this.location}`;
    const query = opts?.artifactType ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : '';
    // Not knowing yet whether the registry has the API, the referrers tag is read at the same
    // time: a registry without the API then costs no extra round trip, one with it a small 404.
    const fallback = this.referrersApi === undefined ? this.fallbackIndex(subject, opts) : undefined;
    fallback?.catch(() => undefined);
    let res: HttpResponse;
    try {
      res = await this.client.request({ method: 'GET', path: this.path('referrers', subject.digest) + query, headers: { Accept: MediaTypes.ociIndex }, scopes: this.pull, signal: opts?.signal, what });
    } catch (err) {
      await fallback?.catch(() => undefined);
      throw err;
    }
    let list: Descriptor[];
    const type = header(res.headers, 'content-type')?.split(';')[0]?.trim();
    if (res.statusCode === 200 && type === MediaTypes.ociIndex) {
      this.referrersApi = true;
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
      await fallback?.catch(() => undefined);
      list = await this.completeListing((parseManifest(bytes, MediaTypes.ociIndex, what) as ImageIndex).manifests ?? [], what, opts);
    } else {
      // A registry with the API never answers 404 here (distribution spec).
      if (res.statusCode === 404) this.referrersApi = false;
      drain(res);
      // tag-schema indexes written by other tools list artifacts the same incomplete way
      list = await this.completeListing((await (fallback ?? this.fallbackIndex(subject, opts)))?.index.manifests ?? [], what, opts);
    }
    return opts?.artifactType ? list.filter((d) => d.artifactType === opts.artifactType) : list;
  }

  /**
   * The referrers API must list each manifest's artifactType (else its config media type) and
   * annotations. Some registries list the config media type even when the manifest has an
   * artifactType, or leave it out (go-containerregistry's registry reports
   * `application/vnd.oci.empty.v1+json` for every artifact with an empty config, and no
   * annotations): those entries are completed from the manifests themselves.
   */
  private async completeListing(list: Descriptor[], what: string, opts?: OpOptions): Promise<Descriptor[]> {
    const incomplete = (d: Descriptor): boolean => isManifestMediaType(d.mediaType) && (!d.artifactType || d.artifactType === MediaTypes.ociEmpty);
    const count = list.filter(incomplete).length;
    if (count === 0) return list;
    if (count > MAX_LISTING_REPAIRS) {
      throw new OciError('TOO_LARGE', `${what}: the registry lists ${count} referrers without their artifactType; reading more than ${MAX_LISTING_REPAIRS} manifests to learn it is refused`);
    }
    const signal = opts?.signal ? { signal: opts.signal } : undefined;
    return mapLimit(list, 8, async (d) => {
      if (!incomplete(d)) return d;
      let bytes: Buffer;
      try {
        bytes = await this.fetchBytes(d, signal);
      } catch (err) {
        if (isOciError(err, 'NOT_FOUND')) return d; // deleted since it was listed: left as listed
        throw err;
      }
      const listed = referrerDescriptor(d, parseManifest(bytes, d.mediaType, `${what}: reading referrer ${d.digest}`));
      const out: Descriptor = { ...d };
      if (listed.artifactType) out.artifactType = listed.artifactType;
      if (listed.annotations) out.annotations = { ...listed.annotations, ...d.annotations };
      return out;
    });
  }

  async delete(desc: Descriptor, opts?: OpOptions): Promise<void> {
    const isManifest = isManifestMediaType(desc.mediaType);
    const what = `deleting ${desc.digest} from ${this.location}`;
    let subject: Descriptor | undefined;
    if (isManifest) {
      try {
        const bytes = await this.fetchBytes(desc, opts?.signal ? { signal: opts.signal } : undefined);
        subject = parseManifest(bytes, desc.mediaType, what).subject;
      } catch (err) {
        if (!isOciError(err, 'NOT_FOUND')) throw err;
      }
    }
    const res = await this.client.request({ method: 'DELETE', path: this.path(isManifest ? 'manifests' : 'blobs', desc.digest), scopes: [repositoryScope(this.ref.repository, ['delete'])], signal: opts?.signal, what });
    if (res.statusCode === 404) {
      drain(res);
      throw new OciError('NOT_FOUND', `${what}: not found`, { status: 404 });
    }
    drain(res);
    this.recent.delete(desc.digest);
    if (subject) {
      await this.updateReferrersIndex(subject, (list) => (list.some((d) => d.digest === desc.digest) ? list.filter((d) => d.digest !== desc.digest) : undefined), opts);
    }
  }
}

/**
 * A blob's body as one stream: the response's bytes passed on as they come, checked against the
 * descriptor (the last chunk is held back until size and digest match, as VerifyingStream does),
 * and resumed after a dropped connection with `Range: bytes=<received>-` (a server ignoring Range
 * resends everything and the bytes already passed on are skipped). One stream layer between the
 * socket and the consumer: a copy streams it straight into the upload.
 */
class BlobBody extends Readable {
  private current: HttpResponse | undefined;
  private received = 0;
  private resumes = 0;
  private finished = false;
  private held: Buffer | undefined;

  constructor(
    first: HttpResponse,
    private readonly check: DigestCheck,
    private readonly maxResumes: number,
    private readonly registry: string,
    private readonly reopen: (offset: number) => Promise<HttpResponse>,
    private readonly signal: AbortSignal | undefined,
  ) {
    super({ highWaterMark: 1 << 20 });
    markVerifying(this, check.desc);
    this.attach(first, 0);
  }

  private get what(): string {
    return this.check.context;
  }

  private attach(res: HttpResponse, skipBytes: number): void {
    this.current = res;
    let skip = skipBytes;
    let settled = false;
    res.body.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          return;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      this.received += chunk.length;
      try {
        this.check.update(chunk);
      } catch (err) {
        settled = true;
        this.destroy(err as Error);
        return;
      }
      const previous = this.held;
      this.held = chunk;
      if (previous && !this.push(previous)) res.body.pause();
    });
    // undici ends a body only when all of it arrived (Content-Length or the last chunk); a
    // connection that breaks off first is an error.
    res.body.on('end', () => {
      if (settled) return;
      settled = true;
      this.finished = true;
      try {
        this.check.finish();
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (this.held) this.push(this.held);
      this.held = undefined;
      this.push(null);
    });
    res.body.on('error', (err) => {
      if (settled) return;
      settled = true;
      this.resumeAfter(err);
    });
  }

  private resumeAfter(err: unknown): void {
    if (this.finished || this.destroyed) return;
    this.current?.body.destroy();
    if (this.resumes >= this.maxResumes || !isRetryableError(err) || this.signal?.aborted || this.received >= this.check.desc.size) {
      this.destroy(networkError(this.signal?.aborted ? (this.signal.reason ?? err) : err, this.what, this.registry));
      return;
    }
    this.resumes++;
    const offset = this.received;
    this.reopen(offset).then(
      (res) => {
        if (this.destroyed) {
          res.body.destroy();
          return;
        }
        this.attach(res, res.statusCode === 206 ? 0 : offset);
      },
      (e: unknown) => this.destroy(e as Error),
    );
  }

  override _read(): void {
    this.current?.body.resume();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // A consumer that stops early must not leave the connection open.
    if (this.current && !this.finished) this.current.body.destroy();
    cb(err);
  }
}

function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

function* chunkBuffer(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function* rechunk(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending.push(chunk);
    pendingLen += chunk.length;
    while (pendingLen >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      pendingLen = all.length - size;
    }
  }
  if (pendingLen > 0) yield Buffer.concat(pending);
}

/** Opens a repository on a registry as a Storage. */
export function openRepository(ref: Reference | string, opts?: RegistryOptions): RemoteRepository {
  const parsed = typeof ref === 'string' ? parseReference(ref) : ref;
  return new RemoteRepository(parsed, opts ?? {});
}
