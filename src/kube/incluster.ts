// In-cluster configuration, as client-go's rest.InClusterConfig reads it: the API server at
// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the service account's token (re-read
// whenever the kubelet rotates it), its CA and its namespace, from the directory the kubelet
// mounts (injectable, for tests and unusual mounts).
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { KubeError } from './errors.js';
import type { ResolvedKubeconfig } from './kubeconfig.js';

export const defaultServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** True when the in-cluster variables are set and a service-account token is mounted. */
export function inClusterPossible(env: NodeJS.ProcessEnv, serviceAccountDir: string = defaultServiceAccountDir): boolean {
  return !!env['KUBERNETES_SERVICE_HOST'] && !!env['KUBERNETES_SERVICE_PORT'] && existsSync(join(serviceAccountDir, 'token'));
}

export interface InClusterOptions {
  env?: NodeJS.ProcessEnv;
  serviceAccountDir?: string;
  /** Namespace override (--namespace); otherwise POD_NAMESPACE, then the mounted namespace file, then `default`. */
  namespace?: string;
}

/** The in-cluster configuration; fails naming what is missing. */
export function inClusterConfig(opts: InClusterOptions = {}): ResolvedKubeconfig {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? defaultServiceAccountDir;
  const source = `in-cluster service account ${dir}`;
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) throw new KubeError('KUBECONFIG', `${source}: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set`);
  const tokenPath = join(dir, 'token');
  if (!existsSync(tokenPath)) throw new KubeError('KUBECONFIG', `${source}: no token at ${tokenPath}`);
  let server: URL;
  try {
    server = new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`);
  } catch (err) {
    throw new KubeError('KUBECONFIG', `${source}: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT do not make a URL`, { cause: err });
  }
  const resolved: ResolvedKubeconfig = {
    source,
    context: '',
    cluster: '',
    user: '',
    namespace: opts.namespace || env['POD_NAMESPACE'] || readTrimmed(join(dir, 'namespace')) || 'default',
    server,
    insecureSkipTlsVerify: false,
    disableCompression: false,
    auth: { kind: 'tokenFile', path: tokenPath },
  };
  const caPath = join(dir, 'ca.crt');
  // client-go goes on with the system roots when the CA cannot be read; so does lading.
  if (existsSync(caPath)) resolved.ca = readFileSync(caPath);
  return resolved;
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
