/**
 * Which proxy a registry request goes through, from the environment as Go's net/http reads it
 * (golang.org/x/net/http/httpproxy), so lading goes where cosign, crane and flux go:
 * HTTPS_PROXY / https_proxy for https URLs, HTTP_PROXY / http_proxy for http URLs, and
 * NO_PROXY / no_proxy listing what is reached directly: `*`, host names (`example.com` also
 * matches its subdomains, `.example.com` only them), IP addresses and CIDR ranges, each with an
 * optional `:port`. localhost and loopback addresses are never proxied.
 */
import { BlockList, isIP } from 'node:net';
import { endpointOf } from './http1.js';

export type ProxyResolver = (target: URL) => URL | undefined;

interface NoProxyEntry {
  host?: string;
  /** Matches subdomains only (a leading dot). */
  subdomainsOnly?: boolean;
  ip?: string;
  cidr?: BlockList;
  port?: string;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name.toUpperCase()] ?? env[name.toLowerCase()];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A proxy setting as Go takes it: a URL, or host:port meaning http://host:port. */
function parseProxyUrl(value: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new Error(`${variable}: invalid proxy URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${variable}: unsupported proxy scheme ${url.protocol} (http and https proxies are supported)`);
  return url;
}

function parseNoProxy(value: string | undefined): NoProxyEntry[] | 'all' {
  const entries: NoProxyEntry[] = [];
  for (const raw of (value ?? '').split(',')) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return 'all';
    const slash = entry.indexOf('/');
    if (slash > 0 && isIP(entry.slice(0, slash))) {
      const address = entry.slice(0, slash);
      const prefix = Number(entry.slice(slash + 1));
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      const cidr = new BlockList();
      try {
        cidr.addSubnet(address, prefix, family);
        entries.push({ cidr });
      } catch {
        // not a valid range: ignored, as Go does
      }
      continue;
    }
    if (isIP(entry)) {
      entries.push({ ip: entry });
      continue;
    }
    let port: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entries.push({ ip: bracketed[1] as string, ...(bracketed[2] ? { port: bracketed[2] } : {}) });
      continue;
    }
    const colon = entry.lastIndexOf(':');
    if (colon > 0 && /^\d+$/.test(entry.slice(colon + 1))) {
      port = entry.slice(colon + 1);
      entry = entry.slice(0, colon);
    }
    if (isIP(entry)) {
      entries.push({ ip: entry, ...(port ? { port } : {}) });
      continue;
    }
    if (entry.startsWith('*.')) entry = entry.slice(1);
    const subdomainsOnly = entry.startsWith('.');
    entries.push({ host: subdomainsOnly ? entry.slice(1) : entry, subdomainsOnly, ...(port ? { port } : {}) });
  }
  return entries;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** The proxy settings of `env`; undefined when no proxy is set. Throws on an invalid proxy URL. */
export function proxyFromEnv(env: NodeJS.ProcessEnv): ProxyResolver | undefined {
  const httpsValue = envValue(env, 'https_proxy');
  const httpValue = envValue(env, 'http_proxy');
  if (httpsValue === undefined && httpValue === undefined) return undefined;
  const httpsProxy = httpsValue === undefined ? undefined : parseProxyUrl(httpsValue, 'HTTPS_PROXY');
  const httpProxy = httpValue === undefined ? undefined : parseProxyUrl(httpValue, 'HTTP_PROXY');
  const noProxy = parseNoProxy(envValue(env, 'no_proxy'));
  return (target) => {
    const proxy = target.protocol === 'https:' ? httpsProxy : httpProxy;
    if (!proxy || noProxy === 'all') return undefined;
    const endpoint = endpointOf(target);
    const host = endpoint.host.toLowerCase();
    if (isLoopback(host)) return undefined;
    const port = String(endpoint.port);
    const family = isIP(host);
    for (const e of noProxy) {
      if (e.port !== undefined && e.port !== port) continue;
      if (e.cidr && family !== 0 && e.cidr.check(host, family === 6 ? 'ipv6' : 'ipv4')) return undefined;
      if (e.ip !== undefined && e.ip === host) return undefined;
      if (e.host !== undefined && family === 0) {
        if (host.endsWith(`.${e.host}`) || (!e.subdomainsOnly && host === e.host)) return undefined;
      }
    }
    return proxy;
  };
}
