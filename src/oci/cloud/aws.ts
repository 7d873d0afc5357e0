// Amazon ECR: AWS credentials from the environment as the AWS SDKs' default chain finds them in a
// pod (static keys, IRSA web identity through STS, the EKS Pod Identity / ECS container endpoint,
// the EC2 instance role through IMDSv2), then ECR's GetAuthorizationToken (JSON 1.1, SigV4-signed),
// whose token is base64 of `AWS:<password>`. As Flux's fluxcd/pkg/auth/aws does, the STS and ECR
// region is the registry's own.
import { randomBytes } from 'node:crypto';
import { envVar, parseUrl, readTokenFile, type ProviderContext, type RegistryCredentialsResult } from './common.js';
import { scrub } from './errors.js';
import { parseJsonObject, stringField, type CloudResponse } from './http.js';
import { signRequest, type AwsCredentials } from './sigv4.js';

/**
 * ECR private registry hosts: `<12-digit account>.dkr.ecr[-fips].<region>.<partition suffix>`,
 * and the dual-stack `dkr-ecr` form, in every AWS partition (the pattern of AWS's
 * amazon-ecr-credential-helper, which Flux uses too). Anchored: a match proves the host is ECR's.
 */
export const ECR_HOST_PATTERN =
  /^([0-9]{12})\.dkr[.-]ecr(?:-fips)?\.([a-zA-Z0-9][a-zA-Z0-9_-]{0,99})\.(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$/;
/** ECR Public's registry hosts (IPv4 and dual-stack). */
export const ECR_PUBLIC_HOSTS: readonly string[] = ['public.ecr.aws', 'ecr-public.aws.com'];

export type EcrRegistry = { kind: 'private'; account: string; region: string; dnsSuffix: string } | { kind: 'public'; region: 'us-east-1'; dnsSuffix: 'amazonaws.com' };

/** The ECR registry a host names, or undefined when it is not an ECR host. */
export function parseEcrHost(host: string): EcrRegistry | undefined {
  if (ECR_PUBLIC_HOSTS.includes(host)) return { kind: 'public', region: 'us-east-1', dnsSuffix: 'amazonaws.com' };
  const m = ECR_HOST_PATTERN.exec(host);
  if (!m) return undefined;
  const suffix = m[3] as string;
  // The dual-stack registry names live in other domains than the partition's API endpoints.
  const dnsSuffix = suffix === 'on.aws' ? 'amazonaws.com' : suffix === 'on.amazonwebservices.com.cn' ? 'amazonaws.com.cn' : suffix;
  return { kind: 'private', account: m[1] as string, region: m[2] as string, dnsSuffix };
}

/** The endpoint of an AWS service: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the default. */
function serviceEndpoint(ctx: ProviderContext, serviceEnvId: string, fallback: string): URL {
  const ignore = envVar(ctx.env, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS') === 'true';
  for (const name of ignore ? [] : [`AWS_ENDPOINT_URL_${serviceEnvId}`, 'AWS_ENDPOINT_URL']) {
    const value = envVar(ctx.env, name);
    if (value !== undefined) return parseUrl(ctx, value, name);
  }
  return new URL(fallback);
}

interface SourcedCredentials extends AwsCredentials {
  source: string;
}

/** Credentials as the AWS SDKs' default chain finds them, minus shared config files and profiles. */
export async function resolveAwsCredentials(ctx: ProviderContext, registry: EcrRegistry): Promise<SourcedCredentials> {
  const env = ctx.env;
  const keyId = envVar(env, 'AWS_ACCESS_KEY_ID');
  const secret = envVar(env, 'AWS_SECRET_ACCESS_KEY');
  if (keyId !== undefined || secret !== undefined) {
    if (keyId === undefined || secret === undefined) {
      throw ctx.http.error('CONFIG', `${keyId === undefined ? 'AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID' : 'AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY'}: set both (and AWS_SESSION_TOKEN for temporary keys)`);
    }
    const token = envVar(env, 'AWS_SESSION_TOKEN');
    return { source: 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY', accessKeyId: keyId, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
  }
  const roleArn = envVar(env, 'AWS_ROLE_ARN');
  const tokenFile = envVar(env, 'AWS_WEB_IDENTITY_TOKEN_FILE');
  if (roleArn !== undefined || tokenFile !== undefined) {
    if (roleArn === undefined || tokenFile === undefined) {
      throw ctx.http.error('CONFIG', `IAM roles for service accounts needs both AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE; only ${roleArn === undefined ? 'AWS_WEB_IDENTITY_TOKEN_FILE' : 'AWS_ROLE_ARN'} is set (is the service account annotated with eks.amazonaws.com/role-arn?)`);
    }
    return { source: 'web identity (AWS_ROLE_ARN)', ...(await assumeRoleWithWebIdentity(ctx, registry, roleArn, tokenFile)) };
  }
  if (envVar(env, 'AWS_CONTAINER_CREDENTIALS_FULL_URI') !== undefined || envVar(env, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI') !== undefined) {
    return { source: 'the container credentials endpoint', ...(await containerCredentials(ctx)) };
  }
  if (envVar(env, 'AWS_EC2_METADATA_DISABLED')?.toLowerCase() !== 'true') {
    try {
      return { source: 'the EC2 instance role', ...(await instanceRoleCredentials(ctx)) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'NETWORK' && code !== 'TIMEOUT') throw err;
      throw ctx.http.error(
        'NO_CREDENTIALS',
        'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use IAM roles for service accounts (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, set by EKS) or EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI); the EC2 instance metadata service did not answer',
        { cause: err },
      );
    }
  }
  throw ctx.http.error(
    'NO_CREDENTIALS',
    'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use IAM roles for service accounts (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, set by EKS) or EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI); the EC2 instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)',
  );
}

function xmlDecode(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The text of the first `<tag>` element in `xml` (the STS answers are flat and small). */
function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m ? xmlDecode(m[1] as string).trim() : undefined;
}

function isDeniedType(type: string | undefined): boolean {
  return type !== undefined && /AccessDenied|UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|ExpiredToken|InvalidClientTokenId|InvalidIdentityToken|IDPRejectedClaim|NotAuthorized|Unauthorized/i.test(type);
}

async function assumeRoleWithWebIdentity(ctx: ProviderContext, registry: EcrRegistry, roleArn: string, tokenFile: string): Promise<AwsCredentials> {
  const webIdentityToken = readTokenFile(ctx, tokenFile, 'AWS_WEB_IDENTITY_TOKEN_FILE');
  const sessionName = envVar(ctx.env, 'AWS_ROLE_SESSION_NAME') ?? `lading-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const url = serviceEndpoint(ctx, 'STS', `https://sts.${registry.region}.${registry.dnsSuffix}/`);
  const what = `calling STS AssumeRoleWithWebIdentity for role ${roleArn}`;
  const body = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: roleArn, RoleSessionName: sessionName, WebIdentityToken: webIdentityToken }).toString();
  const res = await ctx.http.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'text/xml' }, body, what, secrets: [webIdentityToken] });
  const xml = res.body.toString('utf8');
  if (res.status !== 200) {
    const code = xmlText(xml, 'Code');
    const message = xmlText(xml, 'Message');
    const detail = [code, message && scrub(message, [webIdentityToken])].filter(Boolean).join(': ');
    throw ctx.http.error(res.status === 401 || res.status === 403 || isDeniedType(code) ? 'DENIED' : 'BAD_RESPONSE', `${what} at ${url.origin}${url.pathname}: ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
  }
  const creds = /<Credentials>([\s\S]*?)<\/Credentials>/.exec(xml)?.[1] ?? '';
  const accessKeyId = xmlText(creds, 'AccessKeyId');
  const secretAccessKey = xmlText(creds, 'SecretAccessKey');
  const sessionToken = xmlText(creds, 'SessionToken');
  const expiration = xmlText(creds, 'Expiration');
  if (!accessKeyId || !secretAccessKey || !sessionToken) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no Credentials (AccessKeyId, SecretAccessKey, SessionToken)`);
  const expiresAt = expiration ? new Date(expiration) : undefined;
  return { accessKeyId, secretAccessKey, sessionToken, ...(expiresAt && !Number.isNaN(expiresAt.getTime()) ? { expiresAt } : {}) };
}

