// Public surface of the artifact domain: Kubernetes configuration packaged as OCI artifacts,
// compatible with `flux push/pull artifact`.
//
// Format (checked against flux v2.9.5 in test/artifact/flux.test.ts): an OCI image manifest with
// config `application/vnd.cncf.flux.config.v1+json` (a go-containerregistry-shaped image config
// carrying the created time), one layer `application/vnd.cncf.flux.content.v1.tar+gzip`, and the
// annotations `org.opencontainers.image.{created,revision,source}` (+ any given), keys sorted.
// The tarball: entries in directory-walk order (byte order per directory), no root entry,
// directories included, mtime 0, uid/gid 0, no user/group names, modes 0755/0644, symlinks left
// out unless resolved; gzip level 6 with no name, no time and OS byte 255. Byte equality with
// flux's own tarball is not a goal (Go's deflate differs from zlib); equality of content is.
export {
  FluxConfigMediaType,
  FluxContentMediaType,
  FluxContentMediaTypePrefix,
  Annotations,
  DefaultIgnorePaths,
  DefaultMaxBytes,
  DefaultMaxEntries,
  ReproducibleCreated,
  SourceIgnoreFile,
  isHiddenTag,
  artifactMetadata,
} from './constants.js';
export { ArtifactError, type ArtifactErrorCode } from './errors.js';
export type { SourceOptions, SourceEntry, MemoryFile } from './source.js';
export { collectSource } from './source.js';
export { extractToDirectory, extractToMemory, type ExtractLimits, type ExtractSummary, type ArchiveFile } from './extract.js';
export type { RemoteOptions, VerifyBeforeUse } from './remote.js';
export { pushArtifact, type PushArtifactOptions, type PushArtifactResult, type ArtifactContent } from './push.js';
export { pullArtifact, readArtifactFiles, type PullArtifactOptions, type PullArtifactResult, type ReadArtifactOptions, type ArtifactFiles, type PullLimits } from './pull.js';
export { tagArtifact, type TagArtifactOptions, type TagArtifactResult } from './tag.js';
export { listArtifacts, type ListArtifactsOptions, type ArtifactListing } from './list.js';
export { inspectArtifact, type InspectArtifactOptions, type ArtifactInspection } from './inspect.js';
export { artifactResources, resourceId, type ArtifactResource } from './objects.js';
export { diffArtifact, type DiffArtifactOptions, type ArtifactDiff, type FileChange } from './diff.js';
export { buildArtifact, type BuildArtifactOptions, type BuildArtifactResult } from './build.js';
export { DigestCounter } from './tarball.js';
