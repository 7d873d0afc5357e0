import { resolve } from 'node:path';
import { redactCredentials } from '../oci/index.js';
import { DefaultMaxBytes, DefaultMaxEntries, artifactMetadata } from './constants.js';
import { ArtifactError } from './errors.js';
import { checkOutputDirectory, extractToDirectory, extractToMemory, type ArchiveFile, type ExtractLimits } from './extract.js';
import { chooseLayer, ociURL, parseArtifactURL, refSuffix, resolveArtifact, withDeadline, type RemoteOptions, type VerifyBeforeUse } from './remote.js';

export interface PullLimits {
  /** Most bytes of (uncompressed) content to accept; default 100 MiB. */
  maxBytes?: number;
  /** Most archive entries to accept; default 100 000. */
  maxEntries?: number;
  /** Extract the layer with this media type (default: Flux's content layer, else the first tarball). */
  layerMediaType?: string;
}

export interface PullArtifactOptions extends PullLimits, RemoteOptions, VerifyBeforeUse {
  /** `oci://registry/repository:tag` or `@sha256:...`. */
  url: string;
  /** Directory to extract into; it must not exist or be empty unless `overwrite`. */
  output: string;
  /** Replace the content of a non-empty output directory. */
  overwrite?: boolean;
}

/** What was pulled: the artifact's metadata and what was written. */
export interface PullArtifactResult {
  /** `oci://registry/repository@sha256:...` */
  url: string;
  digest: string;
  created?: string;
  source?: string;
  revision?: string;
  annotations: Record<string, string>;
  output: string;
  files: number;
  directories: number;
  bytes: number;
}

function compressedLimit(limits: PullLimits): number {
  const maxBytes = limits.maxBytes ?? DefaultMaxBytes;
  const maxEntries = limits.maxEntries ?? DefaultMaxEntries;
  // A gzip stream of a tar holding maxBytes of content is never much larger than that content.
  return maxBytes + maxEntries * 1024 + (1 << 20);
}


/**
 * Pulls an artifact and extracts its content layer into `output`. The layer's digest is verified
 * while reading and the archive is checked entry by entry (no absolute paths, no `..`, no links
 * leading outside the target, no devices, size limits); the tree appears at `output` only when all
 * of it was written, so a failed, aborted or timed-out pull leaves nothing behind.
 */
export async function pullArtifact(opts: PullArtifactOptions): Promise<PullArtifactResult> {
  const what = `pulling ${describeURL(opts.url)}`;
  // Before anything is fetched: an empty path, or a directory that must not be replaced.
  checkOutputDirectory(opts.output, resolve(opts.output), opts.overwrite === true, what);
  return withDeadline(opts, what, async (opts) => {
    const { ref, storage, descriptor, manifest } = await resolveArtifact(opts.url, opts);
    try {
      const layer = chooseLayer(manifest, what, opts.layerMediaType);
      const limit = compressedLimit(opts);
      if (layer.size > limit) {
        throw new ArtifactError('TOO_LARGE', `${what}: the layer is ${layer.size} bytes, more than the limit of ${limit} (raise it with --max-size)`);
      }
      const stream = await storage.fetch(layer, opts.signal ? { signal: opts.signal } : {});
      const summary = await extractToDirectory(stream, opts.output, { ...extractLimits(opts), ...(opts.overwrite ? { overwrite: true } : {}) }, what);
      const annotations = manifest.annotations ?? {};
      return {
        url: ociURL(ref, `@${descriptor.digest}`),
        digest: descriptor.digest,
        ...artifactMetadata(annotations),
        annotations,
        output: opts.output,
        files: summary.files,
        directories: summary.directories,
        bytes: summary.bytes,
      };
    } finally {
      storage.close();
    }
  });
}

function extractLimits(opts: PullLimits & { signal?: AbortSignal }): ExtractLimits {
  return {
    ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
    ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/**
 * `oci://registry/repository:tag` for messages, from what the caller gave (parsed when it parses;
 * as given otherwise, without the password of a `user:password@` part).
 */
function describeURL(url: string): string {
  try {
    const ref = parseArtifactURL(url);
    return ociURL(ref, refSuffix(ref));
  } catch {
    return redactCredentials(url);
  }
}

export interface ReadArtifactOptions extends PullLimits, RemoteOptions, VerifyBeforeUse {}

/** An artifact's content, read into memory. */
export interface ArtifactFiles {
  /** Manifest digest. */
  digest: string;
  /** `oci://registry/repository@sha256:...` */
  url: string;
  annotations: Record<string, string>;
  /** Regular files, sorted by path. */
  files: ArchiveFile[];
}

/**
 * Reads an artifact's files into memory (for the apply engine, inspect and diff): verified,
 * size-limited, with the same archive checks as `pullArtifact`.
 */
export async function readArtifactFiles(url: string, opts: ReadArtifactOptions = {}): Promise<ArtifactFiles> {
  const what = `reading ${describeURL(url)}`;
  return withDeadline(opts, what, async (opts) => {
    const { ref, storage, descriptor, manifest } = await resolveArtifact(url, opts);
    try {
      const layer = chooseLayer(manifest, what, opts.layerMediaType);
      const limit = compressedLimit(opts);
      if (layer.size > limit) {
        throw new ArtifactError('TOO_LARGE', `${what}: the layer is ${layer.size} bytes, more than the limit of ${limit}`);
      }
      const stream = await storage.fetch(layer, opts.signal ? { signal: opts.signal } : {});
      const { files } = await extractToMemory(stream, extractLimits(opts), what);
      return { digest: descriptor.digest, url: ociURL(ref, `@${descriptor.digest}`), annotations: manifest.annotations ?? {}, files };
    } finally {
      storage.close();
    }
  });
}
