// Public surface of the OCI layer: references, the Storage implementations, copy, credentials.
export * from './types.js';
export { OciError, isOciError, type OciErrorCode } from './errors.js';
export { redactCredentials } from '../redact.js';
export { parseReference, isValidTag, isLoopbackRegistry, DEFAULT_REGISTRY, type Reference } from './reference.js';
export { sha256Digest, descriptorFor, isDigest, VerifyingStream } from './digest.js';
export type { RegistryOptions } from './options.js';
export { RemoteRepository, openRepository } from './remote/repository.js';
export { MemoryStore } from './memory.js';
export { LayoutStore } from './layout.js';
export { copy, copyGraph, type CopyOptions, type CopyProgressEvent } from './copy.js';
export { pushManifest, fetchManifest, type PushManifestOptions, type FetchManifestOptions } from './manifest.js';
export { parseManifest, successors, referrersTag, MAX_MANIFEST_BYTES } from './util.js';
export {
  loadDockerConfig,
  dockerConfigDir,
  StaticCredentials,
  DockerConfigStore,
  type Credential,
  type CredentialStore,
  type DockerConfigOptions,
} from './credentials.js';
export { login, logout, registryHost, type LoginOptions } from './login.js';
export {
  cloudRegistryCredentials,
  cloudCredentialStore,
  CloudCredentialCache,
  CloudAuthError,
  isCloudAuthError,
  CLOUD_PROVIDERS,
  type CloudProvider,
  type CloudRegistryCredentials,
  type CloudCredentialsOptions,
} from './cloud/index.js';
