// Google Container Registry and Artifact Registry: an OAuth2 access token used as the password of
// the user `oauth2accesstoken`, as Flux's fluxcd/pkg/auth/gcp gets it through
// golang.org/x/oauth2/google's default credentials: a service account key file named by
// GOOGLE_APPLICATION_CREDENTIALS, else the metadata server (the node's service account, or on GKE
// with workload identity the pod's). External-account (federation) files are refused.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readSmallFileSync } from '../../files.js';
import { envVar, parseUrl, type ProviderContext, type RegistryCredentialsResult } from './common.js';
import { scrub } from './errors.js';
import { parseJsonObject, stringField, type CloudResponse } from './http.js';

/** gcr.io and its regional hosts, Artifact Registry's `<location>-docker.pkg.dev`, and S3NS's sovereign registry (Flux's pattern). */
export const GCP_HOST_PATTERN = /^(((.+\.)?gcr\.io)|(.+-docker\.pkg\.dev)|(docker\.s3nsregistry\.fr))$/;
/** The scopes Flux asks for. */
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/userinfo.email'];
export const GCP_TOKEN_USER = 'oauth2accesstoken';
/** What a token without `expires_in` is taken to last. */
const DEFAULT_TOKEN_SECONDS = 300;

const MAX_KEY_FILE_BYTES = 64 * 1024;
const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

interface ServiceAccountKey {
  type?: string;
  client_email?: string;
  private_key?: string;
  private_key_id?: string;
  token_uri?: string;
}

/**
 * A service account key file (GOOGLE_APPLICATION_CREDENTIALS of type `service_account`): a JWT
 * signed with the key (RS256) exchanged at the key's token_uri for an access token (the OAuth 2.0
 * JWT bearer grant, RFC 7523, as Google documents for service accounts).
 */
async function serviceAccountKeyToken(ctx: ProviderContext, path: string): Promise<{ token: string; seconds: number }> {
  let key: ServiceAccountKey;
  try {
    const buf = readSmallFileSync(path, MAX_KEY_FILE_BYTES);
    if (buf === undefined) throw new Error(`larger than ${MAX_KEY_FILE_BYTES} bytes`);
    const parsed = JSON.parse(buf.toString('utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    key = parsed as ServiceAccountKey;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof SyntaxError ? 'not JSON' : (err as Error).message);
    throw ctx.http.error('CONFIG', `reading the key file ${path} named by GOOGLE_APPLICATION_CREDENTIALS: ${reason}`, { cause: err });
  }
  if (key.type !== 'service_account') {
    throw ctx.http.error('CONFIG', `the key file ${path} named by GOOGLE_APPLICATION_CREDENTIALS is of type "${String(key.type)}": lading supports "service_account" keys and the metadata server only`);
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') throw ctx.http.error('CONFIG', `the key file ${path} has no client_email or private_key`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.private_key);
  } catch (err) {
    throw ctx.http.error('CONFIG', `the key file ${path}: private_key is not a PEM private key`, { cause: err });
  }
  const tokenUri = parseUrl(ctx, typeof key.token_uri === 'string' && key.token_uri !== '' ? key.token_uri : DEFAULT_TOKEN_URI, `token_uri of ${path}`);
  const iat = Math.floor(ctx.now().getTime() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(typeof key.private_key_id === 'string' ? { kid: key.private_key_id } : {}) };
  const claims = { iss: key.client_email, scope: SCOPES.join(' '), aud: tokenUri.href, iat, exp: iat + 3600 };
  const unsigned = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  let signature: string;
  try {
    signature = sign('sha256', Buffer.from(unsigned), privateKey).toString('base64url');
  } catch (err) {
    throw ctx.http.error('CONFIG', `the key file ${path}: signing with private_key failed (an RSA key is needed)`, { cause: err });
  }
  const assertion = `${unsigned}.${signature}`;
  const what = `getting an access token for ${key.client_email} with its key`;
  const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
  const res = await ctx.http.request({ method: 'POST', url: tokenUri, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body, what, secrets: [assertion, signature] });
  if (res.status !== 200) {
    let detail = '';
    try {
      const obj = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      detail = [obj['error'], obj['error_description']].filter((p): p is string => typeof p === 'string').map((p) => scrub(p, [assertion], 200)).join(': ');
    } catch {
      // not JSON
    }
    throw ctx.http.error(res.status === 400 || res.status === 401 || res.status === 403 ? 'DENIED' : 'BAD_RESPONSE', `${what} at ${tokenUri.origin}${tokenUri.pathname}: ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
  }
  return tokenFrom(ctx, res, what);
}

function tokenFrom(ctx: ProviderContext, res: CloudResponse, what: string): { token: string; seconds: number } {
  const obj = parseJsonObject(ctx.http, res, what);
  const token = stringField(obj, 'access_token');
  if (token === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no access_token`);
  const expiresIn = obj['expires_in'];
  const seconds = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
  return { token, seconds };
}

async function metadataToken(ctx: ProviderContext): Promise<{ token: string; seconds: number }> {
  // As Google's client libraries: GCE_METADATA_HOST (host[:port]), else the link-local address.
  const host = envVar(ctx.env, 'GCE_METADATA_HOST') ?? '169.254.169.254';
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/.test(host)) throw ctx.http.error('CONFIG', 'GCE_METADATA_HOST is not a host[:port]');
  const url = new URL(`http://${host}/computeMetadata/v1/instance/service-accounts/default/token`);
  url.searchParams.set('scopes', SCOPES.join(','));
  const what = 'getting an access token from the GCE metadata server';
  let res: CloudResponse;
  try {
    res = await ctx.http.request({ method: 'GET', url, headers: { 'metadata-flavor': 'Google' }, what, metadata: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'NETWORK' && code !== 'TIMEOUT') throw err;
    throw ctx.http.error('NO_CREDENTIALS', `no GCP credentials: the metadata server at ${host} did not answer (lading needs GKE workload identity or a GCE/GKE node's service account, or a service account key in GOOGLE_APPLICATION_CREDENTIALS; GCE_METADATA_HOST names another metadata server)`, { cause: err });
  }
  if (res.headers['metadata-flavor'] !== 'Google') throw ctx.http.error('BAD_RESPONSE', `${what}: the answer lacks "Metadata-Flavor: Google" (not a metadata server at ${host})`, { status: res.status });
  if (res.status === 404) throw ctx.http.error('NO_CREDENTIALS', `${what}: the instance has no default service account (404)`, { status: 404 });
  if (res.status !== 200) throw ctx.http.error(res.status === 401 || res.status === 403 ? 'DENIED' : 'BAD_RESPONSE', `${what}: ${res.status}`, { status: res.status });
  return tokenFrom(ctx, res, what);
}

export async function gcpRegistryCredentials(ctx: ProviderContext): Promise<RegistryCredentialsResult> {
  const keyFile = envVar(ctx.env, 'GOOGLE_APPLICATION_CREDENTIALS');
  const { token, seconds } = keyFile !== undefined ? await serviceAccountKeyToken(ctx, keyFile) : await metadataToken(ctx);
  return { username: GCP_TOKEN_USER, password: token, expiresAt: new Date(ctx.now().getTime() + seconds * 1000) };
}
