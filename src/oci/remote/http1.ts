/**
 * The registry client's HTTP/1.1 transport: keep-alive connections over node:net and node:tls,
 * a request writer and a response parser (Content-Length, chunked and close-delimited bodies).
 *
 * Why not node:http: a registry exchange is small and a CLI run makes a handful of them, so the
 * per-request machinery of node:http (ClientRequest, IncomingMessage, the agent's bookkeeping,
 * the llhttp callbacks) is most of a short command's network cost — about 2 ms of CPU per request
 * on a cold process, more than a loopback registry takes to answer. This transport does only what
 * a registry client needs: no pipelining, no upgrades, no proxies, no HTTP/2.
 *
 * Limits: response heads are refused beyond 64 KiB, chunk-size lines beyond 4 KiB; conflicting
 * Content-Length values, obsolete header folding and malformed framing are protocol errors. TLS
 * is verified unless the caller turns it off.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type tls from 'node:tls';
import { loadTls } from '../../builtins.js';
import { isDigits } from '../syntax.js';

/** Response headers as node:http gives them: lower-case names, set-cookie as a list. */
export type HttpHeaders = Record<string, string | string[] | undefined>;

export interface HttpTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Default true: the server's certificate and name are verified. */
  rejectUnauthorized?: boolean;
}

export interface HttpClientOptions {
  /** Open connections per origin (scheme, host, port). Default 16. */
  maxSocketsPerOrigin?: number;
  tls?: HttpTlsOptions;
  /**
   * The proxy for a URL, if any (see proxy.ts): https URLs go through a CONNECT tunnel, http URLs
   * are sent to the proxy in absolute form. Credentials in the proxy URL are sent as
   * Proxy-Authorization (basic).
   */
  proxy?: (target: URL) => URL | undefined;
}

export interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string | number>;
  /**
   * Bytes, or a stream: sent with Content-Length when the headers give one (the stream must then
   * yield exactly that many bytes), else chunked.
   */
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** Idle limit on the connection while this exchange is in progress (0: none). */
  timeoutMs?: number;
  /** The error an idle timeout fails the exchange with. */
  timeoutError?: () => Error;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;
const RESPONSE_HIGH_WATER_MARK = 64 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
// The syntax checks below are loops over character codes, not regular expressions: each regular
// expression a short command runs costs it a compilation (two, once it runs twice), ~0.05 ms.

/** RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ digits and letters. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Whether `s` is an HTTP token (a method or a header name). */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Whether a header value has a character node:http refuses too: a control character other than
 * tab, or one beyond latin1 (written as latin1, U+010D U+010A would go out as CR LF).
 */
function hasBadValueChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return true;
  }
  return false;
}

/** `HTTP/1.<0|1> <3 digits>[ <reason>]`: the minor version, the status and the reason phrase. */
function parseStatusLine(line: string): { minor: string; code: number; reason: string } | undefined {
  if (line.length < 12 || !line.startsWith('HTTP/1.') || line.charCodeAt(8) !== 32) return undefined;
  const minor = line[7] as string;
  const code = line.slice(9, 12);
  if ((minor !== '0' && minor !== '1') || !isDigits(code)) return undefined;
  if (line.length === 12) return { minor, code: Number(code), reason: '' };
  const reason = line.slice(13);
  if (line.charCodeAt(12) !== 32 || reason.includes('\n') || reason.includes('\r')) return undefined;
  return { minor, code: Number(code), reason };
}

