// Public surface of the source side of the controller: artifact storage as source-controller
// keeps it, the HTTP server that serves it, and the OCIRepository reconciler.
export { SourceError, type SourceErrorCode } from './errors.js';
export {
  ArtifactStorage,
  DefaultRetentionRecords,
  DefaultRetentionTtlMs,
  LatestLink,
  type ArtifactStorageOptions,
  type ArtifactTarget,
  type ArchiveOptions,
  type StoredFile,
} from './storage.js';
export { DefaultSourceExclusions } from './ignore.js';
export { startArtifactServer, type ArtifactServer, type ArtifactServerOptions } from './server.js';
export { createOCIRepositoryReconciler, type OCIRepositoryReconcilerDeps, type CloudCredentialsFn } from './ocirepository.js';
export { SecretValues } from './auth.js';
