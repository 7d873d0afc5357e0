import {
  fetchManifest,
  openRepository,
  parseReference,
  type Descriptor,
  type ImageManifest,
  type Reference,
  type RegistryOptions,
  type RemoteRepository,
} from '../oci/index.js';
import { deadline } from '../http/index.js';
import { FluxContentMediaType } from './constants.js';
import { ArtifactError } from './errors.js';

/** Options every operation that talks to a registry accepts. */
export interface RemoteOptions {
  /** How to reach the registry (TLS, credentials, timeouts). */
  registry?: RegistryOptions;
  signal?: AbortSignal;
}

/**
 * Runs `operation` with the caller's signal joined to the overall deadline of the registry
 * options (`registry.timeoutMs`, the CLI's --timeout), counted from now: when the time is up,
 * everything under way is aborted (the download, the extraction; a temporary directory is
 * removed) and the operation fails with TIMEOUT, naming `what`.
 */
export async function withDeadline<T, O extends RemoteOptions>(opts: O, what: string, operation: (opts: O) => Promise<T>): Promise<T> {
  const ms = opts.registry?.timeoutMs;
  if (ms === undefined || ms <= 0) return operation(opts);
  const d = deadline(ms, what, opts.signal);
  // This deadline covers the whole operation: the registry clients under it need no timer of their own.
  const { timeoutMs: _whole, ...registry } = opts.registry ?? {};
  try {
    return await operation({ ...opts, registry, signal: d.signal });
  } catch (err) {
    // The error of whatever was under way says only that it was aborted.
    if (d.expired()) throw new ArtifactError('TIMEOUT', `${what}: timed out after ${formatDuration(ms)} (raise the limit with --timeout)`);
    throw err;
  } finally {
    d.clear();
  }
}

function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** `oci://registry/repository` for messages and results. */
export function ociURL(ref: Reference, suffix = ''): string {
  return `oci://${ref.name}${suffix}`;
}

export function parseArtifactURL(url: string): Reference {
  return parseReference(url);
}

export function repositoryFor(ref: Reference, opts: RemoteOptions): RemoteRepository {
  const registry: RegistryOptions = { ...(opts.registry ?? {}) };
  if (opts.signal) registry.signal = registry.signal && registry.signal !== opts.signal ? AbortSignal.any([registry.signal, opts.signal]) : opts.signal;
  return openRepository(ref, registry);
}

export interface ResolvedArtifact {
  ref: Reference;
  storage: RemoteRepository;
  descriptor: Descriptor;
  manifest: ImageManifest;
}

/** Verification before content is read. */
export interface VerifyBeforeUse {
  /**
   * A cosign public key (path to cosign.pub): the artifact must carry a signature made with its
   * private key; the content is then read by the verified digest, never by tag again.
   */
  verifyKey?: string;
}

/**
 * Resolves a reference to its image manifest (after verifying its signature when asked); an
 * index (multi-platform image) is refused.
 */
export async function resolveArtifact(url: string, opts: RemoteOptions & VerifyBeforeUse): Promise<ResolvedArtifact> {
  const ref = parseArtifactURL(url);
  let reference = ref.reference;
  if (opts.verifyKey !== undefined) {
    const { verifyArtifact } = await import('../sign/index.js');
    const verified = await verifyArtifact(url, {
      key: opts.verifyKey,
      ...(opts.registry ? { registry: opts.registry } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    reference = verified.digest;
  }
  const storage = repositoryFor(ref, opts);
  try {
    const { descriptor, manifest } = await fetchManifest(storage, reference, opts.signal ? { signal: opts.signal } : {});
    if (!('layers' in manifest)) {
      throw new ArtifactError('NO_LAYER', `reading ${ociURL(ref, refSuffix(ref))}: it is an image index (${descriptor.mediaType}), not an artifact`);
    }
    return { ref, storage, descriptor, manifest };
  } catch (err) {
    storage.close();
    throw err;
  }
}

export function refSuffix(ref: Reference): string {
  if (ref.digest) return `@${ref.digest}`;
  return `:${ref.tag ?? 'latest'}`;
}

/** `...tar`, `...tar+gzip`, `...tar.gzip`, `...tar.gz`, `...rootfs.diff.tar.gzip` and the like. */
function looksLikeTarball(mediaType: string): boolean {
  return /(^|[.+/])tar([+.](gzip|gz))?$/.test(mediaType);
}

/**
 * Chooses the layer to extract: the one with `layerMediaType` when given; otherwise Flux's
 * content layer, else the first tar-like layer, else the first layer.
 */
export function chooseLayer(manifest: ImageManifest, what: string, layerMediaType?: string): Descriptor {
  const layers = manifest.layers ?? [];
  if (layers.length === 0) throw new ArtifactError('NO_LAYER', `${what}: the artifact has no layers`);
  if (layerMediaType) {
    const layer = layers.find((l) => l.mediaType === layerMediaType);
    if (!layer) {
      throw new ArtifactError('NO_LAYER', `${what}: no layer with media type ${layerMediaType} (the artifact has ${[...new Set(layers.map((l) => l.mediaType))].join(', ')})`);
    }
    return layer;
  }
  return layers.find((l) => l.mediaType === FluxContentMediaType) ?? layers.find((l) => looksLikeTarball(l.mediaType)) ?? layers[0]!;
}
