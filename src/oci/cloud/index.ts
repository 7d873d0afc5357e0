// Registry credentials from cloud providers, for OCIRepository `provider: aws|azure|gcp` (Flux's
// fluxcd/pkg/auth): ECR's GetAuthorizationToken, ACR's refresh-token exchange, and the GCE
// metadata server's access token, behind one function and one CredentialStore.
import { createHash } from 'node:crypto';
import { deadline, type TransportOptions } from '../../http/index.js';
import type { Credential, CredentialStore } from '../credentials.js';
import { awsRegistryCredentials, parseEcrHost, ECR_HOST_PATTERN } from './aws.js';
import { azureRegistryCredentials, matchAcrHost } from './azure.js';
import { CloudCredentialCache } from './cache.js';
import type { CloudEndpoints, ProviderContext, RegistryCredentialsResult } from './common.js';
import { CloudAuthError, type CloudProvider } from './errors.js';
import { gcpRegistryCredentials, GCP_HOST_PATTERN } from './gcp.js';
import { CloudHttp } from './http.js';

export { CloudAuthError, isCloudAuthError, type CloudAuthErrorCode, type CloudProvider } from './errors.js';
export { CloudCredentialCache } from './cache.js';
export type { CloudEndpoints } from './common.js';
export { ECR_HOST_PATTERN, ECR_PUBLIC_HOSTS, parseEcrHost } from './aws.js';
export { ACR_HOST_PATTERN, ACR_TOKEN_USER } from './azure.js';
export { GCP_HOST_PATTERN, GCP_TOKEN_USER } from './gcp.js';

export const CLOUD_PROVIDERS: readonly CloudProvider[] = ['aws', 'azure', 'gcp'];

export interface CloudRegistryCredentials {
  username: string;
  password: string;
  /** When the registry stops taking them (ECR's expiresAt, the ACR refresh token's exp, the GCP token's expires_in). */
  expiresAt?: Date;
}

