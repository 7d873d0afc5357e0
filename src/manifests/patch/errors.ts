import { ManifestError } from '../errors.js';

/** Where a patch failed: the patch's source file, the JSON 6902 operation, the field path. */
export interface PatchErrorDetails {
  source?: string;
  /** Index of the JSON 6902 operation that failed. */
  op?: number;
  /** JSON pointer (JSON 6902) or dotted field path (strategic merge). */
  path?: string;
}

/** A patch could not be parsed or applied; the message names the source, operation and path. */
export class PatchError extends ManifestError {
  readonly details: PatchErrorDetails;

  constructor(message: string, details: PatchErrorDetails = {}, options?: { cause?: unknown }) {
    super('PATCH_FAILED', message, options);
    this.details = details;
  }
}
