export { LadingError, UsageError } from './errors.js';
export * as oci from './oci/index.js';
