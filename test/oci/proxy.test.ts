// Proxies: which requests go through one (the environment read as Go's net/http reads it, so
// lading goes where cosign, crane and flux go), and the HTTP/1.1 client through a real proxy
// (tinyproxy): a CONNECT tunnel to a TLS registry, absolute-form requests to a plain one, basic
// auth, and the errors a proxy gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '../../src/oci/index.js';
import { readBody } from '../../src/oci/remote/client.js';
import { HttpClient, type HttpResponse } from '../../src/oci/remote/http1.js';
import { proxyFromEnv } from '../../src/oci/remote/proxy.js';
import { startProxy, type RunningProxy } from '../env/proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { createTestPki } from '../env/tls.js';
import { expectOciError, pushRandomImage } from './helpers.js';

const via = (env: NodeJS.ProcessEnv, target: string) => proxyFromEnv(env)?.(new URL(target))?.href;
const bodyOf = (res: HttpResponse) => readBody(res, 1 << 20, 'reading the test response').then((b) => b.toString());

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

  it('refuses a proxy it cannot use, naming the variable', () => {
    expect(() => proxyFromEnv({ HTTPS_PROXY: 'socks5://p:1080' })).toThrow(/HTTPS_PROXY: unsupported proxy scheme socks5:/);
    expect(() => proxyFromEnv({ HTTP_PROXY: 'http://[bad' })).toThrow(/HTTP_PROXY: invalid proxy URL/);
  });
});

