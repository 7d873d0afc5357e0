import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { HttpError, RETRYABLE_STATUS, createDispatcher, deadline, isRetryableNetworkError, isTlsError, retryDelayMs, type Deadline } from '../../http/index.js';
import { LadingError } from '../../errors.js';
import { loadDockerConfig, type Credential, type CredentialStore } from '../credentials.js';
import { OciError, type OciErrorCode } from '../errors.js';
import type { RegistryOptions } from '../options.js';
import { isLoopbackRegistry } from '../reference.js';
import { readAll } from '../util.js';
import { parseChallenge, type Challenge } from './auth.js';

/** Request body: bytes (replayable), a factory for a fresh stream (replayable), or a one-shot stream. */
export type Body = Buffer | { stream: () => Readable; length?: number } | Readable;

/** A registry's answer: status, headers (lower-case names) and the body stream (undici's). */
export type HttpResponse = Dispatcher.ResponseData;
export type HttpHeaders = HttpResponse['headers'];

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

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_RETRIES = 4;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
/** How long a loopback registry gets to answer the plain-http probe before https is tried. */
const PROBE_TIMEOUT_MS = 5_000;
/** Headers that carry credentials: never sent to another origin than the registry's. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'cookie2', 'proxy-authorization'];
/**
 * Reads a response body into memory, failing beyond `max` bytes. Failures are OciErrors naming
 * `what` (a broken-off body is NETWORK, and retryable).
 */
export async function readBody(res: HttpResponse, max: number, what: string): Promise<Buffer> {
  const declared = Number(header(res.headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw new OciError('TOO_LARGE', `${what}: response of ${declared} bytes exceeds the limit of ${max} bytes`);
  }
  try {
    return await readAll(res.body, max, what);
  } catch (err) {
    throw networkError(err, what, 'the registry');
  }
}

/** Discards a response body so the connection can be reused. */
export function drain(res: HttpResponse): void {
  res.body.on('error', () => undefined);
  res.body.resume();
}

/** Whether a thrown error is worth retrying (connection reset, idle timeout). */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof OciError) return err.code === 'NETWORK' || (err.code === 'TIMEOUT' && !(err.cause instanceof HttpError));
  return isRetryableNetworkError(err);
}

/** An OciError for a failed exchange or body read: what was being done, and what went wrong. */
export function networkError(err: unknown, what: string, registry: string, idleTimeoutMs?: number): OciError {
  if (err instanceof OciError) {
    if (!err.message.startsWith(what)) return new OciError(err.code, `${what}: ${err.message}`, { cause: err, ...(err.status !== undefined ? { status: err.status } : {}) });
    return err;
  }
  if (err instanceof HttpError) {
    // The overall deadline (timeoutMs), or a transport set-up problem.
    const hint = err.code === 'TIMEOUT' ? ' (the limit on the whole operation: timeoutMs, --timeout)' : '';
    return new OciError(err.code === 'TIMEOUT' ? 'TIMEOUT' : err.code === 'TLS' ? 'TLS' : 'NETWORK', `${what}: ${err.message}${hint}`, { cause: err });
  }
  const e = err as { name?: string; code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  const message = e?.message ?? String(err);
  // A caller's AbortSignal.timeout() aborts with a TimeoutError: that is the caller's deadline, not a network fault.
  if (e?.name === 'TimeoutError') return new OciError('TIMEOUT', `${what}: the caller's time limit passed`, { cause: err });
  if (e?.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') return new OciError('ABORTED', `${what}: aborted`, { cause: err });
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    const limit = idleTimeoutMs !== undefined ? `${idleTimeoutMs} ms` : 'the idle timeout';
    return new OciError('TIMEOUT', `${what}: ${code === 'UND_ERR_CONNECT_TIMEOUT' ? 'could not connect to' : 'no response from'} ${registry} within ${limit}`, { cause: err });
  }
  if (isTlsError(err) || /certificate|self[- ]signed|tls|ssl/i.test(message)) {
    return new OciError('TLS', `${what}: TLS connection to ${registry} failed: ${message} (use --ca-file to trust its CA, or --insecure to skip verification)`, { cause: err });
  }
  const hint = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' ? ` (is the registry ${registry} running and reachable?)` : '';
  return new OciError('NETWORK', `${what}: ${message}${hint}`, { cause: err });
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

/** `headers` without the ones that carry credentials. */
function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!CREDENTIAL_HEADERS.includes(name.toLowerCase())) out[name] = value;
  return out;
}

