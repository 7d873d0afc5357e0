// Azure Container Registry: a Microsoft Entra ID (AAD) access token from the environment as
// Flux's fluxcd/pkg/auth/azure gets one (azidentity's default chain without the CLI credentials:
// a client secret in AZURE_CLIENT_SECRET, workload identity's federated token, managed identity
// through IMDS), exchanged at the registry's `POST /oauth2/exchange` for an ACR refresh token,
// used as the password of the user 00000000-0000-0000-0000-000000000000.
import { envVar, jwtExpiry, parseUrl, readTokenFile, type ProviderContext, type RegistryCredentialsResult } from './common.js';
import { readSmallFileSync } from '../../files.js';
import { scrub } from './errors.js';
import { parseJsonObject, stringField, type CloudResponse } from './http.js';

/** ACR hosts in the public, China, Germany and US Government clouds (Kubernetes' and Flux's pattern). */
export const ACR_HOST_PATTERN = /^.+\.(azurecr\.io|azurecr\.cn|azurecr\.de|azurecr\.us)$/;
/** The ACR audience every Azure cloud uses (azcontainerregistry's). */
const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
const DEFAULT_AUTHORITY = 'https://login.microsoftonline.com/';
const DEFAULT_IMDS = 'http://169.254.169.254/metadata/identity/oauth2/token';
/** The user name ACR takes with a refresh token as password. */
export const ACR_TOKEN_USER = '00000000-0000-0000-0000-000000000000';

interface AzureEnvironmentFile {
  containerRegistryDNSSuffix?: string;
  resourceManagerEndpoint?: string;
  tokenAudience?: string;
}

