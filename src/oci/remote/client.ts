import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { loadTimersPromises } from '../../builtins.js';
import { loadDockerConfig, type Credential, type CredentialStore } from '../credentials.js';
import { OciError, type OciErrorCode } from '../errors.js';
import type { RegistryOptions } from '../options.js';
import { isLoopbackRegistry } from '../reference.js';
import { parseChallenge, type Challenge } from './auth.js';
import { HttpClient, type HttpHeaders, type HttpResponse, type HttpTlsOptions } from './http1.js';
import { proxyFromEnv, type ProxyResolver } from './proxy.js';

/** Waits `ms` (retries' back-off); node:timers/promises is loaded when a retry first waits. */
const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> => loadTimersPromises().setTimeout(ms, undefined, signal ? { signal } : undefined);

/** Request body: bytes (replayable), a factory for a fresh stream (replayable), or a one-shot stream. */
export type Body = Buffer | { stream: () => Readable; length?: number } | Readable;

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path beginning with /v2/, or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Token scopes this request needs, e.g. `repository:app:pull`. */
  scopes: string[];
  signal?: AbortSignal | undefined;
  /** What is being done, for error messages: `pushing blob sha256:... to oci://host/app`. */
  what: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 4;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
/** How long a loopback registry gets to answer the plain-http probe before https is tried. */
const PROBE_TIMEOUT_MS = 5_000;
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_ERRNO = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);
const TLS_ERRNO = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER|ERR_TLS|HOSTNAME_MISMATCH/;

