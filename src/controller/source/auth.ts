// What an OCIRepository needs from Secrets and ServiceAccounts to reach its registry, read as
// source-controller reads them: registry credentials from `spec.secretRef` and the service
// account's imagePullSecrets (`kubernetes.io/dockerconfigjson` or the legacy `dockercfg`), TLS
// material from `spec.certSecretRef` (`tls.crt`/`tls.key`/`ca.crt`, or the legacy
// `certFile`/`keyFile`/`caFile`), and a proxy from `spec.proxySecretRef`
// (`address`/`username`/`password`). Every value read from a Secret is remembered so that
// messages can be scrubbed of it before they reach status, events or logs.
import type { KubeClient } from '../../kube/index.js';
import type { Credential } from '../../oci/index.js';

/** Values that must never appear in a message (Secret data, credentials). */
export class SecretValues {
  private readonly values = new Set<string>();

  add(value: string | undefined): void {
    // Very short values would blank out ordinary words; they are not credentials worth hiding in text.
    if (value !== undefined && value.length >= 4) this.values.add(value);
  }

  /** `text` with every remembered value (and its base64 form) replaced by `***`. */
  scrub(text: string): string {
    let out = text;
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) {
      out = out.split(v).join('***');
      const b64 = Buffer.from(v).toString('base64');
      if (b64.length >= 8) out = out.split(b64).join('***');
    }
    return out.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):[^/@\s]*@/gi, '$1$2:***@');
  }
}

/** An error from reading auth material; its message names the object and never holds data. */
export class AuthError extends Error {}

interface SecretObject {
  type?: string;
  data?: Record<string, string>;
}

/** Reads a Secret; '<ns>/<name>' in messages, as Flux names it. */
export async function getSecret(client: KubeClient, namespace: string, name: string, signal: AbortSignal | undefined): Promise<{ type: string; data: Record<string, Buffer> }> {
  const ref = `${namespace}/${name}`;
  let obj: SecretObject;
  try {
    obj = await client.request<SecretObject>({
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      ...(signal ? { signal } : {}),
      what: `reading Secret ${ref}`,
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'NOT_FOUND') throw new AuthError(`secret '${ref}' not found`);
    throw new AuthError(`failed to get secret '${ref}': ${(err as Error).message}`);
  }
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(obj.data ?? {})) {
    if (typeof v === 'string') data[k] = Buffer.from(v, 'base64');
  }
  return { type: obj.type ?? 'Opaque', data };
}

/** A registry's credentials from pull secrets; the first secret with an entry for the host wins. */
export interface PullSecret {
  ref: string;
  type: string;
  data: Record<string, Buffer>;
}

function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

function hostMatches(pattern: string, host: string): boolean {
  const p = hostOfKey(pattern);
  const h = host.toLowerCase();
  if (p === h) return true;
  const alias = (x: string) => (x === 'docker.io' || x === 'registry-1.docker.io' || x === 'index.docker.io' ? 'index.docker.io' : x);
  if (alias(p) === alias(h)) return true;
  // Kubelet-style globs: `*.example.com` matches one label per `*`; the port must match.
  if (!p.includes('*')) return false;
  const [pHost, pPort] = p.split(':');
  const [hHost, hPort] = h.split(':');
  if (pPort !== hPort) return false;
  const pl = (pHost ?? '').split('.');
  const hl = (hHost ?? '').split('.');
  if (pl.length !== hl.length) return false;
  return pl.every((label, i) => new RegExp(`^${label.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`).test(hl[i] ?? ''));
}

type AuthEntry = { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string };

function entriesOf(secret: PullSecret): Record<string, AuthEntry> {
  const parse = (key: string): unknown => {
    const raw = secret.data[key];
    if (!raw) throw new AuthError(`secret '${secret.ref}' of type '${secret.type}' has no '${key}' key`);
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AuthError(`secret '${secret.ref}': '${key}' is not valid JSON`);
    }
  };
  if (secret.type === 'kubernetes.io/dockerconfigjson' || (secret.data['.dockerconfigjson'] && secret.type !== 'kubernetes.io/dockercfg')) {
    const doc = parse('.dockerconfigjson') as { auths?: Record<string, AuthEntry> };
    return doc && typeof doc === 'object' && doc.auths && typeof doc.auths === 'object' ? doc.auths : {};
  }
  if (secret.type === 'kubernetes.io/dockercfg' || secret.data['.dockercfg']) {
    const doc = parse('.dockercfg') as Record<string, AuthEntry>;
    return doc && typeof doc === 'object' ? doc : {};
  }
  throw new AuthError(`secret '${secret.ref}' is not a docker config secret (type '${secret.type}', want kubernetes.io/dockerconfigjson)`);
}

/** The credential for `registryHost` in the pull secrets, or undefined (anonymous). */
export function credentialFromPullSecrets(secrets: readonly PullSecret[], registryHost: string, hidden: SecretValues): Credential | undefined {
  for (const secret of secrets) {
    const entries = entriesOf(secret);
    for (const [key, entry] of Object.entries(entries)) {
      if (!entry || typeof entry !== 'object' || !hostMatches(key, registryHost)) continue;
      const cred: Credential = {};
      if (typeof entry.auth === 'string' && entry.auth !== '') {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) throw new AuthError(`secret '${secret.ref}': the auth entry for '${hostOfKey(key)}' is not base64 of user:password`);
        cred.username = decoded.slice(0, colon);
        cred.password = decoded.slice(colon + 1);
      } else {
        if (typeof entry.username === 'string') cred.username = entry.username;
        if (typeof entry.password === 'string') cred.password = entry.password;
      }
      if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') cred.identityToken = entry.identitytoken;
      if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') cred.registryToken = entry.registrytoken;
      hidden.add(cred.password);
      hidden.add(cred.identityToken);
      hidden.add(cred.registryToken);
      if (typeof entry.auth === 'string') hidden.add(entry.auth);
      return cred;
    }
  }
  return undefined;
}

