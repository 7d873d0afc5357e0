// Digest pinning of container images, like kbld: every image reference in the manifests is
// resolved through its registry (an image index is pinned at the index digest) and rewritten to
// `name:tag@sha256:...`. A lock file records the resolutions so that a later build can reuse
// them without network access. The lock uses kbld's Config format (overrides with preresolved).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { openRepository, parseReference, type RegistryOptions } from '../oci/index.js';
import { ManifestError } from './errors.js';
import { forEachContainer, listImages } from './images.js';
import type { KubeObject } from './types.js';
import { formatObject, isPlainObject, parseYamlDocuments } from './yaml.js';

export interface ImageLockEntry {
  /** The image as written in the manifests. */
  image: string;
  /** What it was pinned to: `name:tag@sha256:...`. */
  newImage: string;
}

export interface ImageLock {
  images: ImageLockEntry[];
}

export interface PinOptions {
  /** Registry connection settings (credentials, TLS) for resolving tags. */
  registry?: RegistryOptions;
  /** Reuse these resolutions and never touch the network; an image missing from it is an error. */
  lock?: ImageLock;
  /** Resolutions running at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called once per resolved image (for progress output). */
  onResolved?: (entry: ImageLockEntry) => void;
}

export interface PinResult {
  /** The objects with every container image pinned (the input objects, changed in place). */
  resources: KubeObject[];
  lock: ImageLock;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** The registry reference to resolve for an image, and the tag or digest to ask for. */
function resolvable(image: string): { ref: string; reference: string } {
  const ref = parseReference(image);
  return { ref: image, reference: ref.reference };
}

/** Resolves every image tag in the objects to a digest and rewrites the `image` fields. */
export async function pinImages(resources: KubeObject[], opts: PinOptions = {}): Promise<PinResult> {
  const images = [...new Set(listImages(resources).map((u) => u.image))];
  const resolved = new Map<string, string>();
  const locked = new Map((opts.lock?.images ?? []).map((e) => [e.image, e.newImage]));
  const todo: string[] = [];
  for (const image of images) {
    if (DIGEST.test(image)) {
      resolved.set(image, image);
      continue;
    }
    if (opts.lock) {
      const hit = locked.get(image);
      if (!hit) throw new ManifestError('INVALID_LOCK', `pinning images: ${image} is not in the lock file (build with --pin-images and --lock-output to record it)`);
      resolved.set(image, hit);
      continue;
    }
    todo.push(image);
  }
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const image = todo[next++] as string;
      opts.signal?.throwIfAborted();
      let digest: string;
      try {
        const { ref, reference } = resolvable(image);
        const repo = openRepository(ref, opts.registry ?? {});
        const desc = await repo.resolve(reference, opts.signal ? { signal: opts.signal } : undefined);
        digest = desc.digest;
      } catch (err) {
        throw new ManifestError('PIN_FAILED', `pinning image ${image}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      const newImage = `${image}@${digest}`;
      resolved.set(image, newImage);
      opts.onResolved?.({ image, newImage });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
  for (const obj of resources) {
    forEachContainer(obj, (c) => {
      const image = c['image'];
      if (typeof image === 'string' && resolved.has(image)) c['image'] = resolved.get(image);
    });
  }
  const lock: ImageLock = {
    images: images.filter((i) => !DIGEST.test(i)).sort().map((image) => ({ image, newImage: resolved.get(image) as string })),
  };
  return { resources, lock };
}

/** Reads a lock file written by `writeImageLock` (kbld's Config with preresolved overrides). */
export async function readImageLock(file: string): Promise<ImageLock> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ManifestError('NOT_FOUND', `reading image lock ${file}: no such file`, { cause: err });
  }
  const docs = parseYamlDocuments(text, file).filter((d) => d.value !== null);
  const doc = docs[0]?.value;
  if (!isPlainObject(doc) || !Array.isArray(doc['overrides'])) {
    throw new ManifestError('INVALID_LOCK', `${file}: not an image lock (expected kind: Config with overrides)`);
  }
  const images: ImageLockEntry[] = doc['overrides'].map((o, i) => {
    if (!isPlainObject(o) || typeof o['image'] !== 'string' || typeof o['newImage'] !== 'string') {
      throw new ManifestError('INVALID_LOCK', `${file}: overrides[${i}]: expected image and newImage strings`);
    }
    if (!DIGEST.test(o['newImage'])) throw new ManifestError('INVALID_LOCK', `${file}: overrides[${i}].newImage: "${o['newImage']}" is not pinned to a sha256 digest`);
    return { image: o['image'], newImage: o['newImage'] };
  });
  return { images };
}

/** The lock file text. */
export function formatImageLock(lock: ImageLock): string {
  return formatObject({
    apiVersion: 'kbld.k14s.io/v1alpha1',
    kind: 'Config',
    minimumRequiredVersion: '0.31.0',
    overrides: lock.images.map((e) => ({ image: e.image, newImage: e.newImage, preresolved: true })),
  });
}

/** Writes the lock atomically (a temporary file beside it, then rename). */
export async function writeImageLock(file: string, lock: ImageLock): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await fs.writeFile(tmp, formatImageLock(lock), { mode: 0o644 });
  await fs.rename(tmp, file);
}
