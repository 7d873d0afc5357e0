/** Retry policy shared by the registry and Kubernetes clients. */

/** Statuses worth sending a request again for (with a replayable body). */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  // undici
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;
/** A server's Retry-After is followed up to this long. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After (seconds or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * How long to wait before retry number `attempt` (0 for the first retry): the server's
 * Retry-After when it gives one (capped at a minute), else exponential backoff from `baseMs`
 * (default 250 ms, capped at 10 s) with jitter over the upper half.
 */
export function retryDelayMs(attempt: number, retryAfter?: string | null, baseMs = BASE_DELAY_MS): number {
  const after = parseRetryAfterMs(retryAfter);
  if (after !== undefined) return Math.min(after, MAX_RETRY_AFTER_MS);
  const cap = Math.min(MAX_DELAY_MS, baseMs * 2 ** attempt);
  return cap / 2 + Math.random() * (cap / 2);
}

/**
 * Whether an error thrown while sending a request or reading its response is a network failure
 * worth a retry (a reset or refused connection, a timeout, a socket closed mid-body), as opposed
 * to a TLS verification failure, an abort or a programming error.
 */
export function isRetryableNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const error = e as { name?: string; code?: string; message?: string };
    if (error.name === 'AbortError' || error.code === 'ABORT_ERR' || error.code === 'UND_ERR_ABORTED') return false;
    if (error.code !== undefined && RETRYABLE_CODES.has(error.code)) return true;
    if (/socket hang up|other side closed/i.test(error.message ?? '')) return true;
  }
  return false;
}

/** OpenSSL's and Node's codes for a certificate or TLS handshake that failed verification. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER|ERR_TLS|HOSTNAME_MISMATCH|ERR_SSL/;

/**
 * Whether an error (or one in its cause chain) is a TLS failure: an untrusted, expired or
 * mismatched certificate, or a failed handshake. Never worth a retry; worth telling the user how
 * to trust the server.
 */
export function isTlsError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODES.test(code)) return true;
  }
  return false;
}