/** The pull secrets of `spec.secretRef` and of the service account's imagePullSecrets, in that order. */
export async function pullSecrets(client: KubeClient, namespace: string, secretRef: string | undefined, serviceAccountName: string | undefined, signal: AbortSignal | undefined, hidden: SecretValues): Promise<PullSecret[]> {
  const out: PullSecret[] = [];
  const remember = (s: { data: Record<string, Buffer> }) => {
    for (const v of Object.values(s.data)) hidden.add(v.toString('utf8'));
  };
  if (secretRef) {
    const s = await getSecret(client, namespace, secretRef, signal);
    remember(s);
    out.push({ ref: `${namespace}/${secretRef}`, ...s });
  }
  if (serviceAccountName) {
    const saRef = `${namespace}/${serviceAccountName}`;
    let sa: { imagePullSecrets?: Array<{ name?: string }> };
    try {
      sa = await client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccountName)}`, ...(signal ? { signal } : {}), what: `reading ServiceAccount ${saRef}` });
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_FOUND') throw new AuthError(`serviceaccount '${saRef}' not found`);
      throw new AuthError(`failed to get serviceaccount '${saRef}': ${(err as Error).message}`);
    }
    for (const ips of sa.imagePullSecrets ?? []) {
      if (!ips?.name) continue;
      let s;
      try {
        s = await getSecret(client, namespace, ips.name, signal);
      } catch (err) {
        throw new AuthError(`failed to get image pull secret for serviceaccount '${saRef}': ${(err as Error).message}`);
      }
      remember(s);
      out.push({ ref: `${namespace}/${ips.name}`, ...s });
    }
  }
  return out;
}

/** TLS material from `spec.certSecretRef`. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export async function tlsFromSecret(client: KubeClient, namespace: string, name: string, signal: AbortSignal | undefined, hidden: SecretValues): Promise<TlsMaterial> {
  const s = await getSecret(client, namespace, name, signal);
  const ref = `${namespace}/${name}`;
  const pick = (key: string, legacy: string): { key: string; value: Buffer } | undefined => {
    const v = s.data[key];
    if (v && v.length > 0) return { key, value: v };
    const l = s.data[legacy];
    if (l && l.length > 0) return { key: legacy, value: l };
    return undefined;
  };
  const cert = pick('tls.crt', 'certFile');
  const key = pick('tls.key', 'keyFile');
  const ca = pick('ca.crt', 'caFile');
  if (key) hidden.add(key.value.toString('utf8'));
  if (cert && !key) throw new AuthError(`secret '${ref}' contains '${cert.key}' but missing '${cert.key === 'tls.crt' ? 'tls.key' : 'keyFile'}'`);
  if (key && !cert) throw new AuthError(`secret '${ref}' contains '${key.key}' but missing '${key.key === 'tls.key' ? 'tls.crt' : 'certFile'}'`);
  if (!cert && !ca) throw new AuthError(`secret '${ref}': no CA certificate or client certificate pair found`);
  const out: TlsMaterial = {};
  if (ca) out.ca = ca.value;
  if (cert) out.cert = cert.value;
  if (key) out.key = key.value;
  return out;
}

/** A proxy URL (with its credentials) from `spec.proxySecretRef`. */
export async function proxyFromSecret(client: KubeClient, namespace: string, name: string, signal: AbortSignal | undefined, hidden: SecretValues): Promise<string> {
  const s = await getSecret(client, namespace, name, signal);
  const ref = `${namespace}/${name}`;
  const address = s.data['address']?.toString('utf8');
  if (address === undefined) throw new AuthError(`secret '${ref}': key 'address' not found`);
  if (address === '') throw new AuthError(`secret '${ref}': proxy address is empty`);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new AuthError(`secret '${ref}': failed to parse proxy address`);
  }
  if (!['http:', 'https:', 'socks5:'].includes(url.protocol) || url.hostname === '') {
    throw new AuthError(`secret '${ref}': proxy address must have scheme http, https or socks5 and a host`);
  }
  const username = s.data['username']?.toString('utf8');
  const password = s.data['password']?.toString('utf8');
  hidden.add(password);
  if (username !== undefined) {
    url.username = encodeURIComponent(username);
    if (password !== undefined) url.password = encodeURIComponent(password);
    hidden.add(url.password);
  }
  return url.toString();
}

/** The keys ending in `.pub` of the verification Secret, in name order. */
export async function cosignKeysFromSecret(client: KubeClient, namespace: string, name: string, signal: AbortSignal | undefined): Promise<Array<{ name: string; pem: string }>> {
  const s = await getSecret(client, namespace, name, signal);
  return Object.keys(s.data)
    .filter((k) => k.endsWith('.pub'))
    .sort()
    .map((k) => ({ name: k, pem: s.data[k]!.toString('utf8') }));
}
