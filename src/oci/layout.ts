import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerifyingStream, isDigest, verifiesContent, verifyBytes } from './digest.js';
import { OciError, throwIfAborted } from './errors.js';
import { isValidTag } from './reference.js';
import { MediaTypes, type Descriptor, type FetchBytesOptions, type ImageIndex, type OpOptions, type ReferrersOptions, type Storage } from './types.js';
import { DEFAULT_MAX_BYTES, MAX_MANIFEST_BYTES, isManifestMediaType, parseManifest, readAll, referrerDescriptor } from './util.js';

const REF_NAME = 'org.opencontainers.image.ref.name';
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/**
 * An OCI image-layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), readable by
 * skopeo (`oci:DIR:TAG`), crane and oras. Tags are `org.opencontainers.image.ref.name`
 * annotations in index.json; manifests with a subject are listed there untagged so referrers
 * can be found. Every write goes to a temporary file and is renamed into place.
 */
export class LayoutStore implements Storage {
  readonly location: string;
  readonly dir: string;
  private indexLock: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
    this.location = `layout:${dir}`;
  }

  /** Opens an existing layout, or creates an empty one with `create: true`. */
  static async open(dir: string, opts?: { create?: boolean }): Promise<LayoutStore> {
    const abs = resolvePath(dir);
    const store = new LayoutStore(abs);
    let layout: string | undefined;
    try {
      layout = await readFile(join(abs, 'oci-layout'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OciError('LAYOUT', `opening OCI layout ${abs}: ${(err as Error).message}`, { cause: err });
    }
    if (layout === undefined) {
      if (!opts?.create) throw new OciError('LAYOUT', `opening OCI layout ${abs}: no oci-layout file (not an OCI image layout)`);
      await mkdir(join(abs, 'blobs', 'sha256'), { recursive: true });
      await writeAtomic(join(abs, 'oci-layout'), Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
      try {
        await stat(join(abs, 'index.json'));
      } catch {
        await writeAtomic(join(abs, 'index.json'), Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] })));
      }
      return store;
    }
    try {
      const parsed = JSON.parse(layout) as { imageLayoutVersion?: string };
      if (typeof parsed.imageLayoutVersion !== 'string') throw new Error('missing imageLayoutVersion');
    } catch (err) {
      throw new OciError('LAYOUT', `opening OCI layout ${abs}: invalid oci-layout file: ${(err as Error).message}`, { cause: err });
    }
    await store.readIndex();
    return store;
  }

  private blobPath(digest: string): string {
    if (!isDigest(digest)) throw new OciError('INVALID_REFERENCE', `invalid digest "${digest}" for ${this.location}`);
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', alg, hex);
  }

  private async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
      throw new OciError('LAYOUT', `reading ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (bytes.length > MAX_INDEX_BYTES) throw new OciError('TOO_LARGE', `reading ${path}: larger than ${MAX_INDEX_BYTES} bytes`);
    const index = parseManifest(bytes, undefined, `reading ${path}`) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new OciError('LAYOUT', `reading ${path}: no manifests array`);
    return index;
  }

  /** Serialises read-modify-write of index.json. */
  private updateIndex(change: (index: ImageIndex) => boolean): Promise<void> {
    const next = this.indexLock.then(async () => {
      const index = await this.readIndex();
      if (change(index)) {
        await writeAtomic(join(this.dir, 'index.json'), Buffer.from(JSON.stringify({ ...index, schemaVersion: 2, mediaType: MediaTypes.ociIndex })));
      }
    });
    this.indexLock = next.catch(() => undefined);
    return next;
  }

  async fetch(desc: Descriptor, opts?: OpOptions): Promise<Readable> {
    const what = `fetching ${desc.digest} from ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const path = this.blobPath(desc.digest);
    try {
      await stat(path);
    } catch {
      throw new OciError('NOT_FOUND', `${what}: blob not found`);
    }
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    const verifier = new VerifyingStream(desc, what);
    file.on('error', (err) => verifier.destroy(new OciError('LAYOUT', `${what}: ${err.message}`, { cause: err })));
    verifier.on('close', () => {
      if (!file.readableEnded) file.destroy();
    });
    return file.pipe(verifier);
  }

  async fetchBytes(desc: Descriptor, opts?: FetchBytesOptions): Promise<Buffer> {
    const what = `fetching ${desc.digest} from ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const max = opts?.maxBytes ?? (isManifestMediaType(desc.mediaType) ? MAX_MANIFEST_BYTES : DEFAULT_MAX_BYTES);
    if (desc.size > max) throw new OciError('TOO_LARGE', `${what}: ${desc.size} bytes exceeds the limit of ${max} bytes`);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(desc.digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OciError('NOT_FOUND', `${what}: blob not found`);
      throw new OciError('LAYOUT', `${what}: ${(err as Error).message}`, { cause: err });
    }
    verifyBytes(desc, bytes, what);
    return bytes;
  }

  async push(desc: Descriptor, content: Readable | Uint8Array, opts?: OpOptions): Promise<void> {
    const what = `pushing ${desc.digest} to ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const path = this.blobPath(desc.digest);
    const isManifest = isManifestMediaType(desc.mediaType);
    let manifestBytes: Buffer | undefined;
    if (content instanceof Uint8Array || isManifest) {
      const bytes = content instanceof Uint8Array ? Buffer.from(content.buffer, content.byteOffset, content.byteLength) : await readAll(content, MAX_MANIFEST_BYTES, what);
      verifyBytes(desc, bytes, what);
      if (isManifest) {
        parseManifest(bytes, desc.mediaType, what);
        manifestBytes = bytes;
      }
      if (!(await fileExists(path))) await writeAtomic(path, bytes);
    } else {
      content.on('error', () => undefined); // reported by the pipeline below
      if (await fileExists(path)) {
        content.resume();
        return;
      }
      await mkdir(join(path, '..'), { recursive: true });
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      const source = verifiesContent(content, desc) ? content : content.pipe(new VerifyingStream(desc, what));
      if (source !== content) content.on('error', (err) => source.destroy(err));
      try {
        await pipeline(source, createWriteStream(tmp), opts?.signal ? { signal: opts.signal } : {});
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        if (err instanceof OciError) throw err;
        throw new OciError((err as Error).name === 'AbortError' ? 'ABORTED' : 'LAYOUT', `${what}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (manifestBytes) {
      const manifest = parseManifest(manifestBytes, desc.mediaType, what);
      if (manifest.subject) {
        const entry = referrerDescriptor(desc, manifest);
        await this.updateIndex((index) => {
          if (index.manifests.some((d) => d.digest === desc.digest)) return false;
          index.manifests.push(entry);
          return true;
        });
      }
    }
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return fileExists(this.blobPath(desc.digest));
  }

  async resolve(reference: string, opts?: OpOptions): Promise<Descriptor> {
    const what = `resolving ${reference} in ${this.location}`;
    throwIfAborted(opts?.signal, what);
    const index = await this.readIndex();
    if (!reference.includes(':')) {
      const found = [...index.manifests].reverse().find((d) => d.annotations?.[REF_NAME] === reference);
      if (!found) throw new OciError('NOT_FOUND', `${what}: no manifest tagged "${reference}"`);
      return { mediaType: found.mediaType, digest: found.digest, size: found.size };
    }
    const listed = index.manifests.find((d) => d.digest === reference);
    if (listed) return { mediaType: listed.mediaType, digest: listed.digest, size: listed.size };
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(reference));
    } catch {
      throw new OciError('NOT_FOUND', `${what}: manifest unknown`);
    }
    if (bytes.length > MAX_MANIFEST_BYTES) throw new OciError('TOO_LARGE', `${what}: larger than a manifest may be`);
    const manifest = parseManifest(bytes, undefined, what);
    const desc: Descriptor = { mediaType: manifest.mediaType ?? ('manifests' in manifest ? MediaTypes.ociIndex : MediaTypes.ociManifest), digest: reference, size: bytes.length };
    verifyBytes(desc, bytes, what);
    return desc;
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    if (!isValidTag(tag)) throw new OciError('INVALID_REFERENCE', `tagging ${desc.digest} in ${this.location}: invalid tag "${tag}"`);
    if (!(await this.exists(desc))) throw new OciError('NOT_FOUND', `tagging ${desc.digest} as ${tag} in ${this.location}: manifest not stored`);
    await this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag);
      const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, annotations: { [REF_NAME]: tag } };
      if (desc.platform) entry.platform = desc.platform;
      index.manifests.push(entry);
      return true;
    });
  }

  async listTags(): Promise<string[]> {
    const index = await this.readIndex();
    const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => typeof t === 'string');
    return [...new Set(tags)].sort();
  }

  async referrers(subject: Descriptor, opts?: ReferrersOptions): Promise<Descriptor[]> {
    const index = await this.readIndex();
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (const d of index.manifests) {
      if (seen.has(d.digest) || !isManifestMediaType(d.mediaType)) continue;
      seen.add(d.digest);
      let bytes: Buffer;
      try {
        bytes = await this.fetchBytes({ mediaType: d.mediaType, digest: d.digest, size: d.size }, opts?.signal ? { signal: opts.signal } : undefined);
      } catch {
        continue;
      }
      const manifest = parseManifest(bytes, d.mediaType, `reading ${d.digest} in ${this.location}`);
      if (manifest.subject?.digest === subject.digest) out.push(referrerDescriptor(d, manifest));
    }
    return opts?.artifactType ? out.filter((d) => d.artifactType === opts.artifactType) : out;
  }

  async delete(desc: Descriptor): Promise<void> {
    const path = this.blobPath(desc.digest);
    if (!(await fileExists(path))) throw new OciError('NOT_FOUND', `deleting ${desc.digest} from ${this.location}: not found`);
    await this.updateIndex((index) => {
      const before = index.manifests.length;
      index.manifests = index.manifests.filter((d) => d.digest !== desc.digest);
      return index.manifests.length !== before;
    });
    await rm(path, { force: true });
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new OciError('LAYOUT', `writing ${path}: ${(err as Error).message}`, { cause: err });
  }
}