describe('the HTTP client through a real proxy (tinyproxy)', () => {
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

  it('https: a CONNECT tunnel, then TLS to the registry verified with its CA, kept alive', async () => {
    const client = new HttpClient({ tls: { ca: readFileSync(tlsRegistry.caFile as string) }, proxy: () => new URL(proxy.url) });
    for (let i = 0; i < 2; i++) {
      const res = await client.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' });
      expect(res.statusCode).toBe(200);
      await bodyOf(res);
    }
    client.close();
    expect(proxyLog(proxy)).toContain(`CONNECT ${tlsRegistry.host}`);
    expect(proxyLog(proxy).split(`CONNECT ${tlsRegistry.host}`).length - 1).toBe(1);
  });

  it('https through the tunnel still verifies the registry: an unknown CA is refused', async () => {
    const client = new HttpClient({ proxy: () => new URL(proxy.url) });
    const err = (await client.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
  });

  it('http: requests in absolute form to the proxy', async () => {
    const client = new HttpClient({ proxy: () => new URL(proxy.url) });
    const res = await client.request(new URL(`${plainRegistry.url}/v2/`), { method: 'GET', headers: { Accept: 'application/json' } });
    expect([res.statusCode, await bodyOf(res)]).toEqual([200, '{}']);
    client.close();
    expect(proxyLog(proxy)).toMatch(new RegExp(`GET ${plainRegistry.url.replace(/[.:/]/g, '\\$&')}/v2/`));
  });

  it('basic auth from the proxy URL; without it, the proxy refusal names the proxy but no credentials', async () => {
    const withAuth = new HttpClient({ tls: { ca: readFileSync(tlsRegistry.caFile as string) }, proxy: () => new URL(authProxy.url) });
    const ok = await withAuth.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' });
    expect(ok.statusCode).toBe(200);
    await bodyOf(ok);
    const plain = await withAuth.request(new URL(`${plainRegistry.url}/v2/`), { method: 'GET' });
    expect(plain.statusCode).toBe(200);
    await bodyOf(plain);
    withAuth.close();

    const anonymous = new URL(authProxy.url);
    anonymous.username = '';
    anonymous.password = '';
    const without = new HttpClient({ tls: { ca: readFileSync(tlsRegistry.caFile as string) }, proxy: () => anonymous });
    const err = (await without.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('EPROXY');
    expect(err.message).toMatch(new RegExp(`^the proxy ${authProxy.host} refused CONNECT ${tlsRegistry.host}: 407`));
    const wrong = new URL(authProxy.url);
    wrong.password = 'nope';
    const denied = (await new HttpClient({ proxy: () => wrong }).request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' }).catch((e: unknown) => e)) as Error;
    // tinyproxy answers wrong credentials with 401, missing ones with 407.
    expect(denied.message).toMatch(/refused CONNECT .*: 40[17]/);
    expect(denied.message).not.toContain('nope');
    expect(denied.message).not.toContain(credentials.password);
  });

  it('a proxy that is not running: the connection is refused', async () => {
    const stopped = await startProxy();
    await stopped.stop();
    const err = (await new HttpClient({ proxy: () => new URL(stopped.url) }).request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
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

  /** The proxy's CA and the registry's, as one bundle: the client trusts both, as `--ca-file` would. */
  const bothCas = () => Buffer.concat([proxyCa, Buffer.from('\n'), readFileSync(tlsRegistry.caFile as string)]);

  it('https registry: TLS to the proxy, a CONNECT tunnel inside it, TLS to the registry inside that, kept alive', async () => {
    expect(tlsProxy.url.startsWith('https://')).toBe(true);
    const client = new HttpClient({ tls: { ca: bothCas() }, proxy: () => new URL(tlsProxy.url) });
    for (let i = 0; i < 2; i++) {
      const res = await client.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' });
      expect(res.statusCode).toBe(200);
      await bodyOf(res);
    }
    client.close();
    const log = readFileSync(tlsProxy.logFile, 'utf8');
    expect(log.split(`CONNECT ${tlsRegistry.host}`).length - 1).toBe(1);
  });

  it('http registry: absolute-form requests over TLS to the proxy', async () => {
    const client = new HttpClient({ tls: { ca: proxyCa }, proxy: () => new URL(tlsProxy.url) });
    const res = await client.request(new URL(`${plainRegistry.url}/v2/`), { method: 'GET', headers: { Accept: 'application/json' } });
    expect([res.statusCode, await bodyOf(res)]).toEqual([200, '{}']);
    client.close();
    expect(readFileSync(tlsProxy.logFile, 'utf8')).toMatch(new RegExp(`GET ${plainRegistry.url.replace(/[.:/]/g, '\\$&')}/v2/`));
  });

  it("the proxy's certificate is verified: without its CA the connection fails, naming the proxy but not the credentials", async () => {
    for (const target of [`${tlsRegistry.url}/v2/`, `${plainRegistry.url}/v2/`]) {
      const client = new HttpClient({ tls: { ca: readFileSync(tlsRegistry.caFile as string) }, proxy: () => new URL(tlsProxy.url) });
      const err = (await client.request(new URL(target), { method: 'GET' }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
      expect(err.code, target).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      expect(err.message, target).toContain(`the proxy ${tlsProxy.host}: `);
      expect(err.message, target).not.toContain(credentials.password);
    }
    // rejectUnauthorized: false trusts any certificate, the proxy's as the registry's.
    const insecure = new HttpClient({ tls: { rejectUnauthorized: false }, proxy: () => new URL(tlsProxy.url) });
    const res = await insecure.request(new URL(`${tlsRegistry.url}/v2/`), { method: 'GET' });
    expect(res.statusCode).toBe(200);
    await bodyOf(res);
    insecure.close();
  });
});

describe('the registry client and the proxy environment', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('reaches a loopback registry directly even with a proxy set (that does not exist)', async () => {
    const env = { HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', HOME: '/nonexistent', DOCKER_CONFIG: '/nonexistent-lading-test' };
    const img = await pushRandomImage(openRepository(`${registry.host}/proxy/direct`, { env }), { tag: '1' });
    expect((await openRepository(`${registry.host}/proxy/direct`, { env }).resolve('1')).digest).toBe(img.descriptor.digest);
  });

  it('an unusable proxy setting fails the command with the variable named', async () => {
    await expectOciError(Promise.resolve().then(() => openRepository('registry.example.com/app', { env: { HTTPS_PROXY: 'socks5://p:1080' } }).resolve('1')), 'NETWORK', /reading the proxy settings for registry\.example\.com: HTTPS_PROXY: unsupported proxy scheme/);
  });
});
