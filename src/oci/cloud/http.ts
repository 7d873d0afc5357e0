import { setTimeout as sleep } from 'node:timers/promises';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { HttpError, RETRYABLE_STATUS, createDispatcher, isRetryableNetworkError, isTlsError, retryDelayMs, type TransportOptions } from '../../http/index.js';
import { CloudAuthError, scrub, type CloudProvider } from './errors.js';

/** Cloud token answers are a few KiB; anything larger is refused. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_RETRIES = 3;
/** Link-local metadata servers answer at once or not at all (not on that cloud). */
const METADATA_TIMEOUT_MS = 10_000;

export interface CloudResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface CloudRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: URL;
  headers?: Record<string, string>;
  body?: string;
  /** The step, for errors: `calling STS AssumeRoleWithWebIdentity`. */
  what: string;
  /**
   * A link-local metadata server (GCE metadata, Azure IMDS, EC2 IMDS, the EKS Pod Identity
   * agent): reached without a proxy, over plain http, with a short timeout.
   */
  metadata?: boolean;
  /** Values to scrub from any text of the answer that goes into an error. */
  secrets?: readonly string[];
}

export interface CloudHttpOptions {
  transport?: TransportOptions;
  retries?: number;
  retryBaseMs?: number;
  signal?: AbortSignal;
}

function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.startsWith('127.') || h === '::1';
}

/**
 * The HTTP side of one credentials exchange: sends requests to cloud endpoints over lading's
 * transport (src/http: proxies from the environment, extra CAs, TLS verified), retries 408/429/5xx
 * and dropped connections, reads at most 1 MiB of an answer, and turns failures into
 * CloudAuthErrors naming provider, host and step. Credentials go over https only, except to a
 * metadata server (which is plain http by design) or a loopback endpoint (a local emulator).
 */
export class CloudHttp {
  private dispatcher: Dispatcher | undefined;
  private metadataDispatcher: Dispatcher | undefined;
  private readonly retries: number;
  private readonly retryBase: number;

  constructor(
    readonly provider: CloudProvider,
    readonly host: string,
    private readonly opts: CloudHttpOptions,
  ) {
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.retryBase = opts.retryBaseMs ?? 250;
  }

  /** `getting aws credentials for <host>` — the prefix of every message. */
  get context(): string {
    return `getting ${this.provider} credentials for ${this.host}`;
  }

  error(code: ConstructorParameters<typeof CloudAuthError>[0], message: string, options?: { cause?: unknown; status?: number }): CloudAuthError {
    return new CloudAuthError(code, this.provider, this.host, `${this.context}: ${message}`, options);
  }

  private transport(metadata: boolean): Dispatcher {
    try {
      if (metadata) {
        const idle = Math.min(this.opts.transport?.idleTimeoutMs ?? METADATA_TIMEOUT_MS, METADATA_TIMEOUT_MS);
        this.metadataDispatcher ??= createDispatcher({ proxy: 'none', idleTimeoutMs: idle, connectTimeoutMs: idle });
        return this.metadataDispatcher;
      }
      this.dispatcher ??= createDispatcher({ idleTimeoutMs: 30_000, connectTimeoutMs: 30_000, ...this.opts.transport });
      return this.dispatcher;
    } catch (err) {
      throw this.error(err instanceof HttpError && err.code === 'TLS' ? 'TLS' : 'CONFIG', `setting up connections: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.dispatcher?.close(), this.metadataDispatcher?.close()].map((p) => p?.catch(() => undefined)));
  }

  async request(req: CloudRequest): Promise<CloudResponse> {
    const where = `${req.what} at ${req.url.origin}${req.url.pathname}`;
    if (req.url.protocol !== 'https:' && !(req.url.protocol === 'http:' && (req.metadata === true || isLoopbackHostname(req.url.hostname)))) {
      throw this.error('CONFIG', `${where}: refusing to send credentials over ${req.url.protocol.replace(':', '')} (https is required except for a metadata server or a loopback endpoint)`);
    }
    const dispatcher = this.transport(req.metadata === true);
    for (let attempt = 0; ; attempt++) {
      if (this.opts.signal?.aborted) throw this.aborted(where, this.opts.signal.reason);
      let res: Dispatcher.ResponseData;
      try {
        res = await undiciRequest(req.url, {
          dispatcher,
          method: req.method,
          headers: { 'user-agent': 'lading', ...req.headers },
          ...(req.body !== undefined ? { body: req.body } : {}),
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        });
      } catch (err) {
        if (this.opts.signal?.aborted) throw this.aborted(where, this.opts.signal.reason);
        if (attempt < this.retries && isRetryableNetworkError(err) && !(req.metadata === true && (err as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT')) {
          await this.wait(retryDelayMs(attempt, undefined, this.retryBase), where);
          continue;
        }
        throw this.transportError(err, where);
      }
      if (attempt < this.retries && RETRYABLE_STATUS.has(res.statusCode)) {
        const retryAfter = res.headers['retry-after'];
        res.body.resume();
        await this.wait(retryDelayMs(attempt, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, this.retryBase), where);
        continue;
      }
      const body = await this.readBody(res, where);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      return { status: res.statusCode, headers, body };
    }
  }

  private async readBody(res: Dispatcher.ResponseData, where: string): Promise<Buffer> {
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
      res.body.destroy();
      throw this.error('BAD_RESPONSE', `${where}: an answer of ${declared} bytes (more than the ${MAX_RESPONSE_BYTES} a token answer can be)`, { status: res.statusCode });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_RESPONSE_BYTES) {
          res.body.destroy();
          throw this.error('BAD_RESPONSE', `${where}: an answer of more than ${MAX_RESPONSE_BYTES} bytes`, { status: res.statusCode });
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof CloudAuthError) throw err;
      if (this.opts.signal?.aborted) throw this.aborted(where, this.opts.signal.reason);
      throw this.transportError(err, where);
    }
    return Buffer.concat(chunks);
  }

  private async wait(ms: number, where: string): Promise<void> {
    try {
      await sleep(ms, undefined, this.opts.signal ? { signal: this.opts.signal } : undefined);
    } catch {
      throw this.aborted(where, this.opts.signal?.reason);
    }
  }

  private aborted(where: string, reason: unknown): CloudAuthError {
    if (reason instanceof HttpError && reason.code === 'TIMEOUT') return this.error('TIMEOUT', `${where}: ${reason.message}`, { cause: reason });
    return this.error('ABORTED', `${where}: aborted`, { cause: reason });
  }

  private transportError(err: unknown, where: string): CloudAuthError {
    const e = err as { code?: string; message?: string };
    const message = scrub(e?.message ?? String(err));
    if (e?.code === 'UND_ERR_CONNECT_TIMEOUT' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT') {
      return this.error('TIMEOUT', `${where}: no answer (${message})`, { cause: err });
    }
    if (isTlsError(err)) return this.error('TLS', `${where}: TLS connection failed: ${message}`, { cause: err });
    return this.error('NETWORK', `${where}: ${message}`, { cause: err });
  }
}

/** The JSON object of an answer, or a BAD_RESPONSE error naming the step. */
export function parseJsonObject(http: CloudHttp, res: CloudResponse, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw http.error('BAD_RESPONSE', `${where}: the answer (status ${res.status}) is not JSON`, { status: res.status });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw http.error('BAD_RESPONSE', `${where}: the answer (status ${res.status}) is not a JSON object`, { status: res.status });
  }
  return parsed as Record<string, unknown>;
}

/** A string field of a parsed answer, or undefined. */
export function stringField(obj: Record<string, unknown>, name: string): string | undefined {
  const v = obj[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