/** The custom cloud of AZURE_ENVIRONMENT_FILEPATH (Azure Stack and the like), when set. */
function environmentFile(ctx: ProviderContext): AzureEnvironmentFile | undefined {
  const path = ctx.env['AZURE_ENVIRONMENT_FILEPATH'];
  if (path === undefined) return undefined;
  try {
    const buf = readSmallFileSync(path, 1024 * 1024);
    if (buf === undefined) throw new Error('larger than 1 MiB');
    const parsed = JSON.parse(buf.toString('utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as AzureEnvironmentFile;
  } catch (err) {
    throw ctx.http.error('CONFIG', `reading the Azure environment file ${path} (AZURE_ENVIRONMENT_FILEPATH): ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Whether `host` is an ACR registry: one of the known clouds' suffixes, or with
 * AZURE_ENVIRONMENT_FILEPATH the file's `containerRegistryDNSSuffix`. Returns the pattern a
 * mismatch is reported against.
 */
export function matchAcrHost(ctx: ProviderContext, host: string): { ok: boolean; expected: string } {
  if (ACR_HOST_PATTERN.test(host)) return { ok: true, expected: ACR_HOST_PATTERN.source };
  const file = environmentFile(ctx);
  if (file === undefined) return { ok: false, expected: ACR_HOST_PATTERN.source };
  const suffix = file.containerRegistryDNSSuffix;
  if (!suffix) throw ctx.http.error('CONFIG', 'the Azure environment file (AZURE_ENVIRONMENT_FILEPATH) has no containerRegistryDNSSuffix');
  return { ok: host.endsWith(suffix), expected: `*${suffix}` };
}

/** The scope of the AAD token: ACR's audience, or the custom cloud's resource manager. */
function acrScope(ctx: ProviderContext): string {
  const file = environmentFile(ctx);
  if (file === undefined) return ACR_SCOPE;
  if (!file.resourceManagerEndpoint || !file.tokenAudience) throw ctx.http.error('CONFIG', 'the Azure environment file (AZURE_ENVIRONMENT_FILEPATH) needs resourceManagerEndpoint and tokenAudience');
  return `${file.resourceManagerEndpoint.replace(/\/$/, '')}/.default`;
}

const TENANT_PATTERN = /^[0-9A-Za-z.-]{1,100}$/;

function tokenEndpoint(ctx: ProviderContext, tenant: string): URL {
  if (!TENANT_PATTERN.test(tenant)) throw ctx.http.error('CONFIG', 'AZURE_TENANT_ID is not a tenant ID or domain name');
  const authority = parseUrl(ctx, envVar(ctx.env, 'AZURE_AUTHORITY_HOST') ?? DEFAULT_AUTHORITY, 'AZURE_AUTHORITY_HOST');
  return new URL(`${authority.href.replace(/\/$/, '')}/${tenant}/oauth2/v2.0/token`);
}

function aadFailure(ctx: ProviderContext, res: CloudResponse, what: string, url: URL, secrets: string[]): never {
  let detail = '';
  try {
    const obj = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    const error = typeof obj['error'] === 'string' ? obj['error'] : undefined;
    const description = typeof obj['error_description'] === 'string' ? obj['error_description'].split(/\r?\n/)[0] : undefined;
    detail = [error, description && scrub(description, secrets)].filter(Boolean).join(': ');
  } catch {
    // not JSON
  }
  const denied = res.status === 400 || res.status === 401 || res.status === 403;
  throw ctx.http.error(denied ? 'DENIED' : 'BAD_RESPONSE', `${what} at ${url.origin}${url.pathname}: ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
}

function accessTokenFrom(ctx: ProviderContext, res: CloudResponse, what: string): string {
  const obj = parseJsonObject(ctx.http, res, what);
  const token = stringField(obj, 'access_token');
  if (token === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no access_token`);
  return token;
}

/** client_credentials at the tenant's token endpoint, with a secret or a federated assertion. */
async function clientCredentials(ctx: ProviderContext, tenant: string, clientId: string, scope: string, secret: { client_secret: string } | { client_assertion: string }, how: string): Promise<string> {
  const url = tokenEndpoint(ctx, tenant);
  const what = `getting a Microsoft Entra ID token for client ${clientId} (${how})`;
  const form: Record<string, string> = { client_id: clientId, scope, grant_type: 'client_credentials' };
  if ('client_secret' in secret) form['client_secret'] = secret.client_secret;
  else {
    form['client_assertion_type'] = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
    form['client_assertion'] = secret.client_assertion;
  }
  const secrets = [Object.values(secret)[0] as string];
  const res = await ctx.http.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(form).toString(), what, secrets });
  if (res.status !== 200) aadFailure(ctx, res, what, url, secrets);
  return accessTokenFrom(ctx, res, what);
}

async function managedIdentity(ctx: ProviderContext, scope: string, clientId: string | undefined): Promise<string> {
  const url = parseUrl(ctx, ctx.endpoints.azureImds ?? DEFAULT_IMDS, 'the Azure IMDS endpoint');
  url.searchParams.set('api-version', '2018-02-01');
  url.searchParams.set('resource', scope.replace(/\/\.default$/, ''));
  if (clientId !== undefined) url.searchParams.set('client_id', clientId);
  const what = `getting a managed identity token from IMDS${clientId !== undefined ? ` for client ${clientId}` : ''}`;
  let res: CloudResponse;
  try {
    res = await ctx.http.request({ method: 'GET', url, headers: { metadata: 'true' }, what, metadata: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'NETWORK' && code !== 'TIMEOUT') throw err;
    throw ctx.http.error(
      'NO_CREDENTIALS',
      'no Azure credentials found: use workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE, set by the workload identity webhook), or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; the managed identity endpoint (IMDS) did not answer',
      { cause: err },
    );
  }
  if (res.status !== 200) aadFailure(ctx, res, what, url, []);
  return accessTokenFrom(ctx, res, what);
}

/** An AAD access token for ACR from the first credential the environment configures. */
export async function azureAccessToken(ctx: ProviderContext): Promise<string> {
  const scope = acrScope(ctx);
  const env = ctx.env;
  const tenant = envVar(env, 'AZURE_TENANT_ID');
  const clientId = envVar(env, 'AZURE_CLIENT_ID');
  const clientSecret = envVar(env, 'AZURE_CLIENT_SECRET');
  if (clientSecret !== undefined) {
    if (tenant === undefined || clientId === undefined) throw ctx.http.error('CONFIG', 'AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID');
    return clientCredentials(ctx, tenant, clientId, scope, { client_secret: clientSecret }, 'client secret');
  }
  if (envVar(env, 'AZURE_CLIENT_CERTIFICATE_PATH') !== undefined || envVar(env, 'AZURE_USERNAME') !== undefined) {
    throw ctx.http.error('CONFIG', 'AZURE_CLIENT_CERTIFICATE_PATH and AZURE_USERNAME credentials are not supported by lading: use workload identity, a managed identity or AZURE_CLIENT_SECRET');
  }
  const tokenFile = envVar(env, 'AZURE_FEDERATED_TOKEN_FILE');
  if (tokenFile !== undefined) {
    if (tenant === undefined || clientId === undefined) {
      throw ctx.http.error('CONFIG', 'workload identity needs AZURE_CLIENT_ID and AZURE_TENANT_ID beside AZURE_FEDERATED_TOKEN_FILE (is the pod labelled azure.workload.identity/use: "true" and its service account annotated with azure.workload.identity/client-id?)');
    }
    const assertion = readTokenFile(ctx, tokenFile, 'AZURE_FEDERATED_TOKEN_FILE');
    return clientCredentials(ctx, tenant, clientId, scope, { client_assertion: assertion }, 'workload identity');
  }
  return managedIdentity(ctx, scope, clientId);
}

/** `POST https://<registry>/oauth2/exchange`: the AAD token for an ACR refresh token. */
export async function acrRefreshToken(ctx: ProviderContext, host: string, accessToken: string): Promise<RegistryCredentialsResult> {
  const base = parseUrl(ctx, ctx.endpoints.acrExchange ?? `https://${host}`, 'the ACR exchange endpoint');
  const url = new URL('/oauth2/exchange', base);
  const what = 'exchanging the Entra ID token for an ACR refresh token';
  const body = new URLSearchParams({ grant_type: 'access_token', service: host, access_token: accessToken }).toString();
  const res = await ctx.http.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body, what, secrets: [accessToken] });
  if (res.status !== 200) {
    let detail = '';
    try {
      const obj = JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }>; error?: unknown; error_description?: unknown };
      const first = obj.errors?.[0];
      const parts = first ? [first.code, first.message] : [obj.error, obj.error_description];
      detail = parts.filter((p): p is string => typeof p === 'string').map((p) => scrub(p, [accessToken], 200)).join(': ');
    } catch {
      // not JSON
    }
    throw ctx.http.error(res.status === 401 || res.status === 403 ? 'DENIED' : 'BAD_RESPONSE', `${what} at ${url.origin}: ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
  }
  const obj = parseJsonObject(ctx.http, res, what);
  const refreshToken = stringField(obj, 'refresh_token');
  if (refreshToken === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no refresh_token`);
  const expiresAt = jwtExpiry(refreshToken);
  if (expiresAt === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the refresh token is not a JWT with an exp claim`);
  return { username: ACR_TOKEN_USER, password: refreshToken, expiresAt };
}

export async function azureRegistryCredentials(ctx: ProviderContext, host: string): Promise<RegistryCredentialsResult> {
  const accessToken = await azureAccessToken(ctx);
  return acrRefreshToken(ctx, host, accessToken);
}
