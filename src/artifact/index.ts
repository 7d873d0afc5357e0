// Public surface of the artifact domain: Kubernetes configuration packaged as OCI artifacts,
// compatible with `flux push/pull artifact`.
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