/** `{AccessKeyId, SecretAccessKey, Token, Expiration}`, as the container endpoint and IMDS answer. */
function credentialsFromJson(ctx: ProviderContext, res: CloudResponse, what: string): AwsCredentials {
  const obj = parseJsonObject(ctx.http, res, what);
  const accessKeyId = stringField(obj, 'AccessKeyId');
  const secretAccessKey = stringField(obj, 'SecretAccessKey');
  const sessionToken = stringField(obj, 'Token');
  const expiration = stringField(obj, 'Expiration');
  if (!accessKeyId || !secretAccessKey) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no AccessKeyId and SecretAccessKey`);
  const expiresAt = expiration ? new Date(expiration) : undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}), ...(expiresAt && !Number.isNaN(expiresAt.getTime()) ? { expiresAt } : {}) };
}

/** Hosts the SDKs let a plain-http container credentials URI name. */
const CONTAINER_HOSTS = new Set(['169.254.170.2', '169.254.170.23', '[fd00:ec2::23]', 'localhost', '[::1]']);

async function containerCredentials(ctx: ProviderContext): Promise<AwsCredentials> {
  const full = envVar(ctx.env, 'AWS_CONTAINER_CREDENTIALS_FULL_URI');
  const relative = envVar(ctx.env, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI');
  const url = relative !== undefined ? parseUrl(ctx, `http://169.254.170.2${relative.startsWith('/') ? '' : '/'}${relative}`, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI') : parseUrl(ctx, full as string, 'AWS_CONTAINER_CREDENTIALS_FULL_URI');
  if (url.protocol === 'http:' && !CONTAINER_HOSTS.has(url.hostname) && !url.hostname.startsWith('127.')) {
    throw ctx.http.error('CONFIG', `AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed only to the ECS/EKS agent addresses or loopback, not ${url.host}`);
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  const tokenFile = envVar(ctx.env, 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE');
  const token = tokenFile !== undefined ? readTokenFile(ctx, tokenFile, 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE') : envVar(ctx.env, 'AWS_CONTAINER_AUTHORIZATION_TOKEN');
  if (token !== undefined) headers['authorization'] = token;
  const what = 'getting credentials from the container credentials endpoint';
  const res = await ctx.http.request({ method: 'GET', url, headers, what, metadata: true, secrets: token ? [token] : [] });
  if (res.status !== 200) {
    throw ctx.http.error(res.status === 401 || res.status === 403 ? 'DENIED' : 'BAD_RESPONSE', `${what}: ${res.status} ${scrub(res.body.toString('utf8'), token ? [token] : [], 200)}`.trimEnd(), { status: res.status });
  }
  return credentialsFromJson(ctx, res, what);
}

async function instanceRoleCredentials(ctx: ProviderContext): Promise<AwsCredentials> {
  const base = parseUrl(ctx, envVar(ctx.env, 'AWS_EC2_METADATA_SERVICE_ENDPOINT') ?? 'http://169.254.169.254', 'AWS_EC2_METADATA_SERVICE_ENDPOINT');
  const what = 'getting the EC2 instance role from the instance metadata service (IMDSv2)';
  const tokenRes = await ctx.http.request({ method: 'PUT', url: new URL('/latest/api/token', base), headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' }, what, metadata: true });
  if (tokenRes.status !== 200) throw ctx.http.error('BAD_RESPONSE', `${what}: the session token request answered ${tokenRes.status}`, { status: tokenRes.status });
  const session = tokenRes.body.toString('utf8').trim();
  const headers = { 'x-aws-ec2-metadata-token': session };
  const roleRes = await ctx.http.request({ method: 'GET', url: new URL('/latest/meta-data/iam/security-credentials/', base), headers, what, metadata: true, secrets: [session] });
  if (roleRes.status === 404) throw ctx.http.error('NO_CREDENTIALS', `${what}: the instance has no IAM role attached`, { status: 404 });
  if (roleRes.status !== 200) throw ctx.http.error('BAD_RESPONSE', `${what}: ${roleRes.status}`, { status: roleRes.status });
  const role = roleRes.body.toString('utf8').split('\n')[0]?.trim() ?? '';
  if (!/^[\w+=,.@-]{1,128}$/.test(role)) throw ctx.http.error('BAD_RESPONSE', `${what}: the role name is not a valid IAM role name`);
  const credRes = await ctx.http.request({ method: 'GET', url: new URL(`/latest/meta-data/iam/security-credentials/${role}`, base), headers, what, metadata: true, secrets: [session] });
  if (credRes.status !== 200) throw ctx.http.error('BAD_RESPONSE', `${what}: ${credRes.status} for role ${role}`, { status: credRes.status });
  return credentialsFromJson(ctx, credRes, what);
}

/** ECR's `GetAuthorizationToken` (ECR Public's for public.ecr.aws), signed with `creds`. */
export async function ecrAuthorizationToken(ctx: ProviderContext, registry: EcrRegistry, creds: AwsCredentials): Promise<RegistryCredentialsResult> {
  const isPublic = registry.kind === 'public';
  const fips = envVar(ctx.env, 'AWS_USE_FIPS_ENDPOINT')?.toLowerCase() === 'true';
  const api = isPublic ? `api.ecr-public${fips ? '-fips' : ''}` : `api.ecr${fips ? '-fips' : ''}`;
  const url = serviceEndpoint(ctx, isPublic ? 'ECR_PUBLIC' : 'ECR', `https://${api}.${registry.region}.${registry.dnsSuffix}/`);
  const target = isPublic ? 'SpencerFrontendService.GetAuthorizationToken' : 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
  const what = `calling ${isPublic ? 'ECR Public' : 'ECR'} GetAuthorizationToken`;
  const body = '{}';
  const headers = signRequest(
    { method: 'POST', url, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body },
    { region: registry.region, service: isPublic ? 'ecr-public' : 'ecr', credentials: creds, date: ctx.now() },
  );
  // undici sets Host from the URL; the value signed is the same.
  delete headers['host'];
  const secrets = [creds.secretAccessKey, ...(creds.sessionToken ? [creds.sessionToken] : [])];
  const res = await ctx.http.request({ method: 'POST', url, headers, body, what, secrets });
  if (res.status !== 200) {
    let type = res.headers['x-amzn-errortype']?.split(':')[0];
    let message: string | undefined;
    try {
      const obj = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      if (typeof obj['__type'] === 'string') type ??= (obj['__type'] as string).split('#').pop();
      const m = obj['message'] ?? obj['Message'];
      if (typeof m === 'string') message = m;
    } catch {
      // not JSON: the status says enough
    }
    const detail = [type, message && scrub(message, secrets)].filter(Boolean).join(': ');
    throw ctx.http.error(res.status === 401 || res.status === 403 || isDeniedType(type) ? 'DENIED' : 'BAD_RESPONSE', `${what} at ${url.origin}: ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
  }
  const obj = parseJsonObject(ctx.http, res, what);
  const data = isPublic ? obj['authorizationData'] : Array.isArray(obj['authorizationData']) ? (obj['authorizationData'] as unknown[])[0] : undefined;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no authorizationData`);
  const token = stringField(data as Record<string, unknown>, 'authorizationToken');
  const expiresRaw = (data as Record<string, unknown>)['expiresAt'];
  if (token === undefined) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no authorizationToken`);
  if (typeof expiresRaw !== 'number' || !Number.isFinite(expiresRaw)) throw ctx.http.error('BAD_RESPONSE', `${what}: the answer has no expiresAt (epoch seconds)`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw ctx.http.error('BAD_RESPONSE', `${what}: authorizationToken is not base64`);
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const parts = decoded.split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw ctx.http.error('BAD_RESPONSE', `${what}: authorizationToken is not base64 of "user:password"`);
  return { username: parts[0] as string, password: parts[1] as string, expiresAt: new Date(expiresRaw * 1000) };
}

export async function awsRegistryCredentials(ctx: ProviderContext, registry: EcrRegistry): Promise<RegistryCredentialsResult> {
  const creds = await resolveAwsCredentials(ctx, registry);
  return ecrAuthorizationToken(ctx, registry, creds);
}
