/**
 * Where cosign keeps signatures and attestations in a repository: the classic tag scheme
 * (`sha256-<hex>.sig` / `.att` images whose layers are signatures) and Sigstore bundles attached
 * as OCI 1.1 referrers. Works over any Storage (registry, layout, memory).
 */
import { descriptorFor, fetchManifest, isOciError, MediaTypes, pushManifest, type Descriptor, type ImageIndex, type ImageManifest, type Storage } from '../oci/index.js';
import { SignError } from './errors.js';
import { BUNDLE_CONTENT_ANNOTATION, BUNDLE_MEDIA_TYPE, BUNDLE_MEDIA_TYPE_PREFIX, BUNDLE_PREDICATE_TYPE_ANNOTATION, CREATED_ANNOTATION, EMPTY_MEDIA_TYPE } from './formats.js';

/** cosign refuses signature images with more layers than this; so do we. */
export const MAX_SIGNATURE_LAYERS = 1000;
/** At most this many referrers are examined for one subject. */
export const MAX_REFERRERS = 1000;
/** Largest signature payload, DSSE envelope or bundle we read. */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export type AttachmentKind = 'sig' | 'att' | 'sbom';

/** The classic tag for an attachment: `sha256:abc…` → `sha256-abc….sig`. */
export function attachmentTag(digest: string, kind: AttachmentKind): string {
  return `${digest.replace(':', '-')}.${kind}`;
}

export interface AttachedImage {
  tag: string;
  descriptor: Descriptor;
  manifest: ImageManifest;
}

/** Reads the classic attachment image for `digest`, or undefined when the tag does not exist. */
export async function readAttached(storage: Storage, digest: string, kind: AttachmentKind, opts: { signal?: AbortSignal; what: string }): Promise<AttachedImage | undefined> {
  const tag = attachmentTag(digest, kind);
  let fetched: Awaited<ReturnType<typeof fetchManifest>>;
  try {
    fetched = await fetchManifest(storage, tag, opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if (isOciError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
  const manifest = fetched.manifest as Partial<ImageManifest>;
  if (!Array.isArray(manifest.layers)) {
    throw new SignError('MALFORMED', `${opts.what}: ${tag} in ${storage.location} is not an image manifest (no layers)`);
  }
  if (manifest.layers.length > MAX_SIGNATURE_LAYERS) {
    throw new SignError('TOO_MANY', `${opts.what}: ${tag} in ${storage.location} has ${manifest.layers.length} layers, more than the ${MAX_SIGNATURE_LAYERS} allowed`);
  }
  return { tag, descriptor: fetched.descriptor, manifest: manifest as ImageManifest };
}

export interface NewLayer {
  mediaType: string;
  bytes: Buffer;
  annotations: Record<string, string>;
}

/** A config like go-containerregistry's for an image built by appending layers to empty.Image. */
function attachedConfig(layers: Descriptor[]): Buffer {
  const config = {
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    config: {},
  };
  return Buffer.from(JSON.stringify(config), 'utf8');
}

/**
 * Appends `layer` to the attachment image for `digest` (creating it), pushes the blobs and the
 * manifest, and moves the tag. Returns the new manifest's descriptor.
 */
export async function appendAttached(storage: Storage, digest: string, kind: AttachmentKind, existing: AttachedImage | undefined, layer: NewLayer, opts: { signal?: AbortSignal }): Promise<Descriptor> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const layers = [...(existing?.manifest.layers ?? [])];
  if (layers.length + 1 > MAX_SIGNATURE_LAYERS) {
    throw new SignError('TOO_MANY', `attaching to ${attachmentTag(digest, kind)} in ${storage.location}: it already has ${layers.length} layers (limit ${MAX_SIGNATURE_LAYERS})`);
  }
  const layerDesc = descriptorFor(layer.mediaType, layer.bytes, { annotations: layer.annotations });
  layers.push(layerDesc);
  const configBytes = attachedConfig(layers);
  const configDesc = descriptorFor(MediaTypes.ociConfig, configBytes);
  if (!(await storage.exists(layerDesc, signal))) await storage.push(layerDesc, layer.bytes, signal);
  if (!(await storage.exists(configDesc, signal))) await storage.push(configDesc, configBytes, signal);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: configDesc.mediaType, size: configDesc.size, digest: configDesc.digest },
    layers,
  };
  return pushManifest(storage, manifest, { tag: attachmentTag(digest, kind), mediaType: MediaTypes.ociManifest, ...signal });
}

export interface BundleReferrer {
  /** The referrer manifest's descriptor (from the referrers list). */
  descriptor: Descriptor;
  /** From the manifest annotation, when present. */
  predicateType?: string;
}

