export { LadingError, UsageError } from './errors.js';
export * as oci from './oci/index.js';
export * as sign from './sign/index.js';
export * as artifact from './artifact/index.js';
export * as kube from './kube/index.js';
export * as manifests from './manifests/index.js';
