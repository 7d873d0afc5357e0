import { LadingError } from '../../errors.js';

export type SourceErrorCode =
  /** A storage path is malformed or would leave the storage root. */
  | 'INVALID_PATH'
  /** Creating, writing, renaming or removing a file in storage failed. */
  | 'STORAGE'
  /** A stored file does not match the digest recorded for it. */
  | 'DIGEST_MISMATCH'
  /** The artifact server could not start or stop. */
  | 'SERVER'
  /** The operation was cancelled. */
  | 'ABORTED';

/** An error of the artifact storage or its HTTP server. */
export class SourceError extends LadingError<SourceErrorCode> {
  constructor(code: SourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