/**
 * artifactTypes that say nothing about what a referrer holds: config media types that some
 * writers list instead of the manifest's artifactType. cosign v2.6.5 (go-containerregistry
 * v0.20.7) puts its bundles in the referrers tag index of a registry without the referrers API as
 * `artifactType: application/vnd.oci.empty.v1+json`, with no annotations.
 */
const UNINFORMATIVE_ARTIFACT_TYPES: ReadonlySet<string> = new Set([EMPTY_MEDIA_TYPE, MediaTypes.ociConfig]);

/**
 * Referrers of `subject` that may hold a sigstore bundle: artifactType is a bundle media type, or
 * unknown (some registries drop it from the list, some writers list the config media type); the
 * manifests themselves tell (fetchBundleLayer).
 */
export async function bundleReferrers(storage: Storage, subject: Descriptor, opts: { signal?: AbortSignal; what: string }): Promise<BundleReferrer[]> {
  const list = await storage.referrers(subject, opts.signal ? { signal: opts.signal } : {});
  const candidates = list.filter((d) => !d.artifactType || d.artifactType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX) || UNINFORMATIVE_ARTIFACT_TYPES.has(d.artifactType));
  if (candidates.length > MAX_REFERRERS) {
    throw new SignError('TOO_MANY', `${opts.what}: ${subject.digest} has ${candidates.length} candidate referrers, more than the ${MAX_REFERRERS} examined`);
  }
  return candidates.map((d) => {
    const pt = d.annotations?.[BUNDLE_PREDICATE_TYPE_ANNOTATION];
    return pt ? { descriptor: d, predicateType: pt } : { descriptor: d };
  });
}

export interface FetchedBundle {
  manifestDigest: string;
  predicateType?: string;
  layer: Descriptor;
  bytes: Buffer;
}

/** Fetches the single bundle layer of a referrer manifest, verified and size-limited. */
export async function fetchBundleLayer(storage: Storage, referrer: Descriptor, opts: { signal?: AbortSignal; what: string }): Promise<FetchedBundle | undefined> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const { manifest } = await fetchManifest(storage, referrer, signal);
  const m = manifest as Partial<ImageManifest>;
  if (!Array.isArray(m.layers) || m.layers.length !== 1) return undefined;
  const layer = m.layers[0] as Descriptor;
  if (typeof layer.mediaType !== 'string' || !layer.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) return undefined;
  if (layer.size > MAX_PAYLOAD_BYTES) throw new SignError('TOO_MANY', `${opts.what}: bundle ${layer.digest} is ${layer.size} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  const bytes = await storage.fetchBytes(layer, { maxBytes: MAX_PAYLOAD_BYTES, ...signal });
  const pt = m.annotations?.[BUNDLE_PREDICATE_TYPE_ANNOTATION];
  return { manifestDigest: referrer.digest, layer, bytes, ...(pt ? { predicateType: pt } : {}) };
}

const EMPTY_CONFIG = Buffer.from('{}', 'utf8');

/** Attaches a bundle as a referrer of `subject` the way cosign v3 does (WriteAttestationNewBundleFormat). */
export async function pushBundleReferrer(storage: Storage, subject: Descriptor, bundleBytes: Buffer, predicateType: string, opts: { signal?: AbortSignal; now?: Date }): Promise<Descriptor> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const configDesc = descriptorFor(EMPTY_MEDIA_TYPE, EMPTY_CONFIG);
  const layerDesc = descriptorFor(BUNDLE_MEDIA_TYPE, bundleBytes);
  if (!(await storage.exists(configDesc, signal))) await storage.push(configDesc, EMPTY_CONFIG, signal);
  if (!(await storage.exists(layerDesc, signal))) await storage.push(layerDesc, bundleBytes, signal);
  const created = (opts.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, size: configDesc.size, digest: configDesc.digest },
    layers: [{ mediaType: layerDesc.mediaType, size: layerDesc.size, digest: layerDesc.digest }],
    subject: { mediaType: subject.mediaType, size: subject.size, digest: subject.digest },
    annotations: {
      [CREATED_ANNOTATION]: created,
      [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope',
      [BUNDLE_PREDICATE_TYPE_ANNOTATION]: predicateType,
    },
  };
  return pushManifest(storage, manifest, { mediaType: MediaTypes.ociManifest, ...signal });
}

/** The manifests an index lists (for --recursive). */
export function childManifests(manifest: ImageManifest | ImageIndex): Descriptor[] {
  return 'manifests' in manifest && Array.isArray(manifest.manifests) ? manifest.manifests : [];
}
