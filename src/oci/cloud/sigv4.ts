// AWS Signature Version 4 for requests to AWS APIs (ECR, ECR Public), written with node:crypto
// from the published description (docs.aws.amazon.com, "Create a signed AWS API request") and
// checked against AWS's SigV4 test suite (test/oci/cloud-sigv4.test.ts).
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working. */
  expiresAt?: Date;
}

export interface CanonicalInput {
  method: string;
  /** The path as sent (percent-encoded or not): it is decoded, normalised and encoded again. */
  path: string;
  /** The query string as sent, without `?`. */
  query: string;
  /** Header name/value pairs as sent; repeated names are joined in order. All are signed. */
  headers: ReadonlyArray<readonly [string, string]>;
  body: string | Buffer;
}

export interface SignatureParts {
  canonicalRequest: string;
  signedHeaders: string;
  stringToSign: string;
  signature: string;
  authorization: string;
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 percent-encoding of everything but the unreserved characters, as SigV4 wants. */
export function uriEncode(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The canonical URI: dot segments resolved, empty segments dropped, each segment encoded (not S3's rules). */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') segments.pop();
    else segments.push(uriEncode(safeDecode(part)));
  }
  const trailing = path.length > 1 && /\/\.{0,2}$/.test(path) && segments.length > 0 ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

function canonicalQuery(query: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(safeDecode(key)), uriEncode(safeDecode(value))]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** `20150830T123600Z` */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * The canonical request, string to sign and signature of a request whose headers already hold
 * `X-Amz-Date` (and `X-Amz-Security-Token` when signed with temporary credentials).
 */
export function signatureParts(input: CanonicalInput, opts: { region: string; service: string; accessKeyId: string; secretAccessKey: string }): SignatureParts {
  const byName = new Map<string, string[]>();
  for (const [name, value] of input.headers) {
    const key = name.toLowerCase().trim();
    const list = byName.get(key) ?? [];
    list.push(value.trim().replace(/\s+/g, ' '));
    byName.set(key, list);
  }
  const names = [...byName.keys()].sort();
  const date = byName.get('x-amz-date')?.[0];
  if (date === undefined || !/^\d{8}T\d{6}Z$/.test(date)) throw new Error('SigV4: the request has no valid X-Amz-Date header');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method.toUpperCase(),
    canonicalPath(input.path),
    canonicalQuery(input.query),
    names.map((n) => `${n}:${(byName.get(n) as string[]).join(',')}\n`).join(''),
    signedHeaders,
    sha256Hex(input.body),
  ].join('\n');
  const day = date.slice(0, 8);
  const scope = `${day}/${opts.region}/${opts.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${opts.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, opts.region), opts.service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  return {
    canonicalRequest,
    signedHeaders,
    stringToSign,
    signature,
    authorization: `AWS4-HMAC-SHA256 Credential=${opts.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/**
 * Signs a request to an AWS API: returns `headers` plus `host`, `x-amz-date`,
 * `x-amz-security-token` (temporary credentials) and `authorization`. Every header given is signed.
 */
export function signRequest(req: { method: string; url: URL; headers: Record<string, string>; body: string }, opts: { region: string; service: string; credentials: AwsCredentials; date: Date }): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  headers['host'] = req.url.host;
  headers['x-amz-date'] = amzDate(opts.date);
  if (opts.credentials.sessionToken) headers['x-amz-security-token'] = opts.credentials.sessionToken;
  const parts = signatureParts(
    { method: req.method, path: req.url.pathname, query: req.url.search.replace(/^\?/, ''), headers: Object.entries(headers), body: req.body },
    { region: opts.region, service: opts.service, accessKeyId: opts.credentials.accessKeyId, secretAccessKey: opts.credentials.secretAccessKey },
  );
  headers['authorization'] = parts.authorization;
  return headers;
}
