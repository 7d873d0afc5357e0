import { LadingError } from '../errors.js';

export type SignErrorCode =
  /** A key file could not be read, decoded or parsed. */
  | 'KEY_INVALID'
  /** The private key could not be decrypted: wrong password (or a corrupt ciphertext). */
  | 'KEY_PASSWORD'
  /** The key's algorithm or parameters are not supported. */
  | 'KEY_UNSUPPORTED'
  /** No password was given and none could be asked for. */
  | 'NO_PASSWORD'
  /** Writing key files failed (or they exist and overwriting was not allowed). */
  | 'KEY_WRITE'
  /** Nothing is attached to the image (no signatures / no attestations). */
  | 'NO_SIGNATURES'
  /** Signatures exist but none of them verified; the message lists why for each. */
  | 'NO_MATCHING_SIGNATURES'
  /** A signature, envelope, bundle or signature manifest is malformed. */
  | 'MALFORMED'
  /** More signature layers or referrers than we are willing to look at. */
  | 'TOO_MANY'
  /** A predicate file or predicate type is invalid. */
  | 'INVALID_PREDICATE'
  /** A bad option value (format, annotation syntax). */
  | 'INVALID_OPTION';

/** An error from signing, attesting or verifying. */
export class SignError extends LadingError<SignErrorCode> {
  constructor(code: SignErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function isSignError(err: unknown, ...codes: SignErrorCode[]): err is SignError {
  return err instanceof SignError && (codes.length === 0 || codes.includes(err.code));
}
