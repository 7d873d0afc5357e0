import type { Readable } from 'node:stream';
import { DIGEST_SYNTAX } from './digest.js';
import { OciError } from './errors.js';
import { IndexMediaTypes, ManifestMediaTypes, MediaTypes, type Descriptor, type ImageIndex, type ImageManifest } from './types.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export function isManifestMediaType(mediaType: string): boolean {
  return ManifestMediaTypes.includes(mediaType);
}

export function isIndexMediaType(mediaType: string): boolean {
  return IndexMediaTypes.includes(mediaType);
}

/** Reads a stream fully, failing beyond `max` bytes. */
export async function readAll(stream: Readable | AsyncIterable<Uint8Array>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) {
      (stream as Readable).destroy?.();
      throw new OciError('TOO_LARGE', `${what}: content exceeds the limit of ${max} bytes`);
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks);
}

/** Parses and checks manifest JSON; `what` names the content in errors. */
export function parseManifest(bytes: Uint8Array, mediaType: string | undefined, what: string): ImageManifest | ImageIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OciError('INVALID_MANIFEST', `${what}: manifest is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new OciError('INVALID_MANIFEST', `${what}: manifest is not a JSON object`);
  const m = parsed as Record<string, unknown>;
  if (m['schemaVersion'] !== 2) throw new OciError('UNSUPPORTED_MEDIA_TYPE', `${what}: unsupported manifest schemaVersion ${JSON.stringify(m['schemaVersion'])} (only 2)`);
  const declared = typeof m['mediaType'] === 'string' ? m['mediaType'] : undefined;
  const type = declared ?? mediaType;
  if (declared !== undefined && mediaType !== undefined && declared !== mediaType) {
    throw new OciError('INVALID_MANIFEST', `${what}: manifest mediaType "${declared}" does not match its descriptor's "${mediaType}"`);
  }
  if (type !== undefined && !isManifestMediaType(type)) throw new OciError('UNSUPPORTED_MEDIA_TYPE', `${what}: unsupported manifest media type "${type}"`);
  const isIndex = type !== undefined ? isIndexMediaType(type) : Array.isArray(m['manifests']);
  const checkDesc = (d: unknown, field: string) => {
    const x = d as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || typeof x['mediaType'] !== 'string' || typeof x['digest'] !== 'string' || typeof x['size'] !== 'number' || !Number.isSafeInteger(x['size']) || (x['size'] as number) < 0) {
      throw new OciError('INVALID_MANIFEST', `${what}: ${field} is not a valid descriptor (mediaType, digest, size)`);
    }
    if (!DIGEST_SYNTAX.test(x['digest'] as string)) throw new OciError('INVALID_MANIFEST', `${what}: ${field}.digest "${String(x['digest'])}" is malformed`);
  };
  if (isIndex) {
    if (!Array.isArray(m['manifests'])) throw new OciError('INVALID_MANIFEST', `${what}: index has no "manifests" array`);
    (m['manifests'] as unknown[]).forEach((d, i) => checkDesc(d, `manifests[${i}]`));
  } else {
    checkDesc(m['config'], 'config');
    if (!Array.isArray(m['layers'])) throw new OciError('INVALID_MANIFEST', `${what}: manifest has no "layers" array`);
    (m['layers'] as unknown[]).forEach((d, i) => checkDesc(d, `layers[${i}]`));
  }
  if (m['subject'] !== undefined) checkDesc(m['subject'], 'subject');
  return parsed as ImageManifest | ImageIndex;
}

/** The media type a manifest declares, or the one its shape implies. */
export function manifestMediaType(manifest: ImageManifest | ImageIndex): string {
  if (manifest.mediaType) return manifest.mediaType;
  return 'manifests' in manifest ? MediaTypes.ociIndex : MediaTypes.ociManifest;
}

/** Children of a manifest: an index's manifests, or an image's config and layers. */
export function successors(manifest: ImageManifest | ImageIndex): Descriptor[] {
  if ('manifests' in manifest && Array.isArray(manifest.manifests)) return manifest.manifests;
  const m = manifest as ImageManifest;
  return [m.config, ...m.layers];
}

/** The descriptor a referrers list holds for a manifest: with artifactType and annotations. */
export function referrerDescriptor(desc: Descriptor, manifest: ImageManifest | ImageIndex): Descriptor {
  const out: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  const artifactType = manifest.artifactType ?? ('config' in manifest ? manifest.config.mediaType : undefined);
  if (artifactType) out.artifactType = artifactType;
  if (manifest.annotations && Object.keys(manifest.annotations).length > 0) out.annotations = manifest.annotations;
  return out;
}

/** The referrers tag-schema fallback tag for a subject digest: `sha256-<hex>`. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-').slice(0, 128);
}

/** Runs `fn` over items with at most `limit` in flight; fails fast on the first error. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
