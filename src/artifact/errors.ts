import { LadingError } from '../errors.js';

export type ArtifactErrorCode =
  /** The local path to package does not exist or cannot be read. */
  | 'INVALID_PATH'
  /** An annotation, tag, filter or other option value is malformed. */
  | 'INVALID_ARGUMENT'
  /** The artifact has no layer that can be extracted (or none with the requested media type). */
  | 'NO_LAYER'
  /** The layer is not a (gzip-compressed) tar archive, or the archive is corrupt. */
  | 'INVALID_ARCHIVE'
  /** The archive holds an entry that would escape the target or is not a file/dir/link. */
  | 'UNSAFE_ARCHIVE'
  /** Content exceeds a size or entry-count limit. */
  | 'TOO_LARGE'
  /** The output location cannot be written (exists and is not empty, not a directory, ...). */
  | 'OUTPUT'
  /** A manifest in an artifact could not be parsed as Kubernetes YAML. */
  | 'INVALID_MANIFEST'
  /** The operation was cancelled through its AbortSignal. */
  | 'ABORTED'
  /** The operation did not finish within its deadline (`timeoutMs`, `--timeout`). */
  | 'TIMEOUT';

/** An error while packaging, pushing, pulling or reading a config artifact. */
export class ArtifactError extends LadingError<ArtifactErrorCode> {
  constructor(code: ArtifactErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: signal.reason });
}