/** Reads a response body into memory, failing beyond `max` bytes. */
export function readBody(res: HttpResponse, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    return Promise.reject(new OciError('TOO_LARGE', `${what}: response of ${declared} bytes exceeds the limit of ${max} bytes`));
  }
  // Events rather than async iteration: a body is usually one or two chunks, and the iterator
  // machinery costs more than reading them.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    res.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > max) {
        res.destroy();
        reject(new OciError('TOO_LARGE', `${what}: response exceeds the limit of ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  });
}

/** Discards a response body so the connection can be reused. */
export function drain(res: HttpResponse): void {
  res.resume();
  res.on('error', () => undefined);
}

/** Whether a thrown error is worth retrying (connection reset, timeout). */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof OciError) return err.code === 'NETWORK' || err.code === 'TIMEOUT';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && RETRY_ERRNO.has(code)) return true;
  return /socket hang up|aborted/i.test((err as Error | undefined)?.message ?? '');
}

function networkError(err: unknown, what: string, registry: string): OciError {
  if (err instanceof OciError) {
    if (err.code === 'TIMEOUT' && !err.message.startsWith(what)) return new OciError('TIMEOUT', `${what}: ${err.message}`, { cause: err });
    return err;
  }
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (e?.name === 'AbortError' || code === 'ABORT_ERR') return new OciError('ABORTED', `${what}: aborted`, { cause: err });
  if (TLS_ERRNO.test(code) || /certificate|self[- ]signed|tls|ssl/i.test(e?.message ?? '')) {
    return new OciError('TLS', `${what}: TLS connection to ${registry} failed: ${e.message} (use --ca-file to trust its CA, or --insecure to skip verification)`, { cause: err });
  }
  const hint = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' ? ` (is the registry ${registry} running and reachable?)` : '';
  return new OciError('NETWORK', `${what}: ${e?.message ?? String(err)}${hint}`, { cause: err });
}

/** Parses Retry-After (seconds or HTTP date) into milliseconds. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function backoffMs(attempt: number, base: number): number {
  const cap = Math.min(10_000, base * 2 ** attempt);
  return cap / 2 + Math.random() * (cap / 2);
}

function errorCodeFromBody(body: Buffer): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const first = parsed.errors?.[0];
    if (first) return { ...(first.code ? { code: first.code } : {}), ...(first.message ? { message: first.message } : {}) };
  } catch {
    // not a distribution error body
  }
  return {};
}

/**
 * An HTTP client for one registry host: picks the scheme, authenticates (basic or bearer tokens
 * cached per scope), retries, follows redirects, and maps failures to OciError.
 */
export class RegistryClient {
  readonly registry: string;
  private readonly opts: RegistryOptions;
  private readonly http: HttpClient;
  private readonly credentials: CredentialStore;
  private baseUrl: string | undefined;
  /** baseUrl's host (and port), parsed once: see baseHost(). */
  private parsedBase: { href: string; host: string } | undefined;
  private pinging: Promise<void> | undefined;
  /** A loopback registry did not answer plain http as an http server (see loopbackFirstRequest). */
  private plainHttpRefused = false;
  /** Nothing listens on the loopback registry's port: https would be refused as well. */
  private connectionRefused: unknown;
  private challenge: Challenge | undefined;
  private credential: Credential | undefined | null = null;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  /** Connections to open ahead once the scheme is known (see preconnect). */
  private connectionsWanted = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBase: number;

  constructor(registry: string, opts: RegistryOptions = {}) {
    this.registry = registry;
    this.opts = opts;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.retryBase = opts.retryBaseMs ?? 250;
    const tlsOpts: HttpTlsOptions = { rejectUnauthorized: !opts.insecure };
    try {
      if (opts.caFile) tlsOpts.ca = readFileSync(opts.caFile);
      if (opts.certFile) tlsOpts.cert = readFileSync(opts.certFile);
      if (opts.keyFile) tlsOpts.key = readFileSync(opts.keyFile);
    } catch (err) {
      throw new OciError('TLS', `reading TLS files for ${registry}: ${(err as Error).message}`, { cause: err });
    }
    if (opts.certFile && !opts.keyFile) throw new OciError('TLS', `client certificate for ${registry} given without a key file`);
    let proxy: ProxyResolver | undefined;
    try {
      proxy = proxyFromEnv(opts.env ?? process.env);
    } catch (err) {
      throw new OciError('NETWORK', `reading the proxy settings for ${registry}: ${(err as Error).message}`, { cause: err });
    }
    this.http = new HttpClient({ maxSocketsPerOrigin: 16, tls: tlsOpts, ...(proxy ? { proxy } : {}) });
    this.credentials = opts.credentials ?? loadDockerConfig(opts.env ? { env: opts.env } : undefined);
  }

  /** The host (and port) of baseUrl, which must be known. */
  private baseHost(): string {
    const href = this.baseUrl as string;
    if (this.parsedBase?.href !== href) this.parsedBase = { href, host: new URL(href).host };
    return this.parsedBase.host;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.http.close();
  }

  private get userAgent(): string {
    return this.opts.userAgent ?? 'lading/0.1';
  }

  private signalFor(signal: AbortSignal | undefined): AbortSignal | undefined {
    const signals = [signal, this.opts.signal].filter((s): s is AbortSignal => s !== undefined);
    if (signals.length === 0) return undefined;
    if (signals.length === 1) return signals[0];
    return AbortSignal.any(signals);
  }

  /** One HTTP exchange, no retries. */
  private async send(url: URL, method: string, headers: Record<string, string>, body: Body | undefined, signal: AbortSignal | undefined, timeoutMs = this.timeoutMs): Promise<HttpResponse> {
    const allHeaders: Record<string, string | number> = { 'User-Agent': this.userAgent, ...headers };
    let payload: Buffer | Readable | undefined;
    if (body === undefined || Buffer.isBuffer(body) || body instanceof Readable) {
      payload = body;
    } else {
      payload = body.stream();
      if (body.length !== undefined) allHeaders['Content-Length'] = body.length;
    }
    const res = await this.http.request(url, {
      method,
      headers: allHeaders,
      ...(payload !== undefined ? { body: payload } : {}),
      ...(signal ? { signal } : {}),
      // The connection's idle limit keeps applying while the body is read.
      timeoutMs,
      timeoutError: () => new OciError('TIMEOUT', `no response from ${url.host} within ${timeoutMs} ms`),
    });
    res.on('error', () => undefined);
    return res;
  }

  /**
   * Decides https or http for this registry: https first, http only when allowed. A loopback
   * registry is asked over plain http first (one request, no retries): that is what such
   * registries usually speak, and it spares a short CLI run the TLS set-up (loading the CA store
   * alone takes ~20 ms). Anything that does not answer as a plain http server there (a TLS
   * server's 400, a reset connection) goes on to the usual https-then-http order; a refused
   * connection fails at once (nothing listens on the port, whatever the scheme).
   */
  private async ping(signal: AbortSignal | undefined): Promise<void> {
    if (this.baseUrl) return;
    this.pinging ??= (async () => {
      const what = `contacting registry ${this.registry}`;
      const loopback = isLoopbackRegistry(this.registry);
      const allowHttp = this.opts.insecure === true || loopback;
      const accept = (base: string, res: HttpResponse) => {
        this.baseUrl = base;
        this.openAhead(base);
        if (res.statusCode === 401) this.challenge = parseChallenge(header(res.headers, 'www-authenticate'));
        drain(res);
      };
      if (loopback && this.connectionRefused !== undefined) {
        const refused = this.connectionRefused;
        this.connectionRefused = undefined;
        throw networkError(refused, what, this.registry);
      }
      if (loopback && !this.plainHttpRefused) {
        const base = `http://${this.registry}`;
        const probe = await this.probePlainHttp(base, signal);
        if (this.connectionRefused !== undefined) {
          const refused = this.connectionRefused;
          this.connectionRefused = undefined;
          throw networkError(refused, what, this.registry);
        }
        if (probe && !RETRY_STATUS.has(probe.statusCode ?? 0)) return accept(base, probe);
        if (probe) {
          // A plain http server that is busy or failing: retry it as any request is retried.
          drain(probe);
          return accept(base, await this.withRetries(() => this.send(new URL('/v2/', base), 'GET', {}, undefined, signal), what, true, signal));
        }
      }
      const schemes = allowHttp ? ['https', 'http'] : ['https'];
      let lastErr: unknown;
      for (const scheme of schemes) {
        const base = `${scheme}://${this.registry}`;
        try {
          return accept(base, await this.withRetries(() => this.send(new URL('/v2/', base), 'GET', {}, undefined, signal), what, true, signal));
        } catch (err) {
          lastErr = err;
          const mapped = networkError(err, what, this.registry);
          // A certificate problem is final; a protocol mismatch means try plain http.
          if (mapped.code === 'TLS' && !this.opts.insecure && !/wrong version number|packet length|EPROTO|http request/i.test(String((err as Error).message) + ((err as NodeJS.ErrnoException).code ?? ''))) throw mapped;
          if (mapped.code === 'ABORTED') throw mapped;
        }
      }
      throw networkError(lastErr, what, this.registry);
    })();
    try {
      await this.pinging;
    } catch (err) {
      this.pinging = undefined;
      throw err;
    }
  }

  /**
   * The first request to a loopback registry, a GET or HEAD, goes straight to plain http and
   * stands in for the `/v2/` probe (one round trip less for a short CLI run). An http server's
   * answer settles the scheme: a 401 gives the challenge (sent again by request() with
   * credentials, as after a ping), a retryable status is sent again by request()'s retries, any
   * other answer is request()'s first response. Anything else (a TLS server's 400, a dropped
   * connection, silence) leaves it to ping(), without a second plain-http probe.
   */
  private async loopbackFirstRequest(req: RegistryRequest, signal: AbortSignal | undefined): Promise<HttpResponse | undefined> {
    if (!isLoopbackRegistry(this.registry) || this.plainHttpRefused || (req.method !== 'GET' && req.method !== 'HEAD') || req.body !== undefined || !req.path.startsWith('/v2/')) return undefined;
    const base = `http://${this.registry}`;
    let res: HttpResponse;
    try {
      const sent = this.send(new URL(req.path, base), req.method, { ...req.headers }, undefined, signal, Math.min(this.timeoutMs, PROBE_TIMEOUT_MS));
      // Plain http is what a loopback registry most likely speaks (connections there are cheap).
      this.openAhead(base);
      res = await sent;
    } catch (err) {
      const mapped = networkError(err, req.what, this.registry);
      if (mapped.code === 'ABORTED') throw mapped;
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.connectionRefused = err;
      else this.plainHttpRefused = true;
      return undefined;
    }
    const status = res.statusCode ?? 0;
    if (status === 400) {
      drain(res);
      this.plainHttpRefused = true;
      return undefined;
    }
    this.baseUrl ??= base;
    // The body is read under the usual time limit, not the probe's.
    res.setTimeout(this.timeoutMs);
    if (status === 401 || RETRY_STATUS.has(status)) {
      if (status === 401) this.challenge = parseChallenge(header(res.headers, 'www-authenticate'));
      drain(res);
      return undefined;
    }
    return res;
  }

  /**
   * One plain-http `GET /v2/` to a loopback registry. Returns the response when an http server
   * answered, undefined when it looks like something else (a TLS server answers an http request
   * with 400 or drops the connection; one that stays silent is given up after a few seconds).
   * Only an abort is thrown.
   */
  private async probePlainHttp(base: string, signal: AbortSignal | undefined): Promise<HttpResponse | undefined> {
    let res: HttpResponse;
    try {
      res = await this.send(new URL('/v2/', base), 'GET', {}, undefined, signal, Math.min(this.timeoutMs, PROBE_TIMEOUT_MS));
    } catch (err) {
      const mapped = networkError(err, `contacting registry ${this.registry}`, this.registry);
      if (mapped.code === 'ABORTED') throw mapped;
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.connectionRefused = err;
      return undefined;
    }
    if (res.statusCode === 400) {
      drain(res);
      return undefined;
    }
    return res;
  }

  private async withRetries(
    attempt: () => Promise<HttpResponse>,
    what: string,
    replayable: boolean,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    for (let i = 0; ; i++) {
      let res: HttpResponse;
      try {
        res = await attempt();
      } catch (err) {
        if (replayable && i < this.retries && isRetryableError(err) && !signal?.aborted) {
          await sleep(backoffMs(i, this.retryBase), signal).catch(() => undefined);
          continue;
        }
        throw networkError(err, what, this.registry);
      }
      if (replayable && i < this.retries && RETRY_STATUS.has(res.statusCode ?? 0)) {
        const after = retryAfterMs(header(res.headers, 'retry-after'));
        drain(res);
        const wait = after !== undefined ? Math.min(after, 60_000) : backoffMs(i, this.retryBase);
        await sleep(wait, signal).catch(() => undefined);
        if (signal?.aborted) throw new OciError('ABORTED', `${what}: aborted`, { cause: signal.reason });
        continue;
      }
      return res;
    }
  }

  private async getCredential(): Promise<Credential | undefined> {
    if (this.credential === null) this.credential = await this.credentials.get(this.registry);
    return this.credential;
  }

  private async fetchToken(challenge: Challenge, scopes: string[], signal: AbortSignal | undefined): Promise<string> {
    const key = scopes.slice().sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    const realm = challenge.params['realm'];
    if (!realm) throw new OciError('UNAUTHORIZED', `authenticating to ${this.registry}: bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new OciError('UNAUTHORIZED', `authenticating to ${this.registry}: invalid token realm "${realm}"`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (this.opts.insecure || isLoopbackRegistry(url.host)))) {
      throw new OciError('UNAUTHORIZED', `authenticating to ${this.registry}: refusing to send credentials to a non-https token realm ${url.origin}`);
    }
    const cred = await this.getCredential();
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    let method: 'GET' | 'POST' = 'GET';
    let body: Buffer | undefined;
    if (cred?.registryToken) return cred.registryToken;
    if (cred?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with identity tokens.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'lading', service: challenge.params['service'] ?? '', scope: scopes.join(' ') });
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (cred?.username !== undefined && cred.password !== undefined) {
      headers['Authorization'] = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    const what = `fetching a token for ${this.registry} from ${url.origin}${url.pathname}`;
    const res = await this.withRetries(() => this.send(url, method, headers, body, signal), what, true, signal);
    if (res.statusCode === 401 || res.statusCode === 403) {
      drain(res);
      throw new OciError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'DENIED', `authenticating to ${this.registry}: the token service refused ${cred ? 'the stored credentials' : 'anonymous access'} (${res.statusCode})${cred ? '' : '; run `lading login`'}`, { status: res.statusCode });
    }
    const text = await readBody(res, MAX_TOKEN_BYTES, what);
    if ((res.statusCode ?? 0) >= 300) throw new OciError('UNAUTHORIZED', `${what}: status ${res.statusCode}`, { status: res.statusCode ?? 0 });
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(text.toString('utf8')) as typeof parsed;
    } catch {
      throw new OciError('UNAUTHORIZED', `${what}: the response is not JSON`);
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new OciError('UNAUTHORIZED', `${what}: the response has no token`);
    const ttl = Math.max(60, Number(parsed.expires_in ?? 60));
    this.tokens.set(key, { token, expires: Date.now() + (ttl - 10) * 1000 });
    return token;
  }

  private async authorization(scopes: string[], signal: AbortSignal | undefined): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const cred = await this.getCredential();
      if (cred?.username === undefined || cred.password === undefined) return undefined;
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    if (ch.scheme === 'bearer') return `Bearer ${await this.fetchToken(ch, scopes, signal)}`;
    return undefined;
  }

  /**
   * Asks for `count` connections to the registry to be open, for as many requests that will go
   * out together soon (a caller's next round after the one in flight): they are opened now if the
   * scheme is known, else alongside the first request. The registry sees only TCP (and TLS)
   * connections, no requests.
   */
  preconnect(count: number): void {
    this.connectionsWanted = Math.max(this.connectionsWanted, count);
    if (this.baseUrl !== undefined) this.http.preconnect(new URL(this.baseUrl), count);
  }

  /**
   * Opens the connections preconnect asked for, once the request being started is written (the
   * check phase comes after the I/O of the loop's turn): their set-up does not delay it.
   */
  private openAhead(base: string): void {
    if (this.connectionsWanted > 0) setImmediate(() => this.http.preconnect(new URL(base), this.connectionsWanted));
  }

  /**
   * Sends a request with authentication, retries (when the body can be replayed) and redirects.
   * Returns any response with a status below 400 and 404; throws OciError for other failures.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const signal = this.signalFor(req.signal);
    let early = this.baseUrl === undefined ? await this.loopbackFirstRequest(req, signal) : undefined;
    if (this.baseUrl === undefined) {
      try {
        await this.ping(signal);
      } catch (err) {
        if (err instanceof OciError && !err.message.startsWith(req.what)) throw new OciError(err.code, `${req.what}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || !(req.body instanceof Readable);
    // Parsed when a request is sent or a redirect followed: the loopback probe's answer needs neither.
    let url: URL | undefined;
    let authRetried = false;
    for (let redirects = 0; ; ) {
      let res: HttpResponse;
      let sameHost = true;
      if (early) {
        res = early;
        early = undefined;
      } else {
        url ??= new URL(req.path, this.baseUrl);
        sameHost = url.host === this.baseHost();
        const headers: Record<string, string> = { ...req.headers };
        if (sameHost) {
          const auth = await this.authorization(req.scopes, signal);
          if (auth) headers['Authorization'] = auth;
        }
        const target = url;
        res = await this.withRetries(() => this.send(target, req.method, headers, req.body, signal), req.what, replayable, signal);
      }
      const status = res.statusCode ?? 0;
      if (status === 401 && sameHost && !authRetried && replayable) {
        const ch = parseChallenge(header(res.headers, 'www-authenticate'));
        drain(res);
        authRetried = true;
        if (ch) {
          const hadChallenge = this.challenge;
          this.challenge = ch;
          if (ch.scheme === 'bearer') {
            // Expired or insufficient token: drop it and ask again (with the scope the registry names).
            this.tokens.delete(req.scopes.slice().sort().join(' '));
            if (ch.params['scope'] && !req.scopes.includes(ch.params['scope'])) req.scopes = [...req.scopes, ch.params['scope']];
            continue;
          }
          if (ch.scheme === 'basic' && !hadChallenge) continue;
        }
        throw await this.unauthorized(req.what);
      }
      if ([301, 302, 303, 307, 308].includes(status) && header(res.headers, 'location')) {
        drain(res);
        if (++redirects > MAX_REDIRECTS) throw new OciError('REGISTRY', `${req.what}: too many redirects`);
        url = new URL(header(res.headers, 'location') as string, url ?? new URL(req.path, this.baseUrl));
        continue;
      }
      if (status >= 400 && status !== 404) throw await this.failure(res, req.what);
      return res;
    }
  }

  private async unauthorized(what: string): Promise<OciError> {
    const cred = await this.getCredential().catch(() => undefined);
    const detail = cred
      ? `the registry ${this.registry} rejected the credentials${cred.username ? ` for user "${cred.username}"` : ''}`
      : `the registry ${this.registry} requires authentication; run \`lading login ${this.registry}\``;
    return new OciError('UNAUTHORIZED', `${what}: 401 Unauthorized: ${detail}`, { status: 401 });
  }

  /** Turns an error response into an OciError (reads a bounded part of the body). */
  async failure(res: HttpResponse, what: string): Promise<OciError> {
    const status = res.statusCode ?? 0;
    if (status === 401) {
      drain(res);
      return this.unauthorized(what);
    }
    let body: Buffer = Buffer.alloc(0);
    try {
      body = await readBody(res, MAX_ERROR_BYTES, what);
    } catch {
      // keep the status only
    }
    const { code, message } = errorCodeFromBody(body);
    const detail = [code, message].filter(Boolean).join(': ') || res.statusMessage || '';
    let errCode: OciErrorCode = 'REGISTRY';
    if (status === 403) errCode = 'DENIED';
    else if (status === 404) errCode = 'NOT_FOUND';
    else if (status === 413) errCode = 'TOO_LARGE';
    else if (status === 415 || code === 'MANIFEST_INVALID' && /media ?type/i.test(message ?? '')) errCode = 'UNSUPPORTED_MEDIA_TYPE';
    else if (code === 'DIGEST_INVALID') errCode = 'DIGEST_MISMATCH';
    else if (code === 'MANIFEST_INVALID' || code === 'MANIFEST_BLOB_UNKNOWN') errCode = 'INVALID_MANIFEST';
    return new OciError(errCode, `${what}: ${status} ${detail}`.trimEnd(), { status });
  }

  /** The absolute URL of a registry path (after the scheme is known). */
  async url(path: string, signal?: AbortSignal): Promise<URL> {
    await this.ping(this.signalFor(signal));
    return new URL(path, this.baseUrl);
  }
}

export function header(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