/**
 * An HTTP client for one registry host, over the undici transport of src/http (connection pools
 * per origin, TLS, proxies): picks the scheme, authenticates (basic or bearer tokens cached per
 * scope), retries, follows redirects (credentials only to the registry's own origin), bounds the
 * whole of its work by `timeoutMs`, and maps failures to OciError.
 */
export class RegistryClient {
  readonly registry: string;
  private readonly opts: RegistryOptions;
  private readonly dispatcher: Dispatcher;
  private readonly credentials: CredentialStore;
  /** `scheme://host[:port]` once known. */
  private baseUrl: string | undefined;
  private pinging: Promise<void> | undefined;
  private challenge: Challenge | undefined;
  private credential: Credential | undefined | null = null;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly idleTimeoutMs: number;
  private readonly retries: number;
  private readonly retryBase: number;
  /** The overall deadline (timeoutMs) and the caller's signal, as one signal. */
  private readonly deadline: Deadline | undefined;

  constructor(registry: string, opts: RegistryOptions = {}) {
    this.registry = registry;
    this.opts = opts;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.retryBase = opts.retryBaseMs ?? 250;
    if (opts.certFile && !opts.keyFile) throw new OciError('TLS', `client certificate for ${registry} given without a key file`);
    let ca: Buffer | undefined;
    let cert: Buffer | undefined;
    let key: Buffer | undefined;
    try {
      if (opts.caFile) ca = readFileSync(opts.caFile);
      if (opts.certFile) cert = readFileSync(opts.certFile);
      if (opts.keyFile) key = readFileSync(opts.keyFile);
    } catch (err) {
      throw new OciError('TLS', `reading TLS files for ${registry}: ${(err as Error).message}`, { cause: err });
    }
    try {
      this.dispatcher = createDispatcher({
        ...(ca ? { ca: [ca], caMode: 'add' as const } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
        insecureSkipVerify: opts.insecure === true,
        proxy: opts.proxy ?? 'environment',
        env: opts.env ?? process.env,
        idleTimeoutMs: this.idleTimeoutMs,
        connectTimeoutMs: Math.min(this.idleTimeoutMs, 30_000),
      });
    } catch (err) {
      throw new OciError(err instanceof HttpError && err.code === 'TLS' ? 'TLS' : 'NETWORK', `setting up connections to ${registry}: ${(err as Error).message}`, { cause: err });
    }
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      this.deadline = deadline(opts.timeoutMs, `the registry operation on ${registry}`, opts.signal);
    }
    this.credentials = opts.credentials ?? loadDockerConfig(opts.env ? { env: opts.env } : undefined);
  }

  /** Closes the connections (idle ones at once, busy ones when their exchange ends). */
  close(): void {
    this.deadline?.clear();
    void this.dispatcher.close().catch(() => undefined);
  }

  private get userAgent(): string {
    return this.opts.userAgent ?? 'lading/0.1';
  }

  /** The request's signal combined with the client's (the caller's signal and the deadline). */
  private signalFor(signal: AbortSignal | undefined): AbortSignal | undefined {
    const own = this.deadline?.signal ?? this.opts.signal;
    const signals = [signal, own].filter((s): s is AbortSignal => s !== undefined);
    if (signals.length === 0) return undefined;
    if (signals.length === 1) return signals[0];
    return AbortSignal.any(signals);
  }

  /** One HTTP exchange, no retries. */
  private async send(url: URL, method: string, headers: Record<string, string>, body: Body | undefined, signal: AbortSignal | undefined, timeoutMs = this.idleTimeoutMs): Promise<HttpResponse> {
    const allHeaders: Record<string, string> = { 'user-agent': this.userAgent, ...headers };
    let payload: Buffer | Readable | undefined;
    if (body === undefined || Buffer.isBuffer(body) || body instanceof Readable) {
      payload = body;
    } else {
      payload = body.stream();
      if (body.length !== undefined) allHeaders['content-length'] = String(body.length);
    }
    const res = await undiciRequest(url, {
      dispatcher: this.dispatcher,
      method: method as Dispatcher.HttpMethod,
      headers: allHeaders,
      ...(payload !== undefined ? { body: payload } : {}),
      ...(signal ? { signal } : {}),
      headersTimeout: timeoutMs,
      bodyTimeout: this.idleTimeoutMs,
    });
    res.body.on('error', () => undefined);
    return res;
  }

