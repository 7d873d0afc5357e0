// A raw-JSON client for the Kubernetes API server. @kubernetes/client-node is used only to load
// and resolve the kubeconfig (files, contexts, exec plugins, tokens); requests are plain node
// https with a keep-alive agent, so objects travel as the JSON the user wrote — no serializer
// drops unknown fields — and there is no client-side throttling.
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeError, type ApiStatusDetails, type KubeErrorCode } from './errors.js';
import { isRecord, sleep } from './util.js';

export interface KubeconfigOptions {
  /** Path of a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster). */
  kubeconfig?: string;
  /** Context to use (default: the kubeconfig's current context). */
  context?: string;
  /** Default namespace (default: the context's namespace, then `default`). */
  namespace?: string;
  /** Environment to read KUBECONFIG and HOME from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ClientOptions extends KubeconfigOptions {
  /** Most requests in flight at once (default 16). */
  concurrency?: number;
  /** Time allowed for one request (default 60 s). */
  timeoutMs?: number;
  /** Largest response body accepted (default 64 MiB). */
  maxResponseBytes?: number;
  userAgent?: string;
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

/** The connection data resolved from a kubeconfig. */
interface Connection {
  server: URL;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  headers: Record<string, string>;
  rejectUnauthorized: boolean;
  servername?: string;
}

const defaultMaxResponseBytes = 64 * 1024 * 1024;

type KubeConfigModule = typeof import('@kubernetes/client-node');
let kubeConfigModule: Promise<KubeConfigModule> | undefined;
// Loaded on first use: the package is large and only its kubeconfig loader is needed.
function loadKubeConfigModule(): Promise<KubeConfigModule> {
  kubeConfigModule ??= import('@kubernetes/client-node');
  return kubeConfigModule;
}

/** Resolves a kubeconfig the way kubectl does: flag, KUBECONFIG (merged), ~/.kube/config, in-cluster. */
async function loadKubeconfig(opts: KubeconfigOptions): Promise<{ kc: InstanceType<KubeConfigModule['KubeConfig']>; source: string }> {
  const { KubeConfig } = await loadKubeConfigModule();
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  const load = (file: string, into = kc): void => {
    try {
      into.loadFromFile(file);
    } catch (err) {
      throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  let source: string;
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig)) throw new KubeError('KUBECONFIG', `loading kubeconfig ${opts.kubeconfig}: no such file`);
    load(opts.kubeconfig);
    source = opts.kubeconfig;
  } else if (env['KUBECONFIG']) {
    const files = env['KUBECONFIG'].split(delimiter).filter((f) => f !== '' && existsSync(f));
    if (files.length === 0) throw new KubeError('KUBECONFIG', `loading kubeconfig: none of the files in KUBECONFIG=${env['KUBECONFIG']} exists`);
    load(files[0] as string);
    for (const f of files.slice(1)) {
      const other = new KubeConfig();
      load(f, other);
      // Earlier files win, as in kubectl.
      kc.mergeConfig(other, true);
    }
    source = files.join(delimiter);
  } else {
    const home = env['HOME'] ?? homedir();
    const file = join(home, '.kube', 'config');
    if (existsSync(file)) {
      load(file);
      source = file;
    } else if (env['KUBERNETES_SERVICE_HOST']) {
      kc.loadFromCluster();
      source = 'in-cluster service account';
    } else {
      throw new KubeError('KUBECONFIG', 'no kubeconfig found: set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config');
    }
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new KubeError('KUBECONFIG', `kubeconfig ${source}: context "${opts.context}" not found (contexts: ${known.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeError('KUBECONFIG', `kubeconfig ${source}: no cluster for context "${kc.getCurrentContext() || '(none)'}"`);
  }
  return { kc, source };
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

const tlsErrorCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** Connection errors worth one more try: a keep-alive socket the server closed under us. */
const retriableNetworkCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export class KubeClient {
  /** Default namespace for namespaced objects without one. */
  readonly namespace: string;
  readonly context: string;
  readonly server: string;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;

  private constructor(
    private connection: Connection,
    private readonly refresh: () => Promise<Connection>,
    meta: { namespace: string; context: string; concurrency: number; timeoutMs: number; maxResponseBytes: number; userAgent: string },
  ) {
    this.namespace = meta.namespace;
    this.context = meta.context;
    this.server = connection.server.toString().replace(/\/$/, '');
    this.timeoutMs = meta.timeoutMs;
    this.maxResponseBytes = meta.maxResponseBytes;
    this.userAgent = meta.userAgent;
    const agentOptions = { keepAlive: true, maxSockets: meta.concurrency, maxFreeSockets: meta.concurrency };
    this.agent =
      connection.server.protocol === 'http:'
        ? new http.Agent(agentOptions)
        : new https.Agent({
            ...agentOptions,
            ...(connection.ca !== undefined ? { ca: connection.ca } : {}),
            ...(connection.cert !== undefined ? { cert: connection.cert } : {}),
            ...(connection.key !== undefined ? { key: connection.key } : {}),
            ...(connection.servername !== undefined ? { servername: connection.servername } : {}),
            rejectUnauthorized: connection.rejectUnauthorized,
          });
  }

  /** Connects with the kubeconfig found as kubectl would find it. Nothing is sent yet. */
  static async connect(opts: ClientOptions = {}): Promise<KubeClient> {
    const { kc, source } = await loadKubeconfig(opts);
    const resolveConnection = async (): Promise<Connection> => {
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new KubeError('KUBECONFIG', `kubeconfig ${source}: no current cluster`);
      const o: https.RequestOptions = {};
      try {
        await kc.applyToHTTPSOptions(o);
      } catch (err) {
        throw new KubeError('KUBECONFIG', `kubeconfig ${source}: resolving credentials for context "${kc.getCurrentContext()}": ${(err as Error).message}`, { cause: err });
      }
      let server: URL;
      try {
        server = new URL(cluster.server);
      } catch (err) {
        throw new KubeError('KUBECONFIG', `kubeconfig ${source}: invalid server URL "${cluster.server}"`, { cause: err });
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v;
      if (o.auth) headers['Authorization'] = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      const conn: Connection = { server, headers, rejectUnauthorized: !cluster.skipTLSVerify };
      if (o.ca) conn.ca = o.ca as string | Buffer;
      if (o.cert) conn.cert = o.cert as string | Buffer;
      if (o.key) conn.key = o.key as string | Buffer;
      if (cluster.tlsServerName) conn.servername = cluster.tlsServerName;
      return conn;
    };
    const connection = await resolveConnection();
    const ctx = kc.getContextObject(kc.getCurrentContext());
    return new KubeClient(connection, resolveConnection, {
      namespace: opts.namespace || ctx?.namespace || 'default',
      context: kc.getCurrentContext(),
      concurrency: opts.concurrency ?? 16,
      timeoutMs: opts.timeoutMs ?? 60_000,
      maxResponseBytes: opts.maxResponseBytes ?? defaultMaxResponseBytes,
      userAgent: opts.userAgent ?? 'lading',
    });
  }

  /** Frees the keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  /** Sends one request; returns the parsed JSON body or throws a KubeError built from the Status. */
  async request<T = Record<string, unknown>>(req: RequestOptions): Promise<T> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.send<T>(req);
      } catch (err) {
        if (!(err instanceof KubeError)) throw err;
        if (err.code === 'UNAUTHORIZED' && !refreshed) {
          // Tokens from exec plugins expire; resolve them again once.
          refreshed = true;
          this.connection = await this.refresh();
          continue;
        }
        const retriable = err.status === 429 || (err.code === 'NETWORK' && retriableNetworkCodes.has(String((err.cause as NodeJS.ErrnoException)?.code)));
        if (!retriable || attempt >= 4) throw err;
        await sleep(100 * 2 ** attempt, req.signal);
      }
    }
  }

  private send<T>(req: RequestOptions): Promise<T> {
    const method = req.method ?? 'GET';
    const url = new URL(req.path, this.connection.server);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const what = req.what ?? `${method} ${url.pathname}`;
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers: Record<string, string> = {
      ...this.connection.headers,
      Accept: 'application/json',
      'User-Agent': this.userAgent,
    };
    if (body !== undefined) {
      headers['Content-Type'] = req.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<T>((resolve, reject) => {
      if (req.signal?.aborted) {
        reject(new KubeError('ABORTED', `${what}: aborted`, { cause: req.signal.reason }));
        return;
      }
      const r = transport.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxResponseBytes) {
            res.destroy();
            reject(new KubeError('TOO_LARGE', `${what}: response larger than ${this.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err) => reject(new KubeError('NETWORK', `${what}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text === '' ? {} : JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            if (parsed === undefined) {
              reject(new KubeError('API', `${what}: the API server answered ${status} with a body that is not JSON`, { status }));
              return;
            }
            resolve(parsed as T);
            return;
          }
          reject(apiError(what, status, parsed, text));
        });
      });
      r.on('timeout', () => r.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', (err: NodeJS.ErrnoException) => {
        if (req.signal?.aborted) {
          reject(new KubeError('ABORTED', `${what}: aborted`, { cause: req.signal.reason }));
          return;
        }
        const code = err.code ?? '';
        if (tlsErrorCodes.has(code)) {
          reject(new KubeError('TLS', `${what}: the API server ${this.server} is not trusted: ${err.message}`, { cause: err }));
          return;
        }
        reject(new KubeError('NETWORK', `${what}: cannot reach the API server ${this.server}: ${err.message}`, { cause: err }));
      });
      if (body !== undefined) r.write(body);
      r.end();
    });
  }
}

function apiError(what: string, status: number, parsed: unknown, text: string): KubeError {
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