/** Whether a Connection header value lists `close`. */
function listsClose(connection: string): boolean {
  return connection.split(',').some((option) => option.trim() === 'close');
}
/** Headers whose repeats are dropped, as node:http does; other repeats are joined with ", ". */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/** An error with a node-style `code`, so callers can tell resets from protocol errors. */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function invalidStatusLine(line: string): Error {
  return codedError(`invalid HTTP response status line ${JSON.stringify(line.slice(0, 100))}`, 'HPE_INVALID_CONSTANT');
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** A response: a readable body stream with the status and headers. */
export class HttpResponse extends Readable {
  /** True once the whole body has been received (as node:http's IncomingMessage.complete). */
  complete = false;

  constructor(
    readonly statusCode: number,
    readonly statusMessage: string,
    readonly headers: HttpHeaders,
    readonly httpVersion: string,
    private readonly connection: Connection,
  ) {
    super({ highWaterMark: RESPONSE_HIGH_WATER_MARK });
  }

  /** Changes the idle limit while the body is read. */
  setTimeout(ms: number): this {
    if (!this.complete) this.connection.setIdleTimeout(ms);
    return this;
  }

  override _read(): void {
    this.connection.resumeReading();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // Abandoning a body half-read leaves the connection in the middle of a message: close it.
    if (!this.complete) this.connection.destroy();
    cb(err);
  }
}

type BodyMode = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' };
type ChunkState = 'size' | 'data' | 'data-end' | 'trailers';

interface Exchange {
  method: string;
  resolve: (res: HttpResponse) => void;
  reject: (err: Error) => void;
  response: HttpResponse | undefined;
  /** Any response byte arrived (a failure before that on a reused connection may be retried). */
  gotBytes: boolean;
  requestSent: boolean;
  timeoutError: (() => Error) | undefined;
  cleanup: () => void;
}

/** One keep-alive connection; runs one exchange at a time. */
class Connection {
  readonly socket: Socket;
  /** It waited idle in the pool (kept alive or opened ahead): the server may have closed it. */
  reused = false;
  private exchange: Exchange | undefined;
  private head: Buffer | undefined;
  private mode: BodyMode = { kind: 'none' };
  private chunkState: ChunkState = 'size';
  private chunkRemaining = 0;
  private line: Buffer | undefined;
  private reusable = false;
  private closed = false;
  private idleLimit = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** When idleTimer fires (ms since the epoch). */
  private idleTimerDue = 0;
  private lastActivity = 0;

  constructor(
    readonly pool: OriginPool,
    socket: Socket,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.onClose());
  }

  /**
   * The idle limit of the exchange in progress: it fails after `ms` without a byte either way (0:
   * no limit). A timer of our own rather than socket.setTimeout: Node's socket timeouts cost a
   * short command's first request ~1 ms of set-up, and re-arm a timer on every read and write.
   */
  setIdleTimeout(ms: number): void {
    this.idleLimit = ms;
    const now = Date.now();
    this.lastActivity = now;
    // No limit: a timer still armed finds none when it fires, and stops.
    if (ms <= 0) return;
    // A timer armed earlier that fires no later than this limit needs is kept (it re-arms for what
    // is left when it fires): an exchange on a kept-alive connection then costs no timer work.
    if (this.idleTimer !== undefined) {
      if (this.idleTimerDue <= now + ms) return;
      clearTimeout(this.idleTimer);
    }
    this.idleTimer = this.armIdleTimer(ms);
  }

  private armIdleTimer(ms: number): NodeJS.Timeout {
    this.idleTimerDue = Date.now() + ms;
    // Unreferenced, as the socket's own would be: an exchange in flight keeps the process alive
    // through its socket.
    return setTimeout(() => this.onIdleTimer(), ms).unref();
  }

  private onIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.idleLimit <= 0 || this.closed) return;
    const idle = Date.now() - this.lastActivity;
    if (idle < this.idleLimit) {
      this.idleTimer = this.armIdleTimer(this.idleLimit - idle);
      return;
    }
    const ex = this.exchange;
    if (ex) this.fail(ex.timeoutError?.() ?? codedError('timed out waiting for the server', 'ETIMEDOUT'));
  }

  /** Bytes went one way or the other: the idle limit counts from now. */
  private touch(): void {
    if (this.idleLimit > 0) this.lastActivity = Date.now();
  }

  get idle(): boolean {
    return this.exchange === undefined && !this.closed;
  }

  /** Sends one request; the promise settles with the response head (the body streams after). */
  start(url: URL, opts: HttpRequestOptions): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const signal = opts.signal;
      const onAbort = () => this.fail(abortError(signal as AbortSignal));
      const ex: Exchange = {
        method: opts.method,
        resolve,
        reject,
        response: undefined,
        gotBytes: false,
        requestSent: false,
        timeoutError: opts.timeoutError,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      this.exchange = ex;
      this.head = undefined;
      this.mode = { kind: 'none' };
      this.reusable = false;
      if (signal?.aborted) {
        this.fail(abortError(signal));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.ref();
      this.setIdleTimeout(opts.timeoutMs ?? 0);
      this.socket.resume();
      try {
        this.writeRequest(url, opts, ex);
      } catch (err) {
        this.fail(err as Error);
      }
    });
  }

  private writeRequest(url: URL, opts: HttpRequestOptions, ex: Exchange): void {
    const method = opts.method;
    if (!isToken(method)) throw codedError(`invalid HTTP method ${JSON.stringify(method)}`, 'ERR_INVALID_HTTP_TOKEN');
    const target = this.pool.absoluteForm ? `${url.protocol}//${url.host}${url.pathname}${url.search}` : `${url.pathname}${url.search}`;
    let head = `${method} ${target} HTTP/1.1\r\nHost: ${url.host}\r\n`;
    for (const [name, value] of Object.entries(this.pool.extraHeaders)) head += `${name}: ${value}\r\n`;
    let length: number | undefined;
    for (const [name, raw] of Object.entries(opts.headers ?? {})) {
      const value = String(raw);
      if (!isToken(name)) throw codedError(`invalid HTTP header name ${JSON.stringify(name)}`, 'ERR_INVALID_HTTP_TOKEN');
      if (hasBadValueChar(value)) throw codedError(`invalid character in the value of HTTP header ${name}`, 'ERR_INVALID_CHAR');
      const lower = name.toLowerCase();
      if (lower === 'host' || lower === 'transfer-encoding' || lower === 'connection' || lower === 'proxy-authorization') continue;
      if (lower === 'content-length') {
        if (!isDigits(value)) throw codedError(`invalid Content-Length ${JSON.stringify(value)}`, 'ERR_INVALID_CHAR');
        length = Number(value);
        continue;
      }
      head += `${name}: ${value}\r\n`;
    }
    const body = opts.body;
    if (body === undefined) {
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') head += 'Content-Length: 0\r\n';
      this.socket.write(`${head}\r\n`, 'latin1');
      ex.requestSent = true;
      return;
    }
    if (Buffer.isBuffer(body)) {
      if (length !== undefined && length !== body.length) throw codedError(`Content-Length ${length} does not match the ${body.length}-byte body`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH');
      this.socket.cork();
      this.socket.write(`${head}Content-Length: ${body.length}\r\n\r\n`, 'latin1');
      if (body.length > 0) this.socket.write(body);
      this.socket.uncork();
      ex.requestSent = true;
      return;
    }
    this.pump(body, head, length, ex);
  }

  /** Streams a request body with backpressure, chunked unless its length is known. */
  private pump(stream: Readable, head: string, length: number | undefined, ex: Exchange): void {
    if (stream.errored) throw stream.errored;
    if (stream.destroyed) throw new Error('request body stream was closed before it was sent');
    const chunked = length === undefined;
    this.socket.write(`${head}${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`}\r\n\r\n`, 'latin1');
    let sent = 0;
    const socket = this.socket;
    const onDrain = () => stream.resume();
    const detach = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      socket.off('drain', onDrain);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (buf.length === 0 || this.exchange !== ex) return;
      this.touch();
      sent += buf.length;
      if (length !== undefined && sent > length) {
        detach();
        this.fail(codedError(`the request body is longer than its Content-Length ${length}`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH'));
        return;
      }
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${buf.length.toString(16)}\r\n`, 'latin1');
        socket.write(buf);
        ok = socket.write(CRLF);
        socket.uncork();
      } else {
        ok = socket.write(buf);
      }
      if (!ok) stream.pause();
    };
    const onEnd = () => {
      detach();
      if (this.exchange !== ex) return;
      if (length !== undefined && sent !== length) {
        this.fail(codedError(`the request body ended after ${sent} of its ${length} bytes`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH'));
        return;
      }
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      ex.requestSent = true;
      // A response that came before the body was sent completes the exchange now.
      if (ex.response?.complete) this.finish(ex);
    };
    const onError = (err: Error) => {
      detach();
      if (this.exchange === ex) this.fail(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    socket.on('drain', onDrain);
    ex.cleanup = ((previous) => () => {
      previous();
      detach();
      if (!ex.requestSent) stream.destroy();
    })(ex.cleanup);
  }

  resumeReading(): void {
    if (!this.closed) this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    const ex = this.exchange;
    if (!ex) {
      // Bytes on an idle connection: the server is not speaking HTTP/1.1 as expected.
      this.destroy();
      return;
    }
    ex.gotBytes = true;
    this.touch();
    try {
      if (ex.response === undefined) this.parseHead(ex, chunk);
      else this.parseBody(ex, chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private parseHead(ex: Exchange, chunk: Buffer): void {
    const searchFrom = this.head ? Math.max(0, this.head.length - 3) : 0;
    const buf = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    const end = buf.indexOf(HEAD_END, searchFrom);
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) throw codedError(`the response head exceeds ${MAX_HEAD_BYTES} bytes`, 'HPE_HEADER_OVERFLOW');
      // A status line that is not HTTP fails once it is complete: a server that is not HTTP may
      // send a banner and wait.
      const eol = buf.indexOf(CRLF);
      if (eol >= 0 && !parseStatusLine(buf.toString('latin1', 0, eol))) throw invalidStatusLine(buf.toString('latin1', 0, eol));
      this.head = buf;
      return;
    }
    if (end > MAX_HEAD_BYTES) throw codedError(`the response head exceeds ${MAX_HEAD_BYTES} bytes`, 'HPE_HEADER_OVERFLOW');
    this.head = undefined;
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const status = parseStatusLine(lines[0] ?? '');
    if (!status) throw invalidStatusLine(lines[0] ?? '');
    const { minor, code } = status;
    const headers: HttpHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!isToken(name)) throw codedError(`invalid HTTP response header line ${JSON.stringify(line.slice(0, 100))}`, 'HPE_INVALID_HEADER_TOKEN');
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      const prev = headers[key];
      if (prev === undefined) headers[key] = key === 'set-cookie' ? [value] : value;
      else if (key === 'set-cookie') (prev as string[]).push(value);
      else if (key === 'content-length') {
        if (prev !== value) throw codedError('the response has conflicting Content-Length headers', 'HPE_UNEXPECTED_CONTENT_LENGTH');
      } else if (!FIRST_WINS.has(key)) headers[key] = `${prev as string}, ${value}`;
    }
    const rest = buf.subarray(end + 4);
    if (code >= 100 && code < 200) {
      if (code === 101) throw codedError('the server switched protocols, which was not asked for', 'HPE_INVALID_CONSTANT');
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      if (rest.length > 0) this.parseHead(ex, rest);
      return;
    }
    this.mode = this.bodyMode(ex.method, code, headers);
    const connection = String(headers['connection'] ?? '').toLowerCase();
    // Transfer-Encoding and Content-Length together: the coding wins, and the connection is
    // closed afterwards (RFC 9112 6.3: the message may be an attempt at response splitting).
    const ambiguous = headers['transfer-encoding'] !== undefined && headers['content-length'] !== undefined;
    this.reusable = minor === '1' && !listsClose(connection) && this.mode.kind !== 'close' && !ambiguous;
    this.chunkState = 'size';
    this.line = undefined;
    const res = new HttpResponse(code, status.reason, headers, `1.${minor}`, this);
    ex.response = res;
    ex.resolve(res);
    if (this.mode.kind === 'none') this.complete(ex);
    else if (rest.length > 0) this.parseBody(ex, rest);
  }

  private bodyMode(method: string, status: number, headers: HttpHeaders): BodyMode {
    if (method === 'HEAD' || status === 204 || status === 304) return { kind: 'none' };
    const te = headers['transfer-encoding'];
    if (te !== undefined) {
      const codings = String(te).toLowerCase().split(',').map((s) => s.trim());
      return codings[codings.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
    }
    const cl = headers['content-length'];
    if (cl !== undefined) {
      if (!isDigits(String(cl))) throw codedError(`invalid Content-Length ${JSON.stringify(cl)} in the response`, 'HPE_INVALID_CONTENT_LENGTH');
      const remaining = Number(cl);
      return remaining === 0 ? { kind: 'none' } : { kind: 'length', remaining };
    }
    return { kind: 'close' };
  }

  private parseBody(ex: Exchange, chunk: Buffer): void {
    const res = ex.response as HttpResponse;
    const mode = this.mode;
    if (mode.kind === 'close') {
      this.deliver(res, chunk);
      return;
    }
    if (mode.kind === 'length') {
      if (chunk.length > mode.remaining) {
        // Bytes beyond the body: nothing is pipelined, so the connection cannot be trusted.
        this.reusable = false;
        chunk = chunk.subarray(0, mode.remaining);
      }
      mode.remaining -= chunk.length;
      this.deliver(res, chunk);
      if (mode.remaining === 0) this.complete(ex);
      return;
    }
    if (mode.kind === 'chunked') this.parseChunked(ex, res, chunk);
  }

  private parseChunked(ex: Exchange, res: HttpResponse, input: Buffer): void {
    let chunk = input;
    while (chunk.length > 0) {
      if (this.chunkState === 'data') {
        const take = Math.min(this.chunkRemaining, chunk.length);
        this.deliver(res, chunk.subarray(0, take));
        this.chunkRemaining -= take;
        chunk = chunk.subarray(take);
        if (this.chunkRemaining === 0) this.chunkState = 'data-end';
        continue;
      }
      // The other states read whole lines.
      const nl = chunk.indexOf(10);
      const part = nl < 0 ? chunk : chunk.subarray(0, nl + 1);
      const line = this.line ? Buffer.concat([this.line, part]) : part;
      chunk = nl < 0 ? chunk.subarray(chunk.length) : chunk.subarray(nl + 1);
      if (nl < 0) {
        if (line.length > MAX_CHUNK_LINE_BYTES) throw codedError('a chunk header line of the response is too long', 'HPE_CHUNK_EXTENSIONS_OVERFLOW');
        this.line = line;
        return;
      }
      this.line = undefined;
      if (line.length > MAX_CHUNK_LINE_BYTES) throw codedError('a chunk header line of the response is too long', 'HPE_CHUNK_EXTENSIONS_OVERFLOW');
      const text = line.toString('latin1').replace(/\r?\n$/, '');
      if (this.chunkState === 'data-end') {
        if (text !== '') throw codedError('a chunk of the response is not followed by CRLF', 'HPE_INVALID_CHUNK_SIZE');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(;.*)?$/.exec(text);
        if (!size) throw codedError(`invalid chunk size line ${JSON.stringify(text.slice(0, 40))} in the response`, 'HPE_INVALID_CHUNK_SIZE');
        this.chunkRemaining = parseInt(size[1] as string, 16);
        this.chunkState = this.chunkRemaining === 0 ? 'trailers' : 'data';
      } else if (text === '') {
        // The empty line after the trailers ends the body.
        if (chunk.length > 0) this.reusable = false;
        this.complete(ex);
        return;
      }
    }
  }

  private deliver(res: HttpResponse, chunk: Buffer): void {
    if (chunk.length === 0 || res.destroyed) return;
    if (!res.push(chunk)) this.socket.pause();
  }

  /** The whole response arrived. */
  private complete(ex: Exchange): void {
    const res = ex.response as HttpResponse;
    res.complete = true;
    res.push(null);
    if (ex.requestSent) this.finish(ex);
    // else: the server answered before the request body was sent; pump's end finishes it, or
    // the exchange fails and the connection is closed.
  }

  private finish(ex: Exchange): void {
    if (this.exchange !== ex) return;
    ex.cleanup();
    this.exchange = undefined;
    this.reused = true;
    this.setIdleTimeout(0);
    this.pool.release(this, this.reusable && !this.closed);
  }

  private onEnd(): void {
    const ex = this.exchange;
    if (ex?.response && this.mode.kind === 'close' && !ex.response.complete) {
      this.reusable = false;
      this.complete(ex);
      if (this.exchange === ex) this.finish(ex);
      return;
    }
    if (ex) this.fail(codedError(ex.response ? 'aborted' : 'socket hang up', 'ECONNRESET'));
    else this.destroy();
  }

  private onClose(): void {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const ex = this.exchange;
    if (ex) this.fail(codedError(ex.response ? 'aborted' : 'socket hang up', 'ECONNRESET'));
    this.pool.forget(this);
  }

  /** Fails the exchange in progress (if any) and closes the connection. */
  fail(err: Error): void {
    const ex = this.exchange;
    this.exchange = undefined;
    this.destroy();
    if (!ex) return;
    ex.cleanup();
    if (ex.response) {
      // On the next turn: the caller gets the response a few microtasks after the head is parsed, and
      // an error in the bytes that came with the head must not be emitted before it can listen.
      const res = ex.response;
      if (!res.complete && !res.destroyed) setImmediate(() => res.destroy(err));
    } else {
      // A kept-alive connection the server closed meanwhile: the request never reached it.
      const code = (err as NodeJS.ErrnoException).code;
      if (this.reused && !ex.gotBytes && (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED')) Object.defineProperty(err, 'staleConnection', { value: true });
      ex.reject(err);
    }
  }

  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

/** The connections to one origin. */
class OriginPool {
  private readonly idle: Connection[] = [];
  private open = 0;
  private readonly waiting: Array<{ grant: (c: Connection) => void; refuse: (err: Error) => void }> = [];

  constructor(
    /** A new socket to the origin; a promise when it takes a set-up first (a proxy tunnel). */
    private readonly connect: () => Socket | Promise<Socket>,
    private readonly max: number,
    /** Requests go out in absolute form (`GET http://host/path`), to a forwarding proxy. */
    readonly absoluteForm: boolean,
    /** Headers every request through this pool carries (Proxy-Authorization). */
    readonly extraHeaders: Readonly<Record<string, string>>,
  ) {}

  acquire(fresh: boolean, signal: AbortSignal | undefined): Connection | Promise<Connection> {
    while (!fresh && this.idle.length > 0) {
      const c = this.idle.pop() as Connection;
      if (c.idle) return c;
    }
    if (this.open < this.max) return this.create();
    return new Promise((resolve, reject) => {
      const entry = {
        grant: (c: Connection) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        refuse: (err: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private create(): Connection | Promise<Connection> {
    this.open++;
    let socket: Socket | Promise<Socket>;
    try {
      socket = this.connect();
    } catch (err) {
      this.open--;
      throw err;
    }
    if (!(socket instanceof Promise)) return new Connection(this, socket);
    return socket.then(
      (s) => new Connection(this, s),
      (err: unknown) => {
        this.open--;
        throw err;
      },
    );
  }

  /**
   * Opens connections until `count` are open (or the pool's limit): for requests that will go out
   * together soon, so that they need not wait for their connections then. The new connections
   * wait idle, as kept-alive ones do (a server may close them meanwhile).
   */
  preconnect(count: number): void {
    while (this.open < Math.min(count, this.max)) {
      let created: Connection | Promise<Connection>;
      try {
        created = this.create();
      } catch {
        return; // the request that needs a connection reports why there is none
      }
      const park = (c: Connection) => {
        c.reused = true;
        this.release(c, true);
      };
      if (created instanceof Promise) created.then(park, () => undefined);
      else park(created);
    }
  }

  release(c: Connection, reusable: boolean): void {
    if (!reusable) {
      c.destroy();
      return; // forget() runs on close and hands the slot on
    }
    const next = this.waiting.shift();
    if (next) {
      next.grant(c);
      return;
    }
    // An idle connection does not keep the process alive (as node:http's keep-alive agent), and
    // reads on so that the server closing it is noticed.
    c.socket.unref();
    c.socket.resume();
    this.idle.push(c);
  }

  /** A connection closed. */
  forget(c: Connection): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.open--;
    const next = this.waiting.shift();
    if (!next) return;
    try {
      const created = this.create();
      if (created instanceof Promise) created.then(next.grant, next.refuse);
      else next.grant(created);
    } catch (err) {
      next.refuse(err as Error);
    }
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }
}

/** Where to connect for an http: or https: URL: the host without IPv6 brackets, the port with its default. */
export function endpointOf(url: URL): { host: string; port: number } {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
}

/** Basic credentials from a proxy URL's user info, as Proxy-Authorization. */
function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
}

/**
 * A socket to the proxy itself. An https proxy is reached over TLS verified as registries are, with
 * the same trust (the system CAs and the `ca` given; none with rejectUnauthorized false), as Go's
 * transport does; its errors name the proxy (by host only: its URL may hold credentials).
 */
function connectToProxy(proxy: URL, tls: ProxyTls): Socket {
  const { host, port } = endpointOf(proxy);
  if (proxy.protocol !== 'https:') return netConnect(port, host);
  const socket = loadTls().connect({
    host,
    port,
    ...(isIP(host) ? {} : { servername: host }),
    secureContext: tls.context(),
    rejectUnauthorized: tls.rejectUnauthorized,
  });
  // First listener: the message is set before anyone else sees the error.
  socket.once('error', (err) => {
    err.message = `the proxy ${proxy.host}: ${err.message}`;
  });
  return socket;
}

/** How an https proxy is reached: the client's TLS context and whether certificates are verified. */
interface ProxyTls {
  context: () => tls.SecureContext;
  rejectUnauthorized: boolean;
}

/** How long a proxy gets to answer CONNECT. */
const TUNNEL_TIMEOUT_MS = 30_000;

/**
 * A CONNECT tunnel through `proxy` to `authority` (host:port): resolves with the socket once the
 * proxy answered 2xx, ready for the TLS handshake with the registry. Messages name the proxy by
 * host only (its URL may hold credentials).
 */
function openTunnel(proxy: URL, authority: string, auth: string | undefined, tls: ProxyTls): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectToProxy(proxy, tls);
    let head: Buffer | undefined;
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) fail(codedError(`the proxy ${proxy.host} answered CONNECT with a head over ${MAX_HEAD_BYTES} bytes`, 'EPROXY'));
        return;
      }
      const statusLine = head.toString('latin1', 0, head.indexOf(CRLF));
      const status = parseStatusLine(statusLine);
      if (!status || status.code < 200 || status.code > 299) {
        fail(codedError(`the proxy ${proxy.host} refused CONNECT ${authority}: ${status ? `${status.code} ${status.reason}`.trim() : JSON.stringify(statusLine.slice(0, 100))}`, 'EPROXY'));
        return;
      }
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      socket.pause();
      // Bytes after the proxy's answer belong to the tunnel.
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    const onClose = () => fail(codedError(`the proxy ${proxy.host} closed the connection before answering CONNECT ${authority}`, 'ECONNRESET'));
    const onTimeout = () => fail(codedError(`the proxy ${proxy.host} did not answer CONNECT ${authority} within ${TUNNEL_TIMEOUT_MS} ms`, 'ETIMEDOUT'));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
    socket.on('timeout', onTimeout);
    socket.setTimeout(TUNNEL_TIMEOUT_MS);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`, 'latin1');
  });
}

/** HTTP/1.1 client with keep-alive connection pools per origin. */
export class HttpClient {
  private readonly pools = new Map<string, OriginPool>();
  private readonly max: number;
  private readonly tls: HttpTlsOptions;
  private readonly proxy: ((target: URL) => URL | undefined) | undefined;
  private context: tls.SecureContext | undefined;

  constructor(opts: HttpClientOptions = {}) {
    this.max = opts.maxSocketsPerOrigin ?? 16;
    this.tls = opts.tls ?? {};
    this.proxy = opts.proxy;
  }

  /**
   * Sends a request to an absolute http: or https: URL and resolves with the response once its
   * head arrived. A reused keep-alive connection that the server had already closed is replaced
   * once, transparently, when the request has no body or a byte body.
   */
  async request(url: URL, opts: HttpRequestOptions): Promise<HttpResponse> {
    const replayable = opts.body === undefined || Buffer.isBuffer(opts.body);
    try {
      return await this.attempt(url, opts, false);
    } catch (err) {
      if (!replayable || !(err as { staleConnection?: boolean }).staleConnection || opts.signal?.aborted) throw err;
      return this.attempt(url, opts, true);
    }
  }

  private async attempt(url: URL, opts: HttpRequestOptions, fresh: boolean): Promise<HttpResponse> {
    const pool = this.poolFor(url);
    const acquired = pool.acquire(fresh, opts.signal);
    const connection = acquired instanceof Connection ? acquired : await acquired;
    return connection.start(url, opts);
  }

  private poolFor(url: URL): OriginPool {
    const https = url.protocol === 'https:';
    if (!https && url.protocol !== 'http:') throw codedError(`unsupported URL scheme ${url.protocol} in ${url.origin}`, 'ERR_INVALID_PROTOCOL');
    const proxy = this.proxy?.(url);
    const key = `${url.protocol}//${url.host}${proxy ? ` via ${proxy.href}` : ''}`;
    let pool = this.pools.get(key);
    if (pool) return pool;
    const { host, port } = endpointOf(url);
    // The origin's last TLS session: later connections resume it (as node:https's agent does),
    // sparing a full handshake each.
    let session: Buffer | undefined;
    const secure = (socket?: Socket): Socket => {
      const tlsSocket = loadTls().connect({
        ...(socket ? { socket } : { host, port }),
        // SNI carries names only.
        ...(isIP(host) ? {} : { servername: host }),
        secureContext: this.secureContext(),
        ...(session ? { session } : {}),
        rejectUnauthorized: this.tls.rejectUnauthorized !== false,
      });
      tlsSocket.on('session', (s: Buffer) => (session = s));
      return tlsSocket;
    };
    if (!proxy) {
      pool = new OriginPool(https ? () => secure() : () => netConnect(port, host), this.max, false, {});
    } else {
      const auth = proxyAuthorization(proxy);
      const proxyTls: ProxyTls = { context: () => this.secureContext(), rejectUnauthorized: this.tls.rejectUnauthorized !== false };
      if (https) {
        const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
        pool = new OriginPool(() => openTunnel(proxy, authority, auth, proxyTls).then(secure), this.max, false, {});
      } else {
        pool = new OriginPool(() => connectToProxy(proxy, proxyTls), this.max, true, auth ? { 'Proxy-Authorization': auth } : {});
      }
    }
    this.pools.set(key, pool);
    return pool;
  }

  /**
   * Opens connections to `url`'s origin until `count` are open (idle, busy or connecting), for
   * requests that will be sent together soon: a new connection takes an event-loop turn before a
   * request can be written to it, and a TLS one a handshake.
   */
  preconnect(url: URL, count: number): void {
    this.poolFor(url).preconnect(count);
  }

  /**
   * The TLS context of every connection (registries and an https proxy): the CA, client
   * certificate and key, set up once. Each context Node makes builds a certificate store of its
   * own (~0.5 ms after the first, which parses Node's root certificates, ~20 ms).
   */
  private secureContext(): tls.SecureContext {
    this.context ??= loadTls().createSecureContext({
      ...(this.tls.ca ? { ca: this.tls.ca } : {}),
      ...(this.tls.cert ? { cert: this.tls.cert } : {}),
      ...(this.tls.key ? { key: this.tls.key } : {}),
    });
    return this.context;
  }

  /** Closes idle connections. */
  close(): void {
    for (const pool of this.pools.values()) pool.close();
  }
}