  /**
   * Decides https or http for this registry. A loopback registry is asked over plain http first
   * (what such registries usually speak; plain http is always allowed there): anything that does
   * not answer as an http server (a TLS server answers 400 or drops the connection) goes on to
   * https; a refused connection fails at once. Others: https, then http only with `insecure`.
   */
  private async ping(signal: AbortSignal | undefined): Promise<void> {
    if (this.baseUrl) return;
    this.pinging ??= (async () => {
      const what = `contacting registry ${this.registry}`;
      const loopback = isLoopbackRegistry(this.registry);
      const accept = (base: string, res: HttpResponse) => {
        this.baseUrl = base;
        if (res.statusCode === 401) this.challenge = parseChallenge(header(res.headers, 'www-authenticate'));
        drain(res);
      };
      const probe = (base: string, timeoutMs?: number) => this.withRetries(() => this.send(new URL('/v2/', base), 'GET', {}, undefined, signal, timeoutMs), what, true, signal);
      if (loopback) {
        const base = `http://${this.registry}`;
        try {
          const res = await this.send(new URL('/v2/', base), 'GET', {}, undefined, signal, Math.min(this.idleTimeoutMs, PROBE_TIMEOUT_MS));
          if (res.statusCode !== 400) {
            if (!RETRYABLE_STATUS.has(res.statusCode)) return accept(base, res);
            // A plain http server that is busy or failing: asked again as any request is.
            drain(res);
            return accept(base, await probe(base));
          }
          drain(res);
        } catch (err) {
          const mapped = networkError(err, what, this.registry);
          if (mapped.code === 'ABORTED' || (mapped.code === 'TIMEOUT' && mapped.cause instanceof HttpError)) throw mapped;
          if (causeCode(err) === 'ECONNREFUSED') throw mapped;
        }
      }
      const schemes = loopback ? ['https'] : this.opts.insecure === true ? ['https', 'http'] : ['https'];
      let lastErr: unknown;
      for (const scheme of schemes) {
        const base = `${scheme}://${this.registry}`;
        try {
          return accept(base, await probe(base));
        } catch (err) {
          lastErr = err;
          const mapped = networkError(err, what, this.registry);
          // A certificate problem is final; a protocol mismatch means try plain http.
          if (mapped.code === 'TLS' && !this.opts.insecure && !/wrong version number|packet length|EPROTO|http request/i.test(`${(err as Error).message} ${causeCode(err) ?? ''}`)) throw mapped;
          if (mapped.code === 'ABORTED' || (mapped.code === 'TIMEOUT' && mapped.cause instanceof HttpError)) throw mapped;
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

  private async withRetries(attempt: () => Promise<HttpResponse>, what: string, replayable: boolean, signal: AbortSignal | undefined): Promise<HttpResponse> {
    for (let i = 0; ; i++) {
      let res: HttpResponse;
      try {
        res = await attempt();
      } catch (err) {
        if (replayable && i < this.retries && isRetryableError(err) && !signal?.aborted) {
          await this.wait(retryDelayMs(i, undefined, this.retryBase), what, signal);
          continue;
        }
        throw networkError(signal?.aborted ? (signal.reason ?? err) : err, what, this.registry, this.idleTimeoutMs);
      }
      if (replayable && i < this.retries && RETRYABLE_STATUS.has(res.statusCode)) {
        const delay = retryDelayMs(i, header(res.headers, 'retry-after'), this.retryBase);
        drain(res);
        await this.wait(delay, what, signal);
        continue;
      }
      return res;
    }
  }

  /** Waits between retries; an abort or the deadline ends the wait with its error. */
  private async wait(ms: number, what: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, undefined, signal ? { signal } : undefined);
    } catch {
      throw networkError(signal?.reason ?? new Error('aborted'), what, this.registry);
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
      throw new OciError('UNAUTHORIZED', `authenticating to ${this.registry}: invalid token realm`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (this.opts.insecure || isLoopbackRegistry(url.host)))) {
      throw new OciError('UNAUTHORIZED', `authenticating to ${this.registry}: refusing to send credentials to a non-https token realm ${url.origin}`);
    }
    const cred = await this.getCredential();
    if (cred?.registryToken) return cred.registryToken;
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    let method: 'GET' | 'POST' = 'GET';
    let body: Buffer | undefined;
    if (cred?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with identity tokens.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'lading', service: challenge.params['service'] ?? '', scope: scopes.join(' ') });
      body = Buffer.from(form.toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (cred?.username !== undefined && cred.password !== undefined) {
      headers['authorization'] = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    const what = `fetching a token for ${this.registry} from ${url.origin}${url.pathname}`;
    const res = await this.withRetries(() => this.send(url, method, headers, body, signal), what, true, signal);
    if (res.statusCode === 401 || res.statusCode === 403) {
      drain(res);
      throw new OciError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'DENIED', `authenticating to ${this.registry}: the token service refused ${cred ? 'the stored credentials' : 'anonymous access'} (${res.statusCode})${cred ? '' : '; run `lading login`'}`, { status: res.statusCode });
    }
    if (res.statusCode >= 300) {
      drain(res);
      throw new OciError('UNAUTHORIZED', `${what}: status ${res.statusCode}`, { status: res.statusCode });
    }
    let text: Buffer;
    try {
      text = await readBody(res, MAX_TOKEN_BYTES, what);
    } catch (err) {
      throw networkError(err, what, this.registry);
    }
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
   * Sends a request with authentication, retries (when the body can be replayed) and redirects.
   * Credentials (Authorization, cookies) go only to the registry's own origin, the scheme
   * included: never to another host or port after a redirect, and never over plain http when
   * the registry speaks https. Returns any response with a status below 400 and 404; throws
   * OciError for other failures.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const signal = this.signalFor(req.signal);
    if (this.baseUrl === undefined) {
      try {
        await this.ping(signal);
      } catch (err) {
        if (err instanceof OciError && !err.message.startsWith(req.what)) throw new OciError(err.code, `${req.what}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    const base = this.baseUrl as string;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || !(req.body instanceof Readable);
    let url = new URL(req.path, base);
    let authRetried = false;
    for (let redirects = 0; ; ) {
      const ownOrigin = url.origin === new URL(base).origin;
      const headers = ownOrigin ? { ...req.headers } : withoutCredentials(req.headers ?? {});
      if (ownOrigin) {
        const auth = await this.authorization(req.scopes, signal);
        if (auth) headers['authorization'] = auth;
      }
      const target = url;
      const res = await this.withRetries(() => this.send(target, req.method, headers, req.body, signal), req.what, replayable, signal);
      const status = res.statusCode;
      if (status === 401 && ownOrigin && !authRetried && replayable) {
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
      const location = header(res.headers, 'location');
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        drain(res);
        if (++redirects > MAX_REDIRECTS) throw new OciError('REGISTRY', `${req.what}: too many redirects`);
        try {
          url = new URL(location, url);
        } catch {
          throw new OciError('REGISTRY', `${req.what}: the registry redirected to an invalid URL`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OciError('REGISTRY', `${req.what}: the registry redirected to an unsupported ${url.protocol} URL`);
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
    const status = res.statusCode;
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
    const detail = [code, message].filter(Boolean).join(': ') || res.statusText || '';
    let errCode: OciErrorCode = 'REGISTRY';
    if (status === 403) errCode = 'DENIED';
    else if (status === 404) errCode = 'NOT_FOUND';
    else if (status === 413) errCode = 'TOO_LARGE';
    else if (status === 415 || (code === 'MANIFEST_INVALID' && /media ?type/i.test(message ?? ''))) errCode = 'UNSUPPORTED_MEDIA_TYPE';
    else if (code === 'DIGEST_INVALID') errCode = 'DIGEST_MISMATCH';
    else if (code === 'MANIFEST_INVALID' || code === 'MANIFEST_BLOB_UNKNOWN') errCode = 'INVALID_MANIFEST';
    return new OciError(errCode, `${what}: ${status} ${detail}`.trimEnd(), { status });
  }

  /** The absolute URL of a registry path (after the scheme is known). */
  async url(path: string, signal?: AbortSignal): Promise<URL> {
    await this.ping(this.signalFor(signal));
    return new URL(path, this.baseUrl);
  }

  /** The client's own signal (the caller's and the deadline), for work beside its requests. */
  get signal(): AbortSignal | undefined {
    return this.deadline?.signal ?? this.opts.signal;
  }
}

/** The code of the first error in a cause chain that is not lading's own (an errno or undici code). */
function causeCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (!(e instanceof LadingError) && typeof code === 'string') return code;
  }
  return undefined;
}

export function header(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
