import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MediaTypes, descriptorFor, pushManifest, type Descriptor, type ImageManifest, type Reference } from '../oci/index.js';
import { artifactConfig, rfc3339 } from './config.js';
import { Annotations, FluxConfigMediaType, FluxContentMediaType, ReproducibleCreated } from './constants.js';
import { ArtifactError, throwIfAborted } from './errors.js';
import { ociURL, parseArtifactURL, repositoryFor, withDeadline, type RemoteOptions } from './remote.js';
import { collectSource, memorySource, type MemoryFile, type SourceEntry, type SourceOptions } from './source.js';
import { tarballBuffer, writeTarball } from './tarball.js';

/** Content (the files' bytes) up to this size is packaged in memory rather than in a temporary file. */
const IN_MEMORY_MAX = 32 * 1024 * 1024;

/** What to package: a directory or file on disk, or files in memory (stdin, a kustomize build). */
export interface ArtifactContent extends SourceOptions {
  /** A directory (packaged recursively) or a single file. */
  path?: string;
  /** In-memory files; used instead of `path`. */
  files?: readonly MemoryFile[];
}

export interface PushArtifactOptions extends ArtifactContent, RemoteOptions {
  /** `oci://registry/repository:tag` (the `oci://` prefix is optional; the tag defaults to `latest`). */
  url: string;
  /** `org.opencontainers.image.source`, e.g. the Git URL. */
  source?: string;
  /** `org.opencontainers.image.revision`, e.g. `main@sha1:<commit>`. */
  revision?: string;
  /** Extra manifest annotations; they override the three above. */
  annotations?: Record<string, string>;
  /** Set the created time to 1970-01-01T00:00:00Z so the same content always has the same digest. */
  reproducible?: boolean;
  /** Created time to record (default: now); ignored with `reproducible`. */
  created?: Date;
  /** Sign the pushed digest with this cosign private key (path to cosign.key), as `cosign sign` does. */
  signKey?: string;
  /** Password of the signing key (default: LADING_PASSWORD / COSIGN_PASSWORD). */
  signPassword?: string;
  /** Called with what is being done, for progress messages. */
  onProgress?: (message: string) => void;
}

/** The pushed artifact, shaped like `flux push artifact -o json`. */
export interface PushArtifactResult {
  /** `oci://registry/repository@sha256:...` */
  url: string;
  /** `registry/repository` */
  repository: string;
  tag: string;
  /** Manifest digest. */
  digest: string;
}

/** Collects the entries to package from a path or in-memory files. */
export async function contentEntries(content: ArtifactContent): Promise<SourceEntry[]> {
  if (content.files && content.path) throw new ArtifactError('INVALID_ARGUMENT', 'give either a path or in-memory files to package, not both');
  if (content.files) return memorySource(content.files);
  if (!content.path) throw new ArtifactError('INVALID_ARGUMENT', 'no path given to package');
  return collectSource(content.path, content);
}

/**
 * Packages a directory, a file or in-memory files as a Flux config artifact and pushes it:
 * one reproducible tar+gzip layer (`application/vnd.cncf.flux.content.v1.tar+gzip`), the Flux
 * config media type, and the `org.opencontainers.image.{created,source,revision}` annotations.
 */
export async function pushArtifact(opts: PushArtifactOptions): Promise<PushArtifactResult> {
  const ref = parseArtifactURL(opts.url);
  if (ref.digest && !ref.tag) {
    throw new ArtifactError('INVALID_ARGUMENT', `pushing ${opts.url}: give a tag, not a digest (the digest is computed from the content)`);
  }
  const tag = ref.tag ?? 'latest';
  const what = `pushing ${ociURL(ref, `:${tag}`)}`;
  return withDeadline(opts, what, (opts) => packageAndPush(opts, ref, tag, what));
}

async function packageAndPush(opts: PushArtifactOptions, ref: Reference, tag: string, what: string): Promise<PushArtifactResult> {
  const entries = await contentEntries(opts);
  throwIfAborted(opts.signal, what);

  const created = opts.reproducible ? ReproducibleCreated : rfc3339(opts.created ?? new Date());
  const annotations: Record<string, string> = { [Annotations.created]: created };
  if (opts.source !== undefined) annotations[Annotations.source] = opts.source;
  if (opts.revision !== undefined) annotations[Annotations.revision] = opts.revision;
  for (const [k, v] of Object.entries(opts.annotations ?? {})) {
    if (k.trim() === '') throw new ArtifactError('INVALID_ARGUMENT', `${what}: annotation with an empty key`);
    annotations[k] = v;
  }
  if (annotations[Annotations.created] === '') annotations[Annotations.created] = created;
  const createdValue = annotations[Annotations.created] ?? created;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(createdValue) || Number.isNaN(Date.parse(createdValue))) {
    throw new ArtifactError('INVALID_ARGUMENT', `${what}: annotation ${Annotations.created}="${createdValue}" is not an RFC 3339 time (e.g. 2024-01-02T03:04:05Z)`);
  }
  // Keys in lexical order, as Flux (Go's JSON encoding of a map) writes them.
  const sortedAnnotations = Object.fromEntries(Object.entries(annotations).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));

  // Content up to IN_MEMORY_MAX bytes is packaged in memory and uploaded from there; larger
  // content goes through a temporary file, so that memory stays bounded.
  const contentBytes = entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
  const work = contentBytes <= IN_MEMORY_MAX ? undefined : await mkdtemp(join(tmpdir(), 'lading-push-'));
  try {
    opts.onProgress?.(`packaging ${entries.filter((e) => e.type === 'file').length} file(s)`);
    const tarOpts = opts.signal ? { signal: opts.signal } : {};
    let layer: Descriptor;
    let layerContent: () => Buffer | Readable;
    if (work === undefined) {
      const bytes = await tarballBuffer(entries, tarOpts);
      layer = descriptorFor(FluxContentMediaType, bytes);
      layerContent = () => bytes;
    } else {
      const tarball = await writeTarball(entries, join(work, 'artifact.tgz'), tarOpts);
      layer = { mediaType: FluxContentMediaType, digest: tarball.digest, size: tarball.size };
      layerContent = () => createReadStream(tarball.path);
    }
    const configBytes = artifactConfig();
    const config = descriptorFor(FluxConfigMediaType, configBytes);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config,
      layers: [layer],
      annotations: sortedAnnotations,
    };
    const storage = repositoryFor(ref, opts);
    const op = opts.signal ? { signal: opts.signal } : {};
    opts.onProgress?.(`pushing artifact to ${ref.name}:${tag}`);
    try {
      await Promise.all([
        storage.exists(config, op).then((has) => (has ? undefined : storage.push(config, configBytes, op))),
        storage.exists(layer, op).then((has) => (has ? undefined : storage.push(layer, layerContent(), op))),
      ]);
      const desc = await pushManifest(storage, manifest, { tag, ...op });
      if (opts.signKey !== undefined) {
        const { sign } = await import('../sign/index.js');
        await sign(`${ref.name}@${desc.digest}`, {
          key: opts.signKey,
          ...(opts.signPassword !== undefined ? { password: opts.signPassword } : {}),
          ...(opts.registry ? { registry: opts.registry } : {}),
          ...op,
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        });
      }
      return { url: ociURL(ref, `@${desc.digest}`), repository: ref.name, tag, digest: desc.digest };
    } finally {
      storage.close();
    }
  } finally {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }
}
