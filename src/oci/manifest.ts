import { descriptorFor } from './digest.js';
import { OciError } from './errors.js';
import type { Descriptor, ImageIndex, ImageManifest, OpOptions, Storage } from './types.js';
import { MAX_MANIFEST_BYTES, manifestMediaType, parseManifest } from './util.js';

export interface PushManifestOptions extends OpOptions {
  tag?: string;
  /** Media type to push under; default the manifest's own `mediaType` or the one its shape implies. */
  mediaType?: string;
}

/** Serialises and pushes a manifest (its blobs must already be there), optionally tagging it. */
export async function pushManifest(storage: Storage, manifest: ImageManifest | ImageIndex, opts: PushManifestOptions = {}): Promise<Descriptor> {
  const mediaType = opts.mediaType ?? manifestMediaType(manifest);
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  if (bytes.length > MAX_MANIFEST_BYTES) throw new OciError('TOO_LARGE', `pushing manifest to ${storage.location}: ${bytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`);
  const desc = descriptorFor(mediaType, bytes);
  const signal = opts.signal ? { signal: opts.signal } : undefined;
  await storage.push(desc, bytes, signal);
  if (opts.tag !== undefined) await storage.tag(desc, opts.tag, signal);
  return desc;
}

export interface FetchManifestOptions extends OpOptions {
  maxBytes?: number;
}

/** Resolves (for a tag or digest) and fetches a manifest, verified and parsed. */
export async function fetchManifest(
  storage: Storage,
  refOrDesc: string | Descriptor,
  opts: FetchManifestOptions = {},
): Promise<{ descriptor: Descriptor; manifest: ImageManifest | ImageIndex; bytes: Buffer }> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const descriptor = typeof refOrDesc === 'string' ? await storage.resolve(refOrDesc, { ...signal, content: true }) : refOrDesc;
  const bytes = await storage.fetchBytes(descriptor, { maxBytes: opts.maxBytes ?? MAX_MANIFEST_BYTES, ...signal });
  const manifest = parseManifest(bytes, descriptor.mediaType, `reading manifest ${descriptor.digest} from ${storage.location}`);
  return { descriptor, manifest, bytes };
}
