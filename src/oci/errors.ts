import { LadingError } from '../errors.js';
import { redactCredentials } from '../redact.js';

export type OciErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_MANIFEST'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNSUPPORTED'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'TLS'
  | 'REGISTRY'
  | 'CREDENTIALS'
  | 'LAYOUT'
  | 'ABORTED';

/**
 * An error from the OCI layer: references, registries, stores, credentials and copies. A password
 * written into a URL or reference in the message is replaced by `***`.
 */
export class OciError extends LadingError<OciErrorCode> {
  /** HTTP status from the registry, when there was a response. */
  readonly status: number | undefined;

  constructor(code: OciErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, redactCredentials(message), options);
    this.status = options?.status;
  }
}

/** Whether an error is an OciError with one of the given codes. */
export function isOciError(err: unknown, ...codes: OciErrorCode[]): err is OciError {
  return err instanceof OciError && (codes.length === 0 || codes.includes(err.code));
}

/** Turns an aborted signal into an OciError with code ABORTED. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new OciError('ABORTED', `${what}: aborted`, { cause: signal.reason });
}
