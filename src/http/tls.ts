import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { HttpError } from './errors.js';

/**
 * The certificates Node trusts by default: `tls.getCACertificates('default')` where Node has it
 * (22.15 and later: the bundled roots plus NODE_EXTRA_CA_CERTS); on older Node the bundled roots
 * plus the NODE_EXTRA_CA_CERTS file, read here as Node read it at start-up (a `ca` option given to
 * a TLS context replaces all of these, so they are listed explicitly). Not covered on older Node:
 * the system store of `--use-openssl-ca`, which Node exposes to no API there.
 */
function defaultRootCertificates(): string[] {
  const modern = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof modern === 'function') return modern('default');
  const roots = [...tls.rootCertificates];
  const extraFile = process.env['NODE_EXTRA_CA_CERTS'];
  if (extraFile) {
    try {
      roots.push(readFileSync(extraFile, 'latin1'));
    } catch {
      // Node warned about it at start-up and ignored it: so do we.
    }
  }
  return roots;
}

export interface TlsSettings {
  ca?: Array<string | Buffer> | undefined;
  caMode?: 'add' | 'replace' | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  insecureSkipVerify?: boolean | undefined;
  servername?: string | undefined;
}

/** What undici's connector (and so tls.connect) gets for every TLS connection of a dispatcher. */
export interface ConnectTls {
  /** Absent when nothing differs from Node's defaults: Node then builds its default context on the first TLS connection. */
  secureContext?: tls.SecureContext;
  rejectUnauthorized: boolean;
  servername?: string;
}

/**
 * One TLS context for every connection a dispatcher opens (its trusted CAs are parsed once) when
 * CAs or a client certificate are given; extra CAs are added to Node's default roots unless caMode
 * is 'replace'. With neither, Node's own default context serves.
 */
export function connectTls(settings: TlsSettings): ConnectTls {
  if ((settings.cert === undefined) !== (settings.key === undefined)) {
    throw new HttpError('TLS', settings.cert === undefined ? 'a client key was given without a client certificate' : 'a client certificate was given without a key');
  }
  for (const ca of settings.ca ?? []) {
    if (!ca.toString().includes('-----BEGIN CERTIFICATE-----')) throw new HttpError('TLS', 'loading the TLS certificates: a CA bundle holds no PEM certificate');
  }
  const verify = {
    rejectUnauthorized: settings.insecureSkipVerify !== true,
    ...(settings.servername !== undefined ? { servername: settings.servername } : {}),
  };
  // Building a context parses the trusted roots (~40 ms of CPU): a client that never opens a
  // TLS connection (a plain-http registry) or trusts only the defaults leaves it to Node.
  if ((settings.ca === undefined || settings.ca.length === 0) && settings.cert === undefined) return verify;
  const options: tls.SecureContextOptions = {};
  if (settings.ca !== undefined && settings.ca.length > 0) {
    options.ca = settings.caMode === 'replace' ? settings.ca : [...defaultRootCertificates(), ...settings.ca];
  }
  if (settings.cert !== undefined) options.cert = settings.cert;
  if (settings.key !== undefined) options.key = settings.key;
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext(options);
  } catch (err) {
    throw new HttpError('TLS', `loading the TLS certificates: ${(err as Error).message}`, { cause: err });
  }
  return { secureContext, ...verify };
}
