import { LadingError } from '../errors.js';

export type ManifestErrorCode =
  | 'INVALID_YAML'
  | 'INVALID_KUSTOMIZATION'
  | 'UNSUPPORTED'
  | 'NOT_FOUND'
  | 'CYCLE'
  | 'DUPLICATE_ID'
  | 'CONFLICT'
  | 'PATCH_FAILED'
  | 'NO_MATCH'
  | 'INVALID_LOCK'
  | 'PIN_FAILED'
  | 'TOO_LARGE';

/** A manifest could not be read, built or pinned; the message names the file and field. */
export class ManifestError extends LadingError<ManifestErrorCode> {}
