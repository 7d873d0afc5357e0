import { StaticCredentials, logout as removeCredential, storeCredential, type DockerConfigOptions } from './credentials.js';
import type { RegistryOptions } from './options.js';
import { RegistryClient, drain } from './remote/client.js';
import { OciError } from './errors.js';

export interface LoginOptions extends DockerConfigOptions {
  username: string;
  password: string;
  /** How to reach the registry to check the credentials. */
  registry?: RegistryOptions;
  /** Check the credentials against the registry before saving (default true). */
  verify?: boolean;
  signal?: AbortSignal;
}

/** Normalises what users type after `login`: `https://host/`, `docker.io`, `host:5000`. */
export function registryHost(input: string): string {
  const host = input.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === '') throw new OciError('INVALID_REFERENCE', `invalid registry "${input}"`);
  if (host.includes('@')) throw new OciError('INVALID_REFERENCE', `invalid registry "${host.replace(/^.*@/, '***@')}": credentials go in --username and --password-stdin, not in the registry name`);
  if (host === 'docker.io' || host === 'registry-1.docker.io') return 'index.docker.io';
  return host;
}

/**
 * Checks credentials against the registry (`GET /v2/` with them, or a token for it), then saves
 * them where `docker login` would. The password is never part of a message.
 */
export async function login(registry: string, opts: LoginOptions): Promise<{ registry: string; path: string; helper?: string }> {
  const host = registryHost(registry);
  if (!opts.username) throw new OciError('CREDENTIALS', `logging in to ${host}: a username is required`);
  if (!opts.password) throw new OciError('CREDENTIALS', `logging in to ${host}: a password is required`);
  if (opts.verify !== false) {
    const client = new RegistryClient(host, {
      ...opts.registry,
      credentials: new StaticCredentials({ [host]: { username: opts.username, password: opts.password } }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      const res = await client.request({ method: 'GET', path: '/v2/', scopes: [], what: `logging in to ${host}` });
      drain(res);
    } finally {
      client.close();
    }
  }
  const saved = await storeCredential(host, opts);
  return { registry: host, ...saved };
}

/** Removes saved credentials for a registry; returns whether there were any. */
export async function logout(registry: string, opts?: DockerConfigOptions): Promise<{ registry: string; removed: boolean }> {
  const host = registryHost(registry);
  return { registry: host, removed: await removeCredential(host, opts) };
}
