import { readSmallFileSync } from '../../files.js';
import type { CloudHttp } from './http.js';

/** What a provider needs to fetch credentials once. */
export interface ProviderContext {
  http: CloudHttp;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  endpoints: CloudEndpoints;
}

/** Endpoints that have no standard environment variable; for tests and emulators. */
export interface CloudEndpoints {
  /** Azure IMDS token URL; default `http://169.254.169.254/metadata/identity/oauth2/token`. */
  azureImds?: string;
  /** Base URL of the ACR token service; default `https://<registry host>`. */
  acrExchange?: string;
}

export interface RegistryCredentialsResult {
  username: string;
  password: string;
  expiresAt?: Date;
}

const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** A non-empty environment variable. */
export function envVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A projected token file (a service account token), read fresh each time: the kubelet rotates it. */
export function readTokenFile(ctx: ProviderContext, path: string, variable: string): string {
  let buf: Buffer | undefined;
  try {
    buf = readSmallFileSync(path, MAX_TOKEN_FILE_BYTES);
  } catch (err) {
    throw ctx.http.error('CONFIG', `reading the token file ${path} named by ${variable}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (buf === undefined) throw ctx.http.error('CONFIG', `reading the token file ${path} named by ${variable}: larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
  const token = buf.toString('utf8').trim();
  if (token === '') throw ctx.http.error('CONFIG', `the token file ${path} named by ${variable} is empty`);
  return token;
}

/** A URL from configuration, or a CONFIG error naming where it came from. */
export function parseUrl(ctx: ProviderContext, value: string, source: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported scheme ${url.protocol}`);
    return url;
  } catch (err) {
    throw ctx.http.error('CONFIG', `${source}: not a valid http(s) URL: ${(err as Error).message}`, { cause: err });
  }
}

/** The `exp` claim of a JWT (not verified: the issuer checks it), or undefined. */
export function jwtExpiry(token: string): Date | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? new Date(claims.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}
