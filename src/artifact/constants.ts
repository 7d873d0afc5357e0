/** Config media type of artifacts made by `flux push artifact`. */
export const FluxConfigMediaType = 'application/vnd.cncf.flux.config.v1+json';
/** Prefix of Flux content layer media types (`.tar+gzip` for directory tarballs). */
export const FluxContentMediaTypePrefix = 'application/vnd.cncf.flux.content.v1';
/** Layer media type of artifacts made by `flux push artifact`: a gzip-compressed tarball. */
export const FluxContentMediaType = 'application/vnd.cncf.flux.content.v1.tar+gzip';

/** OpenContainers annotations that Flux writes on the artifact manifest. */
export const Annotations = {
  created: 'org.opencontainers.image.created',
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
} as const;

/** The `created` value `--reproducible` uses, as `flux push artifact --reproducible` does. */
export const ReproducibleCreated = '1970-01-01T00:00:00Z';

/**
 * Paths Flux ignores by default (`--ignore-paths` default of `flux push/build/diff artifact`):
 * version-control metadata and binary/archive extensions.
 */
export const DefaultIgnorePaths: readonly string[] = [
  '.git/',
  '.gitignore',
  '.gitmodules',
  '.gitattributes',
  '*.jpg',
  '*.jpeg',
  '*.gif',
  '*.png',
  '*.wmv',
  '*.flv',
  '*.tar.gz',
  '*.zip',
];

/** Name of the per-directory ignore file source-controller honours. */
export const SourceIgnoreFile = '.sourceignore';

/** Default limit on the uncompressed content of an artifact (as Flux's untar: 100 MiB). */
export const DefaultMaxBytes = 100 * 1024 * 1024;

/** Default limit on the number of entries in an archive. */
export const DefaultMaxEntries = 100_000;

/** Tags that are never artifacts: cosign signatures, attestations, SBOMs and digest-named tags. */
export function isHiddenTag(tag: string): boolean {
  return tag.startsWith('sha256-') || tag.endsWith('.sig') || tag.endsWith('.att') || tag.endsWith('.sbom');
}

/** The created/source/revision annotations of a manifest, as optional fields. */
export function artifactMetadata(annotations: Record<string, string>): { created?: string; source?: string; revision?: string } {
  const out: { created?: string; source?: string; revision?: string } = {};
  const created = annotations[Annotations.created];
  const source = annotations[Annotations.source];
  const revision = annotations[Annotations.revision];
  if (created !== undefined) out.created = created;
  if (source !== undefined) out.source = source;
  if (revision !== undefined) out.revision = revision;
  return out;
}

/** Longest entry name or link target accepted in an archive, in bytes (Linux's PATH_MAX). */
export const MaxPathBytes = 4096;

/** Longest single name (one path segment) accepted in an archive, in bytes (NAME_MAX). */
export const MaxNameBytes = 255;

/** Most directory levels an archive entry may be below the root. */
export const MaxPathDepth = 128;

/** Most symbolic links followed while resolving one link's target (Linux's MAXSYMLINKS). */
export const MaxLinkHops = 40;
