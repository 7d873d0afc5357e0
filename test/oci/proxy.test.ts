// Proxies: which requests go through one (the environment read as Go's net/http reads it, so
// lading goes where cosign, crane and flux go), and the undici transport of src/http through a
// real proxy (tinyproxy, and stunnel in front of it for an https proxy): a CONNECT tunnel to a
// TLS registry, absolute-form requests to a plain one, basic auth, and the errors a proxy gives;
// then the registry client through them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { createDispatcher, proxyFromEnv, type TransportOptions } from '../../src/http/index.js';
import { openRepository } from '../../src/oci/index.js';
import { startProxy, type RunningProxy } from '../env/proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { createTestPki } from '../env/tls.js';
import { expectOciError, pushRandomImage } from './helpers.js';

const via = (env: NodeJS.ProcessEnv, target: string) => proxyFromEnv(env)?.(new URL(target))?.href;

/** One GET through a dispatcher made with `opts`: the status and body, or the error thrown. */
async function get(opts: TransportOptions, url: string, headers?: Record<string, string>): Promise<{ status: number; body: string }> {
  const dispatcher: Dispatcher = createDispatcher({ env: {}, ...opts });
  try {
    const res = await request(url, { dispatcher, ...(headers ? { headers } : {}) });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

describe('proxyFromEnv (Go net/http semantics)', () => {
  it('takes HTTPS_PROXY for https and HTTP_PROXY for http, upper case first, host:port as http://', () => {
    const env = { HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://plain.corp:8080' };
    expect(via(env, 'https://registry.example.com/v2/')).toBe('http://proxy.corp:3128/');
    expect(via(env, 'http://registry.example.com/v2/')).toBe('http://plain.corp:8080/');
    expect(via({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' }, 'https://r.example/')).toBe('http://upper:1/');
    expect(via({ https_proxy: 'https://secure.corp' }, 'https://r.example/')).toBe('https://secure.corp/');
    expect(proxyFromEnv({})).toBeUndefined();
    expect(proxyFromEnv({ HTTPS_PROXY: '  ' })).toBeUndefined();
    expect(via({ HTTP_PROXY: 'http://p:1' }, 'https://r.example/')).toBeUndefined();
  });

  it('never proxies localhost or loopback addresses', () => {
    const env = { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' };
    for (const target of ['http://localhost:5000/', 'https://127.0.0.1:5000/', 'http://127.1.2.3/', 'https://[::1]:5000/']) expect(via(env, target), target).toBeUndefined();
    expect(via(env, 'https://localhost.example.com/')).toBe('http://p:1/');
  });

  it('NO_PROXY: *, domains with their subdomains, .domains, IPs, CIDR ranges, ports', () => {
    const env = { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'example.com, .internal,*.corp.net, 10.1.2.3, 192.168.0.0/16, fd00::/8, registry.dev:5000' };
    const direct = ['https://example.com/', 'https://a.b.example.com/', 'https://x.internal/', 'https://x.corp.net/', 'https://10.1.2.3/', 'https://192.168.7.9/', 'https://[fd00::1]/', 'https://registry.dev:5000/'];
    const proxied = ['https://notexample.com/', 'https://internal/', 'https://corp.net.evil/', 'https://10.1.2.4/', 'https://192.169.0.1/', 'https://[fe80::1]/', 'https://registry.dev/', 'https://registry.dev:5001/'];
    for (const t of direct) expect(via(env, t), t).toBeUndefined();
    for (const t of proxied) expect(via(env, t), t).toBe('http://p:1/');
    expect(via({ HTTPS_PROXY: 'http://p:1', no_proxy: '*' }, 'https://anything.example/')).toBeUndefined();
  });

  it('takes socks5 proxies, refuses a proxy it cannot use naming the variable but not its value', () => {
    expect(via({ HTTPS_PROXY: 'socks5://p:1080' }, 'https://r.example/')).toBe('socks5://p:1080');
    expect(() => proxyFromEnv({ HTTPS_PROXY: 'ftp://user:s3cret@p:21' })).toThrow(/^HTTPS_PROXY: unsupported proxy scheme ftp: \(http, https and socks5 proxies are supported\)$/);
    expect(() => proxyFromEnv({ HTTP_PROXY: 'http://[bad' })).toThrow(/^HTTP_PROXY: invalid proxy URL$/);
  });
});

describe('the transport through a real proxy (tinyproxy)', () => {
  let proxy: RunningProxy;
  let authProxy: RunningProxy;
  let tlsRegistry: RunningRegistry;
  let plainRegistry: RunningRegistry;
  const credentials = { username: 'proxy-user', password: 'pr0xy-pass' };

  beforeAll(async () => {
    [proxy, authProxy, tlsRegistry, plainRegistry] = await Promise.all([startProxy(), startProxy({ auth: credentials }), startRegistry({ tls: true }), startRegistry()]);
  });
  afterAll(async () => {
    await Promise.all([proxy?.stop(), authProxy?.stop(), tlsRegistry?.stop(), plainRegistry?.stop()]);
  });

  const proxyLog = (p: RunningProxy) => readFileSync(p.logFile, 'utf8');
  const registryCa = () => readFileSync(tlsRegistry.caFile as string);

  it('https: a CONNECT tunnel, then TLS to the registry verified with its CA, kept alive', async () => {
    const dispatcher = createDispatcher({ ca: [registryCa()], proxy: proxy.url });
    for (let i = 0; i < 2; i++) {
      const res = await request(`${tlsRegistry.url}/v2/`, { dispatcher });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      // undici hands a connection back to its pool on the next turn of the event loop.
      await new Promise((r) => setImmediate(r));
    }
    await dispatcher.close();
    expect(proxyLog(proxy).split(`CONNECT ${tlsRegistry.host}`).length - 1).toBe(1);
  });

  it('https through the tunnel still verifies the registry: an unknown CA is refused', async () => {
    const err = (await get({ proxy: proxy.url }, `${tlsRegistry.url}/v2/`).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
  });

  it('http: requests in absolute form to the proxy (HTTP_PROXY from the environment)', async () => {
    // A loopback registry is never proxied from the environment: the explicit proxy URL is what
    // sends it through the proxy here, as a kubeconfig's proxy-url would.
    expect(await get({ proxy: proxy.url }, `${plainRegistry.url}/v2/`, { accept: 'application/json' })).toEqual({ status: 200, body: '{}' });
    expect(proxyLog(proxy)).toMatch(new RegExp(`GET ${plainRegistry.url.replace(/[.:/]/g, '\\$&')}/v2/`));
    const before = proxyLog(proxy).length;
    expect(await get({ env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } }, `${plainRegistry.url}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect(proxyLog(proxy).slice(before)).not.toContain(plainRegistry.host);
  });

  it('basic auth from the proxy URL; without it the proxy refuses, and no message holds the credentials', async () => {
    expect((await get({ ca: [registryCa()], proxy: authProxy.url }, `${tlsRegistry.url}/v2/`)).status).toBe(200);
    expect((await get({ proxy: authProxy.url }, `${plainRegistry.url}/v2/`)).status).toBe(200);
    const anonymous = new URL(authProxy.url);
    anonymous.username = '';
    anonymous.password = '';
    const err = (await get({ ca: [registryCa()], proxy: anonymous.href }, `${tlsRegistry.url}/v2/`).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/407/);
    const wrong = new URL(authProxy.url);
    wrong.password = 'nope-wrong';
    const denied = (await get({ ca: [registryCa()], proxy: wrong.href }, `${tlsRegistry.url}/v2/`).catch((e: unknown) => e)) as Error;
    // tinyproxy answers wrong credentials with 401, missing ones with 407.
    expect(denied.message).toMatch(/40[17]/);
    expect(denied.message).not.toContain('nope-wrong');
    expect(denied.message).not.toContain(credentials.password);
  });

  it('a proxy that is not running: the connection is refused', async () => {
    const stopped = await startProxy();
    await stopped.stop();
    const err = (await get({ ca: [registryCa()], proxy: stopped.url }, `${tlsRegistry.url}/v2/`).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ECONNREFUSED');
  });
});

describe('through an https proxy (tinyproxy behind stunnel: TLS to the proxy itself)', () => {
  let tlsProxy: RunningProxy;
  let tlsRegistry: RunningRegistry;
  let plainRegistry: RunningRegistry;
  let proxyCa: Buffer;
  let dir: string;
  const credentials = { username: 'tls-user', password: 'tl5-secret' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lading-https-proxy-'));
    const pki = createTestPki(dir);
    proxyCa = readFileSync(pki.caFile);
    [tlsProxy, tlsRegistry, plainRegistry] = await Promise.all([
      startProxy({ auth: credentials, tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile } }),
      startRegistry({ tls: true }),
      startRegistry(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tlsProxy?.stop(), tlsRegistry?.stop(), plainRegistry?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The proxy's CA and the registry's: the client trusts both, as `--ca-file` with both would. */
  const bothCas = () => [proxyCa, readFileSync(tlsRegistry.caFile as string)];

  it('https registry: TLS to the proxy, a CONNECT tunnel inside it, TLS to the registry inside that, kept alive', async () => {
    expect(tlsProxy.url.startsWith('https://')).toBe(true);
    const dispatcher = createDispatcher({ ca: bothCas(), proxy: tlsProxy.url });
    for (let i = 0; i < 2; i++) {
      const res = await request(`${tlsRegistry.url}/v2/`, { dispatcher });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      // undici hands a connection back to its pool on the next turn of the event loop.
      await new Promise((r) => setImmediate(r));
    }
    await dispatcher.close();
    expect(readFileSync(tlsProxy.logFile, 'utf8').split(`CONNECT ${tlsRegistry.host}`).length - 1).toBe(1);
  });

  it('http registry: requests over TLS to the proxy', async () => {
    expect(await get({ ca: [proxyCa], proxy: tlsProxy.url }, `${plainRegistry.url}/v2/`, { accept: 'application/json' })).toEqual({ status: 200, body: '{}' });
    expect(readFileSync(tlsProxy.logFile, 'utf8')).toContain(plainRegistry.host);
  });

  it("the proxy's certificate is verified: without its CA the connection fails, and no message holds the credentials", async () => {
    for (const target of [`${tlsRegistry.url}/v2/`, `${plainRegistry.url}/v2/`]) {
      const err = (await get({ ca: [readFileSync(tlsRegistry.caFile as string)], proxy: tlsProxy.url }, target).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(`${err.code} ${err.message}`, target).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT|certificate/);
      expect(err.message, target).not.toContain(credentials.password);
    }
    // insecureSkipVerify trusts any certificate, the proxy's as the registry's.
    expect((await get({ insecureSkipVerify: true, proxy: tlsProxy.url }, `${tlsRegistry.url}/v2/`)).status).toBe(200);
  });
});

describe('the registry client and the proxy settings', () => {
  let registry: RunningRegistry;
  let proxy: RunningProxy;
  beforeAll(async () => {
    [registry, proxy] = await Promise.all([startRegistry(), startProxy()]);
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), proxy?.stop()]);
  });

  it('reaches a loopback registry directly even with a proxy set (that does not exist)', async () => {
    const env = { HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', HOME: '/nonexistent', DOCKER_CONFIG: '/nonexistent-lading-test' };
    const img = await pushRandomImage(openRepository(`${registry.host}/proxy/direct`, { env }), { tag: '1' });
    expect((await openRepository(`${registry.host}/proxy/direct`, { env }).resolve('1')).digest).toBe(img.descriptor.digest);
  });

  it('an explicit proxy URL carries every request, a loopback registry too', async () => {
    const env = { HOME: '/nonexistent', DOCKER_CONFIG: '/nonexistent-lading-test' };
    const img = await pushRandomImage(openRepository(`${registry.host}/proxy/explicit`, { env, proxy: proxy.url }), { tag: '1' });
    expect((await openRepository(`${registry.host}/proxy/explicit`, { env, proxy: proxy.url }).resolve('1')).digest).toBe(img.descriptor.digest);
    expect(readFileSync(proxy.logFile, 'utf8')).toContain(`${registry.url}/v2/proxy/explicit/manifests/1`);
  });

  it('an unusable proxy setting fails the command with the variable named', async () => {
    await expectOciError(Promise.resolve().then(() => openRepository('registry.example.com/app', { env: { HTTPS_PROXY: 'ftp://p:21' } }).resolve('1')), 'NETWORK', /setting up connections to registry\.example\.com: HTTPS_PROXY: unsupported proxy scheme ftp:/);
  });
});
