import { Readable } from 'node:stream';
import { verifyBytes } from './digest.js';
import { OciError, throwIfAborted } from './errors.js';
import { isValidTag } from './reference.js';
import type { Descriptor, FetchBytesOptions, OpOptions, ReferrersOptions, Storage } from './types.js';
import { DEFAULT_MAX_BYTES, MAX_MANIFEST_BYTES, isManifestMediaType, parseManifest, readAll, referrerDescriptor } from './util.js';

/** Content kept in memory; for tests, small artifacts and staging. */
export class MemoryStore implements Storage {
  readonly location: string;
  private readonly content = new Map<string, { desc: Descriptor; bytes: Buffer }>();
  private readonly tags = new Map<string, Descriptor>();
  private readonly referrerIndex = new Map<string, Descriptor[]>();

  constructor(name = 'memory') {
    this.location = `memory:${name}`;
  }

  private get(desc: Descriptor, what: string): Buffer {
    const entry = this.content.get(desc.digest);
    if (!entry) throw new OciError('NOT_FOUND', `${what}: ${desc.digest} not found in ${this.location}`);
    return entry.bytes;
  }

  async fetch(desc: Descriptor, opts?: OpOptions): Promise<Readable> {
    throwIfAborted(opts?.signal, `fetching ${desc.digest} from ${this.location}`);
    const bytes = this.get(desc, 'fetching');
    verifyBytes(desc, bytes, `fetching ${desc.digest} from ${this.location}`);
    return Readable.from([bytes], { objectMode: false });
  }

  async fetchBytes(desc: Descriptor, opts?: FetchBytesOptions): Promise<Buffer> {
    const what = `fetching ${desc.digest} from ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const max = opts?.maxBytes ?? (isManifestMediaType(desc.mediaType) ? MAX_MANIFEST_BYTES : DEFAULT_MAX_BYTES);
    if (desc.size > max) throw new OciError('TOO_LARGE', `${what}: ${desc.size} bytes exceeds the limit of ${max} bytes`);
    const bytes = this.get(desc, what);
    verifyBytes(desc, bytes, what);
    return bytes;
  }

  async push(desc: Descriptor, content: Readable | Uint8Array, opts?: OpOptions): Promise<void> {
    const what = `pushing ${desc.digest} to ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const bytes = content instanceof Uint8Array ? Buffer.from(content) : await readAll(content, Math.max(desc.size, 0) + 1, what).catch((err: unknown) => {
      throw err instanceof OciError && err.code === 'TOO_LARGE' ? new OciError('SIZE_MISMATCH', `${what}: content is larger than its descriptor's ${desc.size} bytes`) : err;
    });
    verifyBytes(desc, bytes, what);
    const stored: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (isManifestMediaType(desc.mediaType)) {
      const manifest = parseManifest(bytes, desc.mediaType, what);
      if (manifest.subject) {
        const list = this.referrerIndex.get(manifest.subject.digest) ?? [];
        if (!list.some((d) => d.digest === desc.digest)) list.push(referrerDescriptor(desc, manifest));
        this.referrerIndex.set(manifest.subject.digest, list);
      }
    }
    this.content.set(desc.digest, { desc: stored, bytes });
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.content.has(desc.digest);
  }

  async resolve(reference: string, opts?: OpOptions): Promise<Descriptor> {
    throwIfAborted(opts?.signal, `resolving ${reference} in ${this.location}`);
    const desc = reference.includes(':') ? this.content.get(reference)?.desc : this.tags.get(reference);
    if (!desc || !isManifestMediaType(desc.mediaType)) throw new OciError('NOT_FOUND', `resolving ${reference} in ${this.location}: manifest unknown`);
    return { ...desc };
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    if (!isValidTag(tag)) throw new OciError('INVALID_REFERENCE', `tagging ${desc.digest} in ${this.location}: invalid tag "${tag}"`);
    const entry = this.content.get(desc.digest);
    if (!entry) throw new OciError('NOT_FOUND', `tagging ${desc.digest} as ${tag} in ${this.location}: manifest not stored`);
    this.tags.set(tag, entry.desc);
  }

  async listTags(): Promise<string[]> {
    return [...this.tags.keys()].sort();
  }

  async referrers(subject: Descriptor, opts?: ReferrersOptions): Promise<Descriptor[]> {
    const list = (this.referrerIndex.get(subject.digest) ?? []).filter((d) => this.content.has(d.digest));
    return opts?.artifactType ? list.filter((d) => d.artifactType === opts.artifactType) : list.map((d) => ({ ...d }));
  }

  async delete(desc: Descriptor): Promise<void> {
    if (!this.content.delete(desc.digest)) throw new OciError('NOT_FOUND', `deleting ${desc.digest} from ${this.location}: not found`);
    for (const [tag, d] of this.tags) if (d.digest === desc.digest) this.tags.delete(tag);
  }
}
