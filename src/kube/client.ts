// A raw-JSON client for the Kubernetes API server on lading's one HTTP transport (src/http,
// undici): the kubeconfig is read by our own loader (kubeconfig.ts, kubectl's rules), requests
// go through a dispatcher with the cluster's TLS settings and proxy, and objects travel as the
// JSON the user wrote — no serializer drops unknown fields — with no client-side throttling.
// Credentials are looked up for every request: a token file is re-read when it changes
// (projected service-account tokens rotate), an exec plugin's answer is kept until it expires or
// the API server answers 401, and a client certificate from a plugin gets a new dispatcher.
import { stat, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { createDispatcher, isRetryableNetworkError, isTlsError, retryDelayMs } from '../http/index.js';
import { KubeError, type ApiStatusDetails, type KubeErrorCode } from './errors.js';
import { ExecCredentialSource, type ExecCredential } from './exec-credentials.js';
import { resolveKubeconfig, type KubeconfigOptions, type ResolvedKubeconfig } from './kubeconfig.js';
import { isRecord, sleep } from './util.js';
import { watch, type WatchEvent, type WatchOptions } from './watch.js';

export type { KubeconfigOptions } from './kubeconfig.js';

export interface ClientOptions extends KubeconfigOptions {
  /** Time allowed for the answer to one request, and between two chunks of its body (default 60 s). */
  timeoutMs?: number;
  /** Largest response body accepted (default 64 MiB). */
  maxResponseBytes?: number;
  userAgent?: string;
  /** Where exec credential plugins' standard error goes (default: this process's). */
  execStderr?: { write(data: string | Uint8Array): unknown };
  /** Whether standard input is a terminal, for exec plugins' interactiveMode (default: isatty(0)). */
  stdinIsTerminal?: boolean;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with its query string already encoded, or use `query`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** What is being done, for error messages: `applying Deployment/ns/name`. */
  what?: string;
}

/** A response whose body has not been read (see KubeClient.openStream). */
export interface StreamResponse {
  status: number;
  body: Readable;
}

const defaultMaxResponseBytes = 64 * 1024 * 1024;
const defaultTimeoutMs = 60_000;
/** Sends of one request after the first, for 429s, Retry-After 5xx and dropped connections. */
const maxRetries = 4;

/** The credential of one request: its headers and, from an exec plugin, a client certificate. */
interface AuthState {
  headers: Record<string, string>;
  cert?: string;
  key?: string;
  /** What the provider needs back when the API server refuses it. */
  exec?: ExecCredential;
  token?: string;
}

/** Hands out the current credential of the kubeconfig user for each request. */
class Credentials {
  private fileToken: { path: string; mtimeMs: number; size: number; ino: number; token: string } | undefined;
  private readonly exec: ExecCredentialSource | undefined;

  constructor(
    private readonly config: ResolvedKubeconfig,
    opts: ClientOptions,
  ) {
    if (config.auth.kind === 'exec') {
      this.exec = new ExecCredentialSource(config.auth.exec, config, {
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.execStderr ? { stderr: opts.execStderr } : {}),
        ...(opts.stdinIsTerminal !== undefined ? { stdinIsTerminal: opts.stdinIsTerminal } : {}),
      });
    }
  }

  async current(): Promise<AuthState> {
    const auth = this.config.auth;
    switch (auth.kind) {
      case 'none':
        return { headers: {} };
      case 'token':
        return bearer(auth.token);
      case 'basic':
        return { headers: { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } };
      case 'tokenFile':
        return bearer(await this.readTokenFile(auth.path, false));
      case 'exec': {
        const cred = await (this.exec as ExecCredentialSource).get();
        return execState(cred);
      }
    }
  }

  /** The API server answered 401 to `used`: a credential worth one more try, or undefined. */
  async rejected(used: AuthState): Promise<AuthState | undefined> {
    const auth = this.config.auth;
    if (auth.kind === 'tokenFile') {
      const token = await this.readTokenFile(auth.path, true);
      return token === used.token ? undefined : bearer(token);
    }
    if (auth.kind === 'exec' && used.exec) return execState(await (this.exec as ExecCredentialSource).rejected(used.exec));
    return undefined;
  }

  /** The token file's content, read again when the file changed (or always with `force`). */
  private async readTokenFile(path: string, force: boolean): Promise<string> {
    const where = `${this.config.source}${this.config.user ? `: user "${this.config.user}"` : ''}: tokenFile ${path}`;
    try {
      const s = await stat(path);
      const known = this.fileToken;
      if (!force && known && known.path === path && known.mtimeMs === s.mtimeMs && known.size === s.size && known.ino === s.ino) return known.token;
      const token = (await readFile(path, 'utf8')).trim();
      if (token === '') throw new KubeError('KUBECONFIG', `${where}: the file is empty`);
      this.fileToken = { path, mtimeMs: s.mtimeMs, size: s.size, ino: s.ino, token };
      return token;
    } catch (err) {
      if (err instanceof KubeError) throw err;
      throw new KubeError('KUBECONFIG', `${where}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function bearer(token: string): AuthState {
  return { headers: { Authorization: `Bearer ${token}` }, token };
}

function execState(cred: ExecCredential): AuthState {
  return {
    headers: cred.token !== undefined ? { Authorization: `Bearer ${cred.token}` } : {},
    ...(cred.clientCertificate !== undefined && cred.clientKey !== undefined ? { cert: cred.clientCertificate, key: cred.clientKey } : {}),
    exec: cred,
  };
}

/** Who a client acts as (Kubernetes user impersonation). */
export interface Impersonation {
  user: string;
  groups?: readonly string[];
  uid?: string;
  extra?: Readonly<Record<string, readonly string[]>>;
}

function impersonationHeaders(imp: Impersonation | undefined): Record<string, string | string[]> {
  if (!imp) return {};
  const headers: Record<string, string | string[]> = { 'Impersonate-User': imp.user };
  if (imp.uid !== undefined) headers['Impersonate-Uid'] = imp.uid;
  if (imp.groups && imp.groups.length > 0) headers['Impersonate-Group'] = [...imp.groups];
  for (const [k, v] of Object.entries(imp.extra ?? {})) headers[`Impersonate-Extra-${encodeURIComponent(k)}`] = [...v];
  return headers;
}

function errorCodeFor(status: number, details: ApiStatusDetails): KubeErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 413) return 'TOO_LARGE';
  if (status === 422 || status === 400) {
    const immutable = (details.causes ?? []).some((c) => /immutable/i.test(c.message ?? ''));
    return immutable ? 'IMMUTABLE_FIELD' : 'INVALID';
  }
  return 'API';
}

/** Reads a body up to `limit` bytes. */
async function readLimited(body: Readable, limit: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const c = chunk as Buffer;
    size += c.length;
    if (size > limit) {
      body.destroy();
      throw new KubeError('TOO_LARGE', `${what}: response larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Exchange {
  status: number;
  retryAfter: string | undefined;
  /** The body, read, unless `keepBody` asked for it unread on success. */
  text?: string;
  body?: Readable;
}

/**
 * What clients made from one configuration share: the credentials and the dispatcher (its pools
 * of kept-alive connections), replaced when an exec plugin hands out a new client certificate.
 */
class Connection {
  dispatcher: Dispatcher;
  /** The exec plugin certificate the dispatcher was made with (undefined: the kubeconfig's own, if any). */
  private dispatcherCert: string | undefined;
  readonly credentials: Credentials;

  constructor(
    private readonly config: ResolvedKubeconfig,
    private readonly opts: ClientOptions,
    private readonly timeoutMs: number,
  ) {
    this.credentials = new Credentials(config, opts);
    this.dispatcher = this.makeDispatcher(undefined);
  }

  private makeDispatcher(exec: { cert: string; key: string } | undefined): Dispatcher {
    const c = this.config;
    const cert = exec?.cert ?? c.cert;
    const key = exec?.key ?? c.key;
    try {
      return createDispatcher({
        ...(c.ca !== undefined ? { ca: [c.ca], caMode: 'replace' as const } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        insecureSkipVerify: c.insecureSkipTlsVerify,
        ...(c.tlsServerName !== undefined ? { servername: c.tlsServerName } : {}),
        // proxy-url is used for every request (loopback included), as client-go does; otherwise
        // HTTPS_PROXY/NO_PROXY as Go reads them.
        proxy: c.proxyUrl ?? 'environment',
        env: this.opts.env ?? process.env,
        idleTimeoutMs: this.timeoutMs,
      });
    } catch (err) {
      throw new KubeError('KUBECONFIG', `${c.source}: ${c.cluster ? `cluster "${c.cluster}", ` : ''}${c.user ? `user "${c.user}"` : 'connection settings'}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The dispatcher for a credential: a new one when an exec plugin's client certificate changed. */
  dispatcherFor(auth: AuthState): Dispatcher {
    if (auth.cert !== this.dispatcherCert && auth.cert !== undefined && auth.key !== undefined) {
      const old = this.dispatcher;
      this.dispatcher = this.makeDispatcher({ cert: auth.cert, key: auth.key });
      this.dispatcherCert = auth.cert;
      // Requests in flight finish on the old connections; new ones use the new certificate.
      void old.close().catch(() => undefined);
    }
    return this.dispatcher;
  }
}

export class KubeClient {
  /** Default namespace for namespaced objects without one. */
  readonly namespace: string;
  /** The kubeconfig context in use ('' in-cluster). */
  readonly context: string;
  /** The API server URL, without a trailing slash. */
  readonly server: string;
  /** Where the configuration came from: `kubeconfig FILES` or `in-cluster service account DIR`. */
  readonly source: string;
  /** Who this client acts as, when it impersonates (kubeconfig `as`, or impersonate()). */
  readonly impersonating: Impersonation | undefined;
  /** The client impersonate() was called on (undefined for a client made by connect()). */
  readonly impersonatedFrom: KubeClient | undefined;
  private readonly connection: Connection;
  /** Whether close() frees the connection (false for clients made by impersonate()). */
  private readonly ownsConnection: boolean;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;
  private readonly basePath: string;
  private readonly extraHeaders: Record<string, string | string[]>;

  private constructor(
    private readonly config: ResolvedKubeconfig,
    private readonly opts: ClientOptions,
    shared?: { connection: Connection; impersonate: Impersonation; from: KubeClient },
  ) {
    this.namespace = config.namespace;
    this.context = config.context;
    this.server = config.server.href.replace(/\/$/, '');
    this.source = config.source;
    this.basePath = config.server.pathname.replace(/\/$/, '');
    this.timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
    this.maxResponseBytes = opts.maxResponseBytes ?? defaultMaxResponseBytes;
    this.userAgent = opts.userAgent ?? 'lading';
    this.impersonating = shared ? shared.impersonate : config.impersonate;
    this.extraHeaders = impersonationHeaders(this.impersonating);
    this.connection = shared?.connection ?? new Connection(config, opts, this.timeoutMs);
    this.ownsConnection = shared === undefined;
    this.impersonatedFrom = shared?.from;
  }

  /** Connects with the kubeconfig found as kubectl would find it (see kubeconfig.ts). Nothing is sent yet. */
  static async connect(opts: ClientOptions = {}): Promise<KubeClient> {
    return new KubeClient(resolveKubeconfig(opts), opts);
  }

  /**
   * A client that acts as another user: every request carries `Impersonate-User` (and
   * `Impersonate-Group`, …) in place of any impersonation of the kubeconfig, with this client's
   * credentials and over the same connections. A service account is the user
   * `system:serviceaccount:<namespace>:<name>` (serviceAccountUser); the API server adds its
   * groups. The caller's credentials need the `impersonate` verb. close() on it frees nothing:
   * the connections stay this client's.
   */
  impersonate(who: Impersonation): KubeClient {
    if (typeof who.user !== 'string' || who.user === '') throw new KubeError('INPUT', 'impersonating: the user name is empty');
    return new KubeClient(this.config, this.opts, { connection: this.connection, impersonate: who, from: this.impersonatedFrom ?? this });
  }

  /** Frees the kept-alive connections (requests in flight finish first); nothing for an impersonating client. */
  close(): Promise<void> {
    if (!this.ownsConnection) return Promise.resolve();
    return this.connection.dispatcher.close().catch(() => undefined);
  }

  /** Sends one request; returns the parsed JSON body or throws a KubeError built from the Status. */
  async request<T = Record<string, unknown>>(req: RequestOptions): Promise<T> {
    const what = this.describe(req);
    const res = await this.exchange(req, { keepBody: false, retries: maxRetries, headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs });
    const text = res.text ?? '';
    if (res.status >= 200 && res.status < 300) {
      const parsed = text === '' ? {} : parseJson(text);
      if (parsed === undefined) throw new KubeError('API', `${what}: the API server answered ${res.status} with a body that is not JSON`, { status: res.status });
      return parsed as T;
    }
    throw apiError(what, res.status, text);
  }

  /**
   * Sends a GET whose answer is a stream (a watch) and returns its unread body once the API
   * server answered 2xx; any other answer becomes a KubeError. Credentials are refreshed on a 401
   * as for request(); no other retries: the caller decides. `idleTimeoutMs` bounds the wait
   * between two chunks (0: none).
   */
  async openStream(req: RequestOptions & { idleTimeoutMs: number }): Promise<StreamResponse> {
    const res = await this.exchange(req, { keepBody: true, retries: 0, headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: req.idleTimeoutMs });
    if (res.body && res.status >= 200 && res.status < 300) return { status: res.status, body: res.body };
    throw apiError(this.describe(req), res.status, res.text ?? '');
  }

  /**
   * Lists then watches a collection, resuming from the last resourceVersion after a dropped
   * connection and listing again after 410 Gone (see watch.ts). Ends when `signal` aborts.
   */
  watch(opts: WatchOptions): AsyncGenerator<WatchEvent> {
    return watch(this, opts);
  }

  private describe(req: RequestOptions): string {
    return req.what ?? `${req.method ?? 'GET'} ${req.path.split('?')[0]}`;
  }

  private url(req: RequestOptions): URL {
    const url = new URL(this.basePath + req.path, this.config.server.origin);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async exchange(req: RequestOptions, how: { keepBody: boolean; retries: number; headersTimeoutMs: number; bodyTimeoutMs: number }): Promise<Exchange> {
    const method = req.method ?? 'GET';
    const what = this.describe(req);
    const url = this.url(req);
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    let auth: AuthState = await this.connection.credentials.current();
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (req.signal?.aborted) throw new KubeError('ABORTED', `${what}: aborted`, { cause: req.signal.reason });
      let res: Exchange;
      try {
        const headers: Record<string, string | string[]> = {
          ...this.extraHeaders,
          ...auth.headers,
          Accept: 'application/json',
          'User-Agent': this.userAgent,
        };
        if (body !== undefined) headers['Content-Type'] = req.contentType ?? 'application/json';
        const r = await undiciRequest(url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          dispatcher: this.connection.dispatcherFor(auth),
          headersTimeout: how.headersTimeoutMs,
          bodyTimeout: how.bodyTimeoutMs,
          ...(req.signal ? { signal: req.signal } : {}),
        });
        const retryAfter = r.headers['retry-after'];
        res = { status: r.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
        if (how.keepBody && r.statusCode >= 200 && r.statusCode < 300) res.body = r.body;
        else res.text = await readLimited(r.body, this.maxResponseBytes, what);
      } catch (err) {
        if (err instanceof KubeError) throw err;
        if (req.signal?.aborted) throw new KubeError('ABORTED', `${what}: aborted`, { cause: req.signal.reason });
        // A POST is sent again only when it cannot have arrived (the connection was refused).
        const replayable = method !== 'POST' || (err as { code?: unknown }).code === 'ECONNREFUSED';
        if (attempt < how.retries && replayable && isRetryableNetworkError(err)) {
          await this.pause(retryDelayMs(attempt), req, what);
          continue;
        }
        throw this.networkError(what, err);
      }
      if (res.status === 401 && !refreshed) {
        refreshed = true;
        const next = await this.connection.credentials.rejected(auth);
        if (next) {
          auth = next;
          attempt--;
          continue;
        }
      }
      const retriable = res.status === 429 || (res.status >= 500 && res.retryAfter !== undefined);
      if (retriable && attempt < how.retries) {
        await this.pause(retryDelayMs(attempt, res.retryAfter), req, what);
        continue;
      }
      return res;
    }
  }

  private async pause(ms: number, req: RequestOptions, what: string): Promise<void> {
    try {
      await sleep(ms, req.signal);
    } catch (err) {
      throw new KubeError('ABORTED', `${what}: aborted`, { cause: err });
    }
  }

  private networkError(what: string, err: unknown): KubeError {
    const message = (err as Error).message;
    if (isTlsError(err)) return new KubeError('TLS', `${what}: the API server ${this.server} is not trusted: ${message}`, { cause: err });
    return new KubeError('NETWORK', `${what}: cannot reach the API server ${this.server}: ${message}`, { cause: err });
  }
}

/** The JSON value of `text`, or undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The KubeError for a non-2xx answer: from its Status body when it has one, else its text. */
function apiError(what: string, status: number, text: string): KubeError {
  const parsed = parseJson(text);
  const details: ApiStatusDetails = { status };
  let message = `${status}`;
  if (isRecord(parsed) && parsed['kind'] === 'Status') {
    if (typeof parsed['message'] === 'string') message = parsed['message'];
    if (typeof parsed['reason'] === 'string') details.reason = parsed['reason'];
    const d = parsed['details'];
    if (isRecord(d) && Array.isArray(d['causes'])) {
      details.causes = (d['causes'] as unknown[]).filter(isRecord).map((c) => ({
        ...(typeof c['field'] === 'string' ? { field: c['field'] } : {}),
        ...(typeof c['message'] === 'string' ? { message: c['message'] } : {}),
        ...(typeof c['reason'] === 'string' ? { reason: c['reason'] } : {}),
      }));
    }
  } else if (text.trim() !== '') {
    message = `${status} ${text.trim().slice(0, 300)}`;
  }
  return new KubeError(errorCodeFor(status, details), `${what}: ${message}`, { status, details });
}
