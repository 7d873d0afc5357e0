import { LadingError } from '../../errors.js';
import { redactCredentials } from '../../redact.js';

export type CloudProvider = 'aws' | 'azure' | 'gcp';

export type CloudAuthErrorCode =
  /** The registry host is not one of the provider's registries (as Flux refuses it). */
  | 'HOST_MISMATCH'
  /** No credential source is configured in the environment (what is needed is said). */
  | 'NO_CREDENTIALS'
  /** A credential source is configured wrongly or half-way (a file missing, a variable without its pair). */
  | 'CONFIG'
  /** The cloud refused the credentials or the exchange (401/403, AccessDenied, invalid_client). */
  | 'DENIED'
  /** The cloud answered something that is not the documented response. */
  | 'BAD_RESPONSE'
  | 'NETWORK'
  | 'TLS'
  | 'TIMEOUT'
  | 'ABORTED';

/**
 * Getting registry credentials from a cloud provider failed. The message names the provider, the
 * registry host and the step (`getting aws credentials for 1234.dkr.ecr...: calling ECR
 * GetAuthorizationToken at https://...: 403 AccessDeniedException: ...`); it never holds a token,
 * key or password: cloud error texts are shortened and scrubbed of anything that looks like one.
 */
export class CloudAuthError extends LadingError<CloudAuthErrorCode> {
  readonly provider: CloudProvider;
  readonly host: string;
  /** HTTP status of the cloud endpoint's answer, when there was one. */
  readonly status: number | undefined;

  constructor(code: CloudAuthErrorCode, provider: CloudProvider, host: string, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, redactCredentials(message), options);
    this.provider = provider;
    this.host = host;
    this.status = options?.status;
  }
}

/** Whether an error is a CloudAuthError with one of the given codes (any code when none given). */
export function isCloudAuthError(err: unknown, ...codes: CloudAuthErrorCode[]): err is CloudAuthError {
  return err instanceof CloudAuthError && (codes.length === 0 || codes.includes(err.code));
}

/**
 * `text` shortened to `max` characters with the given secrets, and anything shaped like a token
 * (a run of 32 or more base64/base64url characters: keys, JWT parts, session tokens), replaced
 * by `***`. For texts that came from a cloud endpoint and go into an error message.
 */
export function scrub(text: string, secrets: readonly string[] = [], max = 300): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  out = out.replace(/[A-Za-z0-9+/_=-]{32,}/g, '***').replace(/\s+/g, ' ').trim();
  return out.length > max ? `${out.slice(0, max)}…` : out;
}
