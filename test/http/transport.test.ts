// src/http, the one transport of the registry and Kubernetes clients, against real servers:
// registries (plain and TLS), a SOCKS5 proxy (microsocks), TLS settings (added and replaced CAs,
// client certificates), the retry policy and the overall deadline.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, createDispatcher, deadline, isRetryableNetworkError, parseRetryAfterMs, proxyResolver, retryDelayMs, type TransportOptions } from '../../src/http/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { startSocksProxy, type RunningSocksProxy } from '../env/socks.js';

async function get(opts: TransportOptions, url: string): Promise<{ status: number; body: string }> {
  const dispatcher = createDispatcher({ env: {}, ...opts });
  try {
    const res = await request(url, { dispatcher, headers: { accept: 'application/json' } });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

const failure = (p: Promise<unknown>): Promise<NodeJS.ErrnoException> => p.then(() => Promise.reject(new Error('expected a failure')), (e: unknown) => e as NodeJS.ErrnoException);

describe('TLS settings', () => {
  let tls: RunningRegistry;
  let mtls: RunningRegistry;
  beforeAll(async () => {
    [tls, mtls] = await Promise.all([startRegistry({ tls: true }), startRegistry({ clientCerts: true })]);
  });
  afterAll(async () => {
    await Promise.all([tls?.stop(), mtls?.stop()]);
  });

  it('an added CA verifies its server; without it the server is refused; insecureSkipVerify takes any', async () => {
    expect(await get({ ca: [readFileSync(tls.caFile!)] }, `${tls.url}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect(await get({ ca: [readFileSync(tls.caFile!)], caMode: 'replace' }, `${tls.url}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect((await failure(get({}, `${tls.url}/v2/`))).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
    expect((await get({ insecureSkipVerify: true }, `${tls.url}/v2/`)).status).toBe(200);
  });

  it("caMode 'replace' trusts only the given CAs: another server's CA does not verify it", async () => {
    const err = await failure(get({ ca: [readFileSync(mtls.caFile!)], caMode: 'replace' }, `${tls.url}/v2/`));
    expect(err.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
  });

  it('servername: the certificate is checked against the given name', async () => {
    // The test certificate names 127.0.0.1, ::1 and localhost.
    expect((await get({ ca: [readFileSync(tls.caFile!)], servername: 'localhost' }, `${tls.url}/v2/`)).status).toBe(200);
    const err = await failure(get({ ca: [readFileSync(tls.caFile!)], servername: 'registry.example.com' }, `${tls.url}/v2/`));
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('client certificates for mutual TLS; a certificate without its key is refused up front', async () => {
    const pki = mtls.pki!;
    expect((await get({ ca: [readFileSync(pki.caFile)], cert: readFileSync(pki.clientCertFile), key: readFileSync(pki.clientKeyFile) }, `${mtls.url}/v2/`)).status).toBe(200);
    expect(() => createDispatcher({ cert: readFileSync(pki.clientCertFile) })).toThrow(HttpError);
    expect(() => createDispatcher({ ca: ['not a certificate'] })).toThrow(/loading the TLS certificates/);
  });
});

describe('a SOCKS5 proxy (microsocks)', () => {
  let socks: RunningSocksProxy;
  let authSocks: RunningSocksProxy;
  let plain: RunningRegistry;
  let tls: RunningRegistry;
  beforeAll(async () => {
    [socks, authSocks, plain, tls] = await Promise.all([startSocksProxy(), startSocksProxy({ auth: { username: 'sock-user', password: 'sock-pass-42' } }), startRegistry(), startRegistry({ tls: true })]);
  });
  afterAll(async () => {
    await Promise.all([socks?.stop(), authSocks?.stop(), plain?.stop(), tls?.stop()]);
  });

  it('carries http and https (TLS verified through the tunnel) when given as the proxy URL', async () => {
    expect(await get({ proxy: socks.url }, `${plain.url}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect(await get({ proxy: socks.url, ca: [readFileSync(tls.caFile!)] }, `${tls.url}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect(socks.connections()).toEqual([plain.host, tls.host]);
    expect((await failure(get({ proxy: socks.url }, `${tls.url}/v2/`))).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
  });

  it('with username and password from the URL; wrong ones are refused without the password in the error', async () => {
    expect((await get({ proxy: authSocks.url }, `${plain.url}/v2/`)).status).toBe(200);
    const wrong = new URL(authSocks.url);
    wrong.password = 'bad-sock-pass';
    const err = await failure(get({ proxy: wrong.href }, `${plain.url}/v2/`));
    expect(err.message).not.toContain('bad-sock-pass');
    expect(err.message).not.toContain('sock-pass-42');
  });

  it('from the environment: HTTPS_PROXY=socks5://… (loopback still direct)', async () => {
    const env = { HTTP_PROXY: socks.url, HTTPS_PROXY: socks.url };
    const before = socks.connections().length;
    expect((await get({ env }, `${plain.url}/v2/`)).status).toBe(200);
    expect(socks.connections().length).toBe(before);
    expect(proxyResolver('environment', env)?.(new URL('https://registry.example.com/'))?.href).toBe(socks.url);
  });
});

describe('retry policy', () => {
  it('Retry-After in seconds or as an HTTP date; unreadable values are ignored', () => {
    expect(parseRetryAfterMs('3')).toBe(3000);
    expect(parseRetryAfterMs(' 0 ')).toBe(0);
    expect(parseRetryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfterMs('Thu, 01 Jan 1970 00:00:00 GMT')).toBe(0);
    expect(parseRetryAfterMs('soon')).toBeUndefined();
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
    expect(retryDelayMs(0, '2')).toBe(2000);
    expect(retryDelayMs(0, '86400')).toBe(60_000);
  });

  it('exponential backoff with jitter over the upper half, capped', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const cap = Math.min(10_000, 250 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = retryDelayMs(attempt);
        expect(d).toBeGreaterThanOrEqual(cap / 2);
        expect(d).toBeLessThanOrEqual(cap);
      }
    }
  });

  describe('which real failures are retryable', () => {
    let silent: Server;
    let tls: RunningRegistry;
    beforeAll(async () => {
      // Accepts connections and closes them without a word: a reset mid-exchange.
      silent = createServer((s) => s.destroy());
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      tls = await startRegistry({ tls: true });
    });
    afterAll(async () => {
      silent?.close();
      await tls?.stop();
    });

    it('refused and dropped connections and idle timeouts are; certificate failures and aborts are not', async () => {
      const closedPort = (silent.address() as { port: number }).port;
      const dropped = await failure(get({}, `http://127.0.0.1:${closedPort}/`));
      expect(isRetryableNetworkError(dropped)).toBe(true);
      const stopped = createServer();
      await new Promise<void>((r) => stopped.listen(0, '127.0.0.1', r));
      const freePort = (stopped.address() as { port: number }).port;
      await new Promise<void>((r) => stopped.close(() => r()));
      const refused = await failure(get({}, `http://127.0.0.1:${freePort}/`));
      expect([refused.code, isRetryableNetworkError(refused)]).toEqual(['ECONNREFUSED', true]);
      const cert = await failure(get({}, `${tls.url}/v2/`));
      expect(isRetryableNetworkError(cert)).toBe(false);
      const aborted = await failure(request(`${tls.url}/v2/`, { dispatcher: createDispatcher({ insecureSkipVerify: true }), signal: AbortSignal.abort() }));
      expect(isRetryableNetworkError(aborted)).toBe(false);
    });
  });
});

describe('the overall deadline', () => {
  it('aborts with an HttpError TIMEOUT naming the operation; the caller’s abort passes through; clear() disarms it', async () => {
    const d = deadline(20, 'pulling oci://example/app');
    await new Promise((r) => d.signal.addEventListener('abort', r));
    expect(d.expired()).toBe(true);
    expect(d.signal.reason).toBeInstanceOf(HttpError);
    expect((d.signal.reason as HttpError).message).toBe('pulling oci://example/app did not finish within 20 ms');

    const caller = new AbortController();
    const mine = deadline(60_000, 'x', caller.signal);
    caller.abort(new Error('user pressed ctrl-c'));
    expect([mine.signal.aborted, mine.expired(), (mine.signal.reason as Error).message]).toEqual([true, false, 'user pressed ctrl-c']);
    mine.clear();

    const cleared = deadline(10, 'y');
    cleared.clear();
    await new Promise((r) => setTimeout(r, 30));
    expect(cleared.signal.aborted).toBe(false);
    expect(deadline(undefined, 'z').signal.aborted).toBe(false);
  });
});
