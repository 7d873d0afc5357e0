// Google Container Registry and Artifact Registry: an OAuth2 access token of the instance's (on
// GKE with workload identity: the pod's) service account from the metadata server, used as the
// password of the user `oauth2accesstoken`, as Flux's fluxcd/pkg/auth/gcp gets it through
// golang.org/x/oauth2/google on GKE.
import { envVar, type ProviderContext, type RegistryCredentialsResult } from './common.js';
import { parseJsonObject, stringField } from './http.js';

/** gcr.io and its regional hosts, Artifact Registry's `<location>-docker.pkg.dev`, and S3NS's sovereign registry (Flux's pattern). */
export const GCP_HOST_PATTERN = /^(((.+\.)?gcr\.io)|(.+-docker\.pkg\.dev)|(docker\.s3nsregistry\.fr))$/;
/** The scopes Flux asks for. */
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/userinfo.email'];
export const GCP_TOKEN_USER = 'oauth2accesstoken';
/** What a token without `expires_in` is taken to last. */
const DEFAULT_TOKEN_SECONDS = 300;

export async function gcpRegistryCredentials(ctx: ProviderContext): Promise<RegistryCredentialsResult> {
  const keyFile = envVar(ctx.env, 'GOOGLE_APPLICATION_CREDENTIALS');
  if (keyFile !== undefined) {
    throw ctx.http.error('CONFIG', `GOOGLE_APPLICATION_CREDENTIALS (${keyFile}) is set, but lading gets GCP tokens from the metadata server only (GKE workload identity or the node's service account): unset it`);
  }
  // As Google's client libraries: GCE_METADATA_HOST (host[:port]), else the link-local address.
  const host = envVar(ctx.env, 'GCE_METADATA_HOST') ?? '169.254.169.254';
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/.test(host)) throw ctx.http.error('CONFIG', 'GCE_METADATA_HOST is not a host[:port]');
  const url = new URL(`http://${host}/computeMetadata/v1/instance/service-accounts/default/token`);
  url.searchParams.set('scopes', SCOPES.join(','));
  const what = 'getting an access token from the GCE metadata server';
  let res;
  try {
    res = await ctx.http.request({ method: 'GET', url, headers: { 'metadata-flavor': 'Google' }, what, metadata: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'NETWORK' && code !== 'TIMEOUT') throw err;
    throw ctx.http.error('NO_CREDENTIALS', `no GCP credentials: the metadata server at ${host} did not answer (lading needs GKE workload identity or a GCE/GKE node's service account; GCE_METADATA_HOST names another metadata server)`, { cause: err });
  }
  if (res.headers['metadata-flavor'] !== 'Google') throw ctx.http.error('BAD_RESPONSE', `${what}: the answer lacks "Metadata-Flavor: Google" (not a metadata server at ${host})`, { status: res.status });
  if (res.status === 404) throw ctx.http.error('NO_CREDENTIALS', `${what}: the instance has no default service account (404)`, { status: 404 });
  if (res.status !== 200) throw ctx.http.error(res.status === 401 || res.status === 403 ? 'DENIED' : 'BAD_RESPONSE', `${what}: ${res.status}`, { status: res.status });
  const obj = parseJsonObject(ctx.http, res, what);
  const token = stringField(obj, 'access_token');
  if (token === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no access_token`);
  const expiresIn = obj['expires_in'];
  const seconds = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
  return { username: GCP_TOKEN_USER, password: token, expiresAt: new Date(ctx.now().getTime() + seconds * 1000) };
}
