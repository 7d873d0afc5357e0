/**
 * Which proxy a request goes through, read from the environment as Go's net/http reads it
 * (golang.org/x/net/http/httpproxy), so lading goes where kubectl, cosign, crane and flux go:
 * HTTPS_PROXY / https_proxy for https URLs, HTTP_PROXY / http_proxy for http URLs (the upper-case
 * name wins when both are set), and NO_PROXY / no_proxy listing what is reached directly: `*`,
 * host names (`example.com` also matches its subdomains, `.example.com` only them), IP addresses
 * and CIDR ranges, each with an optional `:port`. localhost and loopback addresses are never
 * proxied.
 */
import { BlockList, isIP } from 'node:net';
import { HttpError } from './errors.js';

/** The proxy a URL goes through, or undefined for a direct connection. */
export type ProxyResolver = (target: URL) => URL | undefined;

interface NoProxyEntry {
  host?: string;
  /** Matches subdomains only (a leading dot). */
  subdomainsOnly?: boolean;
  ip?: string;
  cidr?: BlockList;
  port?: string;
}

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:', 'socks5h:']);

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name.toUpperCase()] ?? env[name.toLowerCase()];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * A proxy URL as Go takes it: a URL, or `host:port` meaning `http://host:port`. `source` names
 * where it came from, for the error message (the value itself may hold a password: not echoed).
 */
function parseProxyUrl(value: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch (err) {
    throw new HttpError('PROXY', `${source}: invalid proxy URL`, { cause: err });
  }
  if (!PROXY_SCHEMES.has(url.protocol)) {
    throw new HttpError('PROXY', `${source}: unsupported proxy scheme ${url.protocol} (http, https and socks5 proxies are supported)`);
  }
  if (url.hostname === '') throw new HttpError('PROXY', `${source}: the proxy URL has no host`);
  return url;
}

function parseNoProxy(value: string | undefined): NoProxyEntry[] | 'all' {
  const entries: NoProxyEntry[] = [];
  for (const raw of (value ?? '').split(',')) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return 'all';
    const cidr = /^([^/]+)\/(\d+)$/.exec(entry);
    if (cidr && isIP(cidr[1] as string)) {
      const address = cidr[1] as string;
      const list = new BlockList();
      try {
        list.addSubnet(address, Number(cidr[2]), isIP(address) === 6 ? 'ipv6' : 'ipv4');
        entries.push({ cidr: list });
      } catch {
        // not a valid range: ignored, as Go does
      }
      continue;
    }
    if (isIP(entry)) {
      entries.push({ ip: entry });
      continue;
    }
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entries.push({ ip: bracketed[1] as string, ...(bracketed[2] ? { port: bracketed[2] } : {}) });
      continue;
    }
    let port: string | undefined;
    const withPort = /^(.*):(\d+)$/.exec(entry);
    if (withPort && withPort[1] !== '') {
      entry = withPort[1] as string;
      port = withPort[2] as string;
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

/** The host of a URL without IPv6 brackets, lower-case. */
function hostOf(url: URL): string {
  const host = url.hostname.toLowerCase();
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function portOf(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

/** localhost, 127.0.0.0/8 and ::1: never proxied (as Go). */
function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = isIP(h);
  if (family === 4) return h.startsWith('127.');
  if (family === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The proxy settings of `env` as a resolver; undefined when neither HTTPS_PROXY nor HTTP_PROXY is
 * set. Throws HttpError('PROXY') on an invalid proxy URL.
 */
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
    const host = hostOf(target);
    if (isLoopbackHost(host)) return undefined;
    const port = portOf(target);
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

/**
 * The resolver for a TransportOptions.proxy value: 'environment' reads `env`, 'none' never
 * proxies, anything else is one proxy URL for every request, loopback included (a kubeconfig's
 * `proxy-url`, which client-go applies to every request).
 */
export function proxyResolver(proxy: string | undefined, env: NodeJS.ProcessEnv): ProxyResolver | undefined {
  if (proxy === undefined || proxy === 'environment') return proxyFromEnv(env);
  if (proxy === 'none') return undefined;
  const url = parseProxyUrl(proxy, 'proxy URL');
  return () => url;
}