export interface CloudCredentialsOptions {
  /** Where the credential sources are read from (AWS_*, AZURE_*, GCE_METADATA_HOST); default process.env. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** The clock, for signing dates and the cache; default the system clock. */
  now?: () => Date;
  /**
   * How cloud endpoints are reached: extra CAs, proxy (default: HTTPS_PROXY/NO_PROXY of `env`),
   * timeouts. Metadata servers are always reached directly.
   */
  transport?: TransportOptions;
  /** Limit on the whole exchange, retries included; default 60 s. */
  timeoutMs?: number;
  /** Retries of 408/429/5xx answers and dropped connections per request; default 3. */
  retries?: number;
  /** Base delay of the retry backoff in ms; default 250. */
  retryBaseMs?: number;
  /** Endpoints that have no standard environment variable (tests, emulators). */
  endpoints?: CloudEndpoints;
  /** The cache to use; default one shared by the process; `false` fetches every time. */
  cache?: CloudCredentialCache | false;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** The process-wide cache used when no other is given. */
export const defaultCloudCredentialCache = new CloudCredentialCache();

/** `oci://host/repo:tag`, `host/repo` or `host` → `host`. */
function registryOf(input: string): string {
  return input.replace(/^oci:\/\//, '').split('/')[0] ?? '';
}

/** What identifies the configured identity in `env` (hashed: secrets never kept as such). */
function identityFingerprint(env: NodeJS.ProcessEnv, endpoints: CloudEndpoints | undefined): string {
  const relevant = Object.keys(env)
    .filter((k) => /^(AWS_|AZURE_|GCE_|GOOGLE_)/.test(k))
    .sort()
    .map((k) => [k, env[k]]);
  return createHash('sha256').update(JSON.stringify([relevant, endpoints ?? {}])).digest('hex').slice(0, 32);
}

function checkHost(ctx: ProviderContext, provider: CloudProvider, host: string): void {
  const refuse = (what: string, pattern: string) => {
    throw new CloudAuthError('HOST_MISMATCH', provider, host, `getting ${provider} credentials for ${host}: ${host} is not ${what} (the host must match ${pattern}); provider: ${provider} gives credentials only for its own registries`);
  };
  if (provider === 'aws') {
    if (!parseEcrHost(host)) refuse('an Amazon ECR registry', `${ECR_HOST_PATTERN.source} or public.ecr.aws`);
  } else if (provider === 'azure') {
    const m = matchAcrHost(ctx, host);
    if (!m.ok) refuse('an Azure Container Registry', m.expected);
  } else if (!GCP_HOST_PATTERN.test(host)) {
    refuse('a Google Container Registry or Artifact Registry', GCP_HOST_PATTERN.source);
  }
}

async function fetchCredentials(provider: CloudProvider, host: string, ctx: ProviderContext): Promise<RegistryCredentialsResult> {
  if (provider === 'aws') return awsRegistryCredentials(ctx, parseEcrHost(host) as NonNullable<ReturnType<typeof parseEcrHost>>);
  if (provider === 'azure') return azureRegistryCredentials(ctx, host);
  return gcpRegistryCredentials(ctx);
}

/**
 * Registry credentials for `registryHost` from `provider`'s identity in this environment, as
 * Flux's OCIRepository `provider:` gets them: refused (HOST_MISMATCH) for a host that is not the
 * provider's registry, cached until 80 % of their lifetime, fetched once for concurrent callers.
 * Failures are CloudAuthErrors saying what is missing or what the cloud answered, never with a
 * token, key or password in them.
 */
export async function cloudRegistryCredentials(provider: CloudProvider, registryHost: string, opts: CloudCredentialsOptions = {}): Promise<CloudRegistryCredentials> {
  const host = registryOf(registryHost);
  if (!CLOUD_PROVIDERS.includes(provider)) {
    throw new CloudAuthError('CONFIG', provider, host, `getting credentials for ${host}: unknown provider "${String(provider)}" (one of ${CLOUD_PROVIDERS.join(', ')})`);
  }
  const env = opts.env ?? process.env;
  const now = opts.now ?? (() => new Date());
  const endpoints = opts.endpoints ?? {};
  const limit = deadline(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, `getting ${provider} credentials for ${host}`, opts.signal);
  const http = new CloudHttp(provider, host, {
    signal: limit.signal,
    ...(opts.transport ? { transport: { env, ...opts.transport } } : { transport: { env } }),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.retryBaseMs !== undefined ? { retryBaseMs: opts.retryBaseMs } : {}),
  });
  const ctx: ProviderContext = { http, env, now, endpoints };
  try {
    checkHost(ctx, provider, host);
    const fetch = () => fetchCredentials(provider, host, ctx);
    const cache = opts.cache === false ? undefined : (opts.cache ?? defaultCloudCredentialCache);
    let value: RegistryCredentialsResult;
    if (!cache) value = await fetch();
    else {
      try {
        value = await cache.getOrFetch(`${provider}\0${host}\0${identityFingerprint(env, opts.endpoints)}`, now, fetch, { provider, host });
      } catch (err) {
        // Another caller's fetch, shared with this one, was aborted by that caller: fetch anew.
        if (!(err instanceof CloudAuthError && (err.code === 'ABORTED' || err.code === 'TIMEOUT')) || limit.signal.aborted) throw err;
        value = await fetch();
      }
    }
    return { username: value.username, password: value.password, ...(value.expiresAt ? { expiresAt: new Date(value.expiresAt.getTime()) } : {}) };
  } finally {
    limit.clear();
    await http.close();
  }
}

export interface CloudCredentialStoreOptions extends CloudCredentialsOptions {
  /**
   * The registry's name at the cloud, when the client reaches it under another address (a test
   * registry on loopback, a mirror): credentials are then asked for this host whatever the
   * client names.
   */
  registryHost?: string;
}

/**
 * A CredentialStore for the registry client (RegistryOptions.credentials) that answers with
 * `provider`'s registry credentials; the client asks again each time it is created, so a
 * controller creating a client per reconcile gets fresh (cached) credentials.
 */
export function cloudCredentialStore(provider: CloudProvider, opts: CloudCredentialStoreOptions = {}): CredentialStore {
  const { registryHost, ...rest } = opts;
  return {
    async get(registry: string): Promise<Credential | undefined> {
      const c = await cloudRegistryCredentials(provider, registryHost ?? registry, rest);
      return { username: c.username, password: c.password };
    },
  };
}
