// The registry client's HTTP/1.1 transport (src/oci/remote/http1.ts) against real servers on
// loopback: node:http for ordinary exchanges, raw node:net servers where the exact bytes on the
// wire matter (framings, malformed responses, faults), node:https with the throwaway PKI of
// test/env/tls.ts. Servers and clients are closed after each test.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, type HttpClientOptions, type HttpRequestOptions, type HttpResponse } from '../../src/oci/remote/http1.js';
import { createTestPki, type TestPki } from '../env/tls.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
type CodedError = Error & { code?: string };

// ---- harness -------------------------------------------------------------------------------

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(opts: HttpClientOptions = {}): HttpClient {
  const c = new HttpClient(opts);
  cleanups.push(() => c.close());
  return c;
}

interface Served {
  url: (path?: string) => URL;
  /** TCP connections accepted so far. */
  connections: () => number;
}

async function listen(server: Server, opts: { host?: string; port?: number; scheme?: string } = {}): Promise<Served> {
  const host = opts.host ?? '127.0.0.1';
  let connections = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { url: (path = '/') => new URL(`${opts.scheme ?? 'http'}://${authority}${path}`), connections: () => connections };
}

const httpServer = (handler: RequestListener, opts?: { host?: string; port?: number }) => listen(createHttpServer(handler), opts);
const rawServer = (onConnection: (socket: Socket) => void) => listen(createNetServer((s) => { s.on('error', () => undefined); onConnection(s); }));

/** Calls `onRequest` for each request (head, Content-Length body) arriving on a raw socket. */
function onRequests(socket: Socket, onRequest: (head: string, body: Buffer, index: number) => void): void {
  let buf = Buffer.alloc(0);
  let index = 0;
  socket.on('data', (data: Buffer) => {
    buf = Buffer.concat([buf, data]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const body = buf.subarray(end + 4, end + 4 + length);
      buf = buf.subarray(end + 4 + length);
      onRequest(head, body, index++);
    }
  });
}

/** A raw server that answers every request with the same bytes (kept alive unless they say otherwise). */
const cannedServer = (response: string | Buffer | ((index: number) => string | Buffer)) =>
  rawServer((s) => onRequests(s, (_h, _b, i) => s.write(typeof response === 'function' ? response(i) : response)));

/** A promise the test opens: lets a server wait until the client is ready for what comes next. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads a response body to its end or its error. */
function outcome(res: HttpResponse): Promise<{ data: Buffer; error: CodedError | undefined }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve({ data: Buffer.concat(chunks), error: undefined }));
    res.on('error', (error) => resolve({ data: Buffer.concat(chunks), error }));
  });
}

async function send(c: HttpClient, url: URL, opts: HttpRequestOptions = { method: 'GET' }): Promise<{ res: HttpResponse; body: Buffer }> {
  const res = await c.request(url, opts);
  return { res, body: await readAll(res) };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Every request as node:http received it, answered with a JSON summary. */
interface Seen { method: string; url: string; rawHeaders: string[]; headers: Record<string, string | string[] | undefined>; body: string; sha256: string }
async function echoServer(): Promise<Served & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const served = await httpServer(async (req, res) => {
    const body = await readAll(req);
    const summary: Seen = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: body.toString('latin1'), sha256: sha256(body) };
    seen.push(summary);
    res.setHeader('x-method', summary.method);
    res.end(JSON.stringify(summary));
  });
  return { ...served, seen };
}

function generated(size: number, chunk = 64 * 1024): Readable {
  let left = size;
  return new Readable({
    read() {
      const n = Math.min(chunk, left);
      left -= n;
      this.push(n > 0 ? randomBytes(n) : null);
    },
  });
}

/** Runs a TypeScript snippet in a child node process (tsx) with `HttpClient` imported. */
async function runChild(script: string, args: string[], guardMs = 30_000): Promise<{ status: number | string; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lading-http1-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'child.mts');
  writeFileSync(file, `import { HttpClient } from ${JSON.stringify(join(REPO, 'src/oci/remote/http1.ts'))};\n${script}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // A guard, not a measurement: a child that never exits is killed and the test fails.
  const guard = setTimeout(() => child.kill('SIGKILL'), guardMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(guard);
  if (/Cannot find (package|module) 'tsx'/.test(stderr)) throw new Error('tsx is missing: run `npm install` in the repository');
  return { status: code ?? signal ?? 'unknown', stdout, stderr };
}

// ---- tests ---------------------------------------------------------------------------------

describe('requests', () => {
  it.each(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'])('%s reaches the server with its path, query and body', async (method) => {
    const server = await echoServer();
    const withBody = ['PUT', 'POST', 'PATCH'].includes(method);
    const { res, body } = await send(client(), server.url('/v2/a/b?n=1&last=x'), { method, ...(withBody ? { body: Buffer.from(`payload of ${method}`) } : {}) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-method']).toBe(method);
    expect(res.complete).toBe(true);
    expect(server.seen).toMatchObject([{ method, url: '/v2/a/b?n=1&last=x', body: withBody ? `payload of ${method}` : '' }]);
    if (method === 'HEAD') expect(body.length).toBe(0);
    else expect(JSON.parse(body.toString()).method).toBe(method);
  });

  it('sends the headers as given (names, values, numbers) and exactly one Host', async () => {
    const server = await echoServer();
    await send(client(), server.url(), { method: 'GET', headers: { Accept: 'application/vnd.oci.image.index.v1+json, */*', 'X-Count': 42, authorization: 'Bearer a.b.c', Host: 'elsewhere.example' } });
    const raw = server.seen[0]!.rawHeaders;
    const pairs = raw.flatMap((v, i) => (i % 2 === 0 ? [[v, raw[i + 1]]] : []));
    expect(pairs).toEqual(expect.arrayContaining([['Accept', 'application/vnd.oci.image.index.v1+json, */*'], ['X-Count', '42'], ['authorization', 'Bearer a.b.c']]));
    expect(pairs.filter(([n]) => n!.toLowerCase() === 'host')).toEqual([['Host', server.url().host]]);
  });

  it('Host carries the port and brackets an IPv6 address', async () => {
    const hostHeader = async (listenOn: { host: string; port?: number }): Promise<[string | undefined, string]> => {
      let host: string | undefined;
      const server = await httpServer((req, res) => res.end((host = req.headers.host)), listenOn);
      await send(client(), server.url());
      return [host, server.url().port];
    };
    const [v4, port4] = await hostHeader({ host: '127.0.0.1' });
    expect(v4).toBe(`127.0.0.1:${port4}`);
    const [v6, port6] = await hostHeader({ host: '::1' });
    expect(v6).toBe(`[::1]:${port6}`);
  });

  it('POST, PUT and PATCH without a body send Content-Length: 0; GET and DELETE send no framing', async () => {
    const server = await echoServer();
    const c = client();
    for (const method of ['POST', 'PUT', 'PATCH', 'GET', 'DELETE']) await send(c, server.url(), { method });
    const framing = server.seen.map((s) => [s.method, s.headers['content-length'], s.headers['transfer-encoding']]);
    expect(framing).toEqual([['POST', '0', undefined], ['PUT', '0', undefined], ['PATCH', '0', undefined], ['GET', undefined, undefined], ['DELETE', undefined, undefined]]);
  });

  it.each([
    ['a CR LF in a value', { 'X-A': 'v\r\nX-Injected: yes' }, 'ERR_INVALID_CHAR'],
    ['a bare LF in a value', { 'X-A': 'v\nX-Injected: yes' }, 'ERR_INVALID_CHAR'],
    ['a NUL in a value', { 'X-A': 'v\0w' }, 'ERR_INVALID_CHAR'],
    ['another control character (ESC) in a value', { 'X-A': 'v\x1bw' }, 'ERR_INVALID_CHAR'],
    ['characters that become CR LF as latin1 in a value', { 'X-A': 'v\u010d\u010aX-Injected: yes' }, 'ERR_INVALID_CHAR'],
    ['a CR LF in a name', { 'X-A\r\nX-Injected': 'yes' }, 'ERR_INVALID_HTTP_TOKEN'],
    ['a NUL in a name', { 'X-A\0': 'yes' }, 'ERR_INVALID_HTTP_TOKEN'],
  ])('refuses %s before anything is sent', async (_what, headers, code) => {
    const received: string[] = [];
    const server = await rawServer((s) => {
      s.on('data', (d: Buffer) => received.push(d.toString('latin1')));
      onRequests(s, () => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
    });
    const c = client();
    await expect(c.request(server.url('/bad'), { method: 'GET', headers })).rejects.toMatchObject({ code });
    await send(c, server.url('/good'));
    expect(received.join('')).toMatch(/^GET \/good HTTP\/1\.1\r\nHost: [^\r\n]+\r\n\r\n$/);
  });

  it('refuses an invalid method and a Content-Length that does not match a byte body', async () => {
    const server = await echoServer();
    const c = client();
    await expect(c.request(server.url(), { method: 'GET /x HTTP/1.1\r\n' })).rejects.toMatchObject({ code: 'ERR_INVALID_HTTP_TOKEN' });
    await expect(c.request(server.url(), { method: 'PUT', headers: { 'Content-Length': 3 }, body: Buffer.from('four') })).rejects.toMatchObject({ code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' });
    await expect(c.request(new URL('ftp://127.0.0.1/x'), { method: 'GET' })).rejects.toMatchObject({ code: 'ERR_INVALID_PROTOCOL' });
    expect(server.seen).toEqual([]);
  });
});

describe('response framing', () => {
  /** Two GETs on one client: the framing of the first must leave the connection usable. */
  async function twice(server: Served, path = '/'): Promise<Array<{ res: HttpResponse; body: Buffer }>> {
    const c = client();
    return [await send(c, server.url(path)), await send(c, server.url(path))];
  }

  it('Content-Length body, then the connection is reused', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world');
    const [a, b] = await twice(server);
    expect([a!.body.toString(), b!.body.toString(), a!.res.complete, a!.res.statusMessage, a!.res.httpVersion]).toEqual(['hello world', 'hello world', true, 'OK', '1.1']);
    expect(server.connections()).toBe(1);
  });

  it('chunked: many chunks, chunk extensions, trailers; the connection is reused after the last CRLF', async () => {
    const parts = Array.from({ length: 300 }, (_, i) => randomBytes((i * 37) % 1500 + 1));
    const encoded = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...parts.flatMap((p, i) => [Buffer.from(`${(i % 2 ? p.length.toString(16).toUpperCase() : p.length.toString(16))}${i % 3 === 0 ? ';name=value;x="q"' : ''}\r\n`), p, Buffer.from('\r\n')]),
      Buffer.from('0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n'),
    ]);
    const server = await cannedServer(encoded);
    const [a, b] = await twice(server);
    expect(sha256(a!.body)).toBe(sha256(Buffer.concat(parts)));
    expect(sha256(b!.body)).toBe(sha256(Buffer.concat(parts)));
    expect(a!.res.complete).toBe(true);
    expect(server.connections()).toBe(1);
  });

  it('chunked, written one byte per TCP write', async () => {
    const wire = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n');
    const server = await rawServer((s) => {
      s.setNoDelay(true);
      onRequests(s, async () => {
        for (const byte of wire) {
          s.write(Buffer.of(byte));
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    const [a, b] = await twice(server);
    expect([a!.body.toString(), b!.body.toString(), a!.res.complete]).toEqual(['hello world', 'hello world', true]);
    expect(server.connections()).toBe(1);
  });

  it('close-delimited (no length): the body ends when the server closes; the connection is not reused', async () => {
    const server = await rawServer((s) => onRequests(s, () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end')));
    const [a, b] = await twice(server);
    expect([a!.body.toString(), b!.body.toString(), a!.res.complete]).toEqual(['until the end', 'until the end', true]);
    expect(server.connections()).toBe(2);
  });

  it('HEAD with a Content-Length has no body, and the connection is reused', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDocker-Content-Digest: sha256:abc\r\n\r\n');
    const c = client();
    for (let i = 0; i < 2; i++) {
      const { res, body } = await send(c, server.url(), { method: 'HEAD' });
      expect([res.statusCode, res.headers['content-length'], body.length, res.complete]).toEqual([200, '1234', 0, true]);
    }
    expect(server.connections()).toBe(1);
  });

  it.each([
    ['204', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: "x"\r\n\r\n'],
  ])('%s has no body whatever its headers say', async (status, wire) => {
    const server = await cannedServer(wire);
    const [a, b] = await twice(server);
    expect([a!.res.statusCode, a!.body.length, b!.res.statusCode, a!.res.complete]).toEqual([Number(status), 0, Number(status), true]);
    expect(server.connections()).toBe(1);
  });

  it('skips 100 and 103 interim responses (split across writes) and returns the final one', async () => {
    const server = await rawServer((s) => onRequests(s, async () => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early');
      await new Promise((r) => setImmediate(r));
      s.write(' Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /v2/x\r\nContent-Length: 2\r\n\r\nok');
    }));
    const { res, body } = await send(client(), server.url(), { method: 'PUT', body: Buffer.from('x') });
    expect([res.statusCode, res.headers['location'], res.headers['link'], body.toString()]).toEqual([201, '/v2/x', undefined, 'ok']);
  });

  it.each([
    ['a four-digit status', 'HTTP/1.1 2000 OK'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK'],
    ['no space after the version', 'HTTP/1.1200 OK'],
    ['a status that is not a number', 'HTTP/1.1 2x0 OK'],
    ['a tab before the reason', 'HTTP/1.1 200\tOK'],
  ])('refuses a status line with %s', async (_what, line) => {
    const server = await cannedServer(`${line}\r\nContent-Length: 0\r\n\r\n`);
    await expect(client().request(server.url(), { method: 'GET' })).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
  });

  it('takes a status line without a reason phrase, and one with spaces in it', async () => {
    const bare = await cannedServer('HTTP/1.1 204\r\n\r\n');
    const spaced = await cannedServer('HTTP/1.1 404 Not  Found here\r\nContent-Length: 0\r\n\r\n');
    const a = (await send(client(), bare.url())).res;
    const b = (await send(client(), spaced.url())).res;
    expect([a.statusCode, a.statusMessage, b.statusCode, b.statusMessage]).toEqual([204, '', 404, 'Not  Found here']);
  });

  it('refuses an unasked-for 101 Switching Protocols', async () => {
    const server = await cannedServer('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n');
    await expect(client().request(server.url(), { method: 'GET' })).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
  });

  it('repeated headers: set-cookie becomes a list, others are joined with ", ", first-wins ones keep the first', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Multi: one\r\nset-cookie: b=2\r\nx-multi: two\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 0\r\nContent-Length: 0\r\nX-Space:   padded  \r\n\r\n');
    const { res } = await send(client(), server.url());
    expect(res.headers).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'x-multi': 'one, two', 'content-type': 'text/plain', 'content-length': '0', 'x-space': 'padded' });
  });

  it.each([
    ['conflicting Content-Length headers', 'Content-Length: 5\r\nContent-Length: 6\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a Content-Length that is not a number', 'Content-Length: 5x\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['an obsolete folded header line', 'X-A: one\r\n  two\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a header line without a colon', 'Broken header\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ])('refuses %s', async (_what, headers, code) => {
    const server = await cannedServer(`HTTP/1.1 200 OK\r\n${headers}\r\nhello`);
    await expect(client().request(server.url(), { method: 'GET' })).rejects.toMatchObject({ code });
  });
});

describe('response bodies', () => {
  it.each(['content-length', 'chunked'])('a 64 MiB %s download arrives intact through a slow consumer, with backpressure', async (framing) => {
    let sent = '';
    const server = await httpServer(async (_req, res) => {
      const hash = createHash('sha256');
      if (framing === 'content-length') res.setHeader('Content-Length', 64 * MiB);
      for (let i = 0; i < 64; i++) {
        const block = randomBytes(MiB);
        hash.update(block);
        if (!res.write(block)) await once(res, 'drain');
      }
      sent = hash.digest('hex');
      res.end();
    });
    const res = await client().request(server.url('/blob'), { method: 'GET' });
    expect(res.headers['transfer-encoding']).toBe(framing === 'chunked' ? 'chunked' : undefined);
    const hash = createHash('sha256');
    let maxBuffered = 0;
    await pipeline(res, new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        maxBuffered = Math.max(maxBuffered, res.readableLength);
        setTimeout(done, 1);
      },
    }));
    expect(hash.digest('hex')).toBe(sent);
    expect(res.complete).toBe(true);
    // Without backpressure the socket would keep reading and the response would buffer megabytes.
    expect(maxBuffered).toBeLessThan(MiB);
  });

  it.each([
    ['fewer bytes than its Content-Length', 'Content-Length: 1000\r\n\r\n', 'x'.repeat(400), 400],
    ['a chunked body cut mid-chunk', 'Transfer-Encoding: chunked\r\n\r\n', `400\r\n${'x'.repeat(100)}`, 100],
  ])('a body cut short by the server (%s) fails with ECONNRESET and complete false', async (_what, headers, partial, got) => {
    const cut = gate();
    const server = await rawServer((s) => onRequests(s, async () => {
      s.write(`HTTP/1.1 200 OK\r\n${headers}${partial}`);
      await cut.opened;
      s.end();
    }));
    const res = await client().request(server.url(), { method: 'GET' });
    const result = outcome(res);
    cut.open();
    const { data, error } = await result;
    expect([error?.code, data.length, res.complete]).toEqual(['ECONNRESET', got, false]);
  });
});

describe('request bodies', () => {
  it('a Buffer body is sent with its Content-Length', async () => {
    const server = await echoServer();
    const body = randomBytes(300_000);
    await send(client(), server.url(), { method: 'PUT', body });
    expect([server.seen[0]!.headers['content-length'], server.seen[0]!.sha256]).toEqual([String(body.length), sha256(body)]);
  });

  it.each([
    ['with a Content-Length: sent as exactly those bytes', true],
    ['without a length: sent chunked', false],
  ])('a stream body %s', async (_what, withLength) => {
    const server = await echoServer();
    const size = 5 * MiB + 123;
    const hash = createHash('sha256');
    const stream = generated(size).on('data', (d: Buffer) => hash.update(d));
    await send(client(), server.url(), { method: 'PATCH', body: stream, ...(withLength ? { headers: { 'Content-Length': size } } : {}) });
    const seen = server.seen[0]!;
    expect([seen.headers['content-length'], seen.headers['transfer-encoding']]).toEqual(withLength ? [String(size), undefined] : [undefined, 'chunked']);
    expect(seen.sha256).toBe(hash.digest('hex'));
  });

  it('an empty stream without a length is sent as an empty chunked body', async () => {
    const server = await echoServer();
    await send(client(), server.url(), { method: 'POST', body: Readable.from([]) });
    expect([server.seen[0]!.headers['transfer-encoding'], server.seen[0]!.body]).toEqual(['chunked', '']);
  });

  it.each([
    ['more bytes than its Content-Length', 10, ['0123456789abcdef']],
    ['fewer bytes than its Content-Length', 100, ['0123456789']],
  ])('a stream that yields %s fails the request', async (_what, length, chunks) => {
    const server = await echoServer();
    const body = Readable.from(chunks.map((c) => Buffer.from(c)));
    await expect(client().request(server.url(), { method: 'PUT', headers: { 'Content-Length': length }, body })).rejects.toMatchObject({ code: 'ERR_HTTP_CONTENT_LENGTH_MISMATCH' });
    expect(server.seen).toEqual([]);
  });

  it('a stream that errors mid-way fails the request with its error', async () => {
    const server = await echoServer();
    const failure = new Error('disk on fire');
    const body = Readable.from((async function* () {
      yield Buffer.from('first part');
      await new Promise((r) => setImmediate(r));
      throw failure;
    })());
    await expect(client().request(server.url(), { method: 'PUT', body })).rejects.toBe(failure);
    expect(server.seen).toEqual([]);
  });

  it('an already errored or destroyed stream fails at once', async () => {
    const server = await echoServer();
    const c = client();
    const failure = new Error('broken before use');
    const errored = new Readable({ read() {} }).on('error', () => undefined);
    errored.destroy(failure);
    await expect(c.request(server.url(), { method: 'PUT', body: errored })).rejects.toBe(failure);
    const destroyed = new Readable({ read() {} });
    destroyed.destroy();
    await expect(c.request(server.url(), { method: 'PUT', body: destroyed })).rejects.toThrow(/closed before it was sent/);
    expect(server.seen).toEqual([]);
  });
});

describe('keep-alive', () => {
  it('sequential requests reuse one connection', async () => {
    const server = await echoServer();
    const c = client();
    for (let i = 0; i < 3; i++) await send(c, server.url(`/${i}`), i === 1 ? { method: 'PUT', body: Buffer.from('b') } : { method: 'GET' });
    expect(server.seen.map((s) => s.url)).toEqual(['/0', '/1', '/2']);
    expect(server.connections()).toBe(1);
  });

  it('concurrent requests open up to maxSocketsPerOrigin connections; the rest queue', async () => {
    const total = 5;
    const max = 2;
    const held: ServerResponse[] = [];
    let served = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    // Answers only when as many requests as the client may have in flight arrived.
    const server = await httpServer((_req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      held.push(res);
      if (held.length < Math.min(max, total - served)) return;
      for (const r of held.splice(0)) {
        served++;
        inFlight--;
        r.end('ok');
      }
    });
    const c = client({ maxSocketsPerOrigin: max });
    const bodies = await Promise.all(Array.from({ length: total }, (_, i) => send(c, server.url(`/${i}`)).then((r) => r.body.toString())));
    expect(bodies).toEqual(Array(total).fill('ok'));
    expect([server.connections(), maxInFlight]).toEqual([max, max]);
  });

  it('a response with Connection: close is not reused', async () => {
    const server = await httpServer((_req, res) => res.setHeader('Connection', 'close').end('bye'));
    const c = client();
    expect((await send(c, server.url())).body.toString()).toBe('bye');
    expect((await send(c, server.url())).body.toString()).toBe('bye');
    expect(server.connections()).toBe(2);
  });

  it('close among other Connection options ends reuse; an option merely containing "close" does not', async () => {
    const listed = await cannedServer('HTTP/1.1 200 OK\r\nConnection: keep-alive , Close\r\nContent-Length: 2\r\n\r\nok');
    const c1 = client();
    await send(c1, listed.url());
    await send(c1, listed.url());
    const lookalike = await cannedServer('HTTP/1.1 200 OK\r\nConnection: x-close-later\r\nContent-Length: 2\r\n\r\nok');
    const c2 = client();
    await send(c2, lookalike.url());
    await send(c2, lookalike.url());
    expect([listed.connections(), lookalike.connections()]).toEqual([2, 1]);
  });

  it('Transfer-Encoding with a Content-Length: the chunked body is read, the connection is not reused', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    const c = client();
    expect((await send(c, server.url())).body.toString()).toBe('hello');
    expect((await send(c, server.url())).body.toString()).toBe('hello');
    expect(server.connections()).toBe(2);
  });

  it('an HTTP/1.0 response is not reused', async () => {
    const server = await cannedServer('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const c = client();
    const { res } = await send(c, server.url());
    await send(c, server.url());
    expect([res.httpVersion, server.connections()]).toEqual(['1.0', 2]);
  });

  it('a server that closes idle kept-alive connections: each next request still goes through', async () => {
    const server = await rawServer((s) => onRequests(s, () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
    const c = client();
    for (let i = 0; i < 3; i++) expect((await send(c, server.url())).body.toString()).toBe('ok');
    expect(server.connections()).toBe(3);
  });

  /** Answers the first request on each connection and drops the connection on the second. */
  async function droppingServer(): Promise<Served & { bodies: string[] }> {
    const bodies: string[] = [];
    const served = await rawServer((s) => onRequests(s, (_head, body, index) => {
      if (index > 0) return void s.destroy();
      bodies.push(body.toString());
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }));
    return { ...served, bodies };
  }

  it.each([
    ['without a body', undefined],
    ['with a Buffer body', Buffer.from('replayed bytes')],
  ])('a kept-alive connection closed as the request arrives is replaced once (%s)', async (_what, body) => {
    const server = await droppingServer();
    const c = client();
    await send(c, server.url());
    const { res, body: got } = await send(c, server.url(), { method: body ? 'PUT' : 'GET', ...(body ? { body } : {}) });
    expect([res.statusCode, got.toString(), server.connections()]).toEqual([200, 'ok', 2]);
    expect(server.bodies).toEqual(['', body?.toString() ?? '']);
  });

  it('a stream body on a stale connection is not replayed: the request fails', async () => {
    const server = await droppingServer();
    const c = client();
    await send(c, server.url());
    await expect(c.request(server.url(), { method: 'PUT', body: Readable.from([Buffer.from('once')]), headers: { 'Content-Length': 4 } })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(server.connections()).toBe(1);
  });

  it('an idle pooled connection does not keep the process alive', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); // never closes
    const child = await runChild(
      `const c = new HttpClient();
       const res = await c.request(new URL(process.argv[2]!), { method: 'GET' });
       for await (const _ of res);
       console.log('done', res.statusCode, res.complete);`,
      [server.url().href],
    );
    expect(child.status, `the child did not exit on its own (killed by the guard); stderr: ${child.stderr}`).toBe(0);
    expect(child.stdout.trim()).toBe('done 200 true');
    expect(server.connections()).toBe(1);
  });

  it('a request waiting for a connection can be aborted; the pool keeps working', async () => {
    const release = gate();
    const server = await httpServer(async (_req, res) => {
      await release.opened;
      res.end('ok');
    });
    const c = client({ maxSocketsPerOrigin: 1 });
    const first = send(c, server.url('/first'));
    const ac = new AbortController();
    const queued = c.request(server.url('/queued'), { method: 'GET', signal: ac.signal });
    ac.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    release.open();
    expect((await first).body.toString()).toBe('ok');
    expect((await send(c, server.url('/after'))).body.toString()).toBe('ok');
    expect(server.connections()).toBe(1);
  });
});

describe('preconnect', () => {
  /** Resolves once `served` accepted `n` connections. */
  async function accepted(served: Served, n: number): Promise<void> {
    while (served.connections() < n) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  it('opens connections ahead; as many concurrent requests then use them and open none', async () => {
    const release = gate();
    let arrived = 0;
    const server = await httpServer(async (_req, res) => {
      if (++arrived === 3) release.open();
      await release.opened;
      res.end('ok');
    });
    const c = client();
    c.preconnect(server.url(), 3);
    await accepted(server, 3);
    const bodies = await Promise.all([0, 1, 2].map((i) => send(c, server.url(`/${i}`)).then((r) => r.body.toString())));
    expect([bodies, server.connections()]).toEqual([['ok', 'ok', 'ok'], 3]);
  });

  it('counts the connections already open, busy or idle, and stays within maxSocketsPerOrigin', async () => {
    const server = await echoServer();
    const c = client({ maxSocketsPerOrigin: 4 });
    await send(c, server.url('/first'));
    c.preconnect(server.url(), 2);
    await accepted(server, 2);
    c.preconnect(server.url(), 2);
    c.preconnect(server.url(), 10);
    await accepted(server, 4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.connections()).toBe(4);
  });

  it('a connection opened ahead that the server dropped: the request still goes through', async () => {
    let count = 0;
    const server = await rawServer((s) => {
      // The first connection is closed at once, as a server with a short idle limit would.
      if (++count === 1) return void s.destroy();
      onRequests(s, () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    });
    const c = client();
    c.preconnect(server.url(), 1);
    await accepted(server, 1);
    expect((await send(c, server.url())).body.toString()).toBe('ok');
    expect(server.connections()).toBe(2);
  });

  it('to a port nothing listens on: nothing is thrown then, and the request fails with ECONNREFUSED', async () => {
    const server = await httpServer((_req, res) => res.end());
    const url = server.url();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); // the port is free again
    const c = client();
    c.preconnect(url, 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(c.request(url, { method: 'GET' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('connections opened ahead and never used do not keep the process alive', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); // never closes
    const child = await runChild(
      `const c = new HttpClient();
       c.preconnect(new URL(process.argv[2]!), 3);
       console.log('asked');`,
      [server.url().href],
    );
    expect(child.status, `the child did not exit on its own (killed by the guard); stderr: ${child.stderr}`).toBe(0);
    expect(child.stdout.trim()).toBe('asked');
  });
});

describe('limits and errors', () => {
  it('a response head over 64 KiB fails with HPE_HEADER_OVERFLOW (the server never ends it)', async () => {
    const server = await rawServer((s) => onRequests(s, () => {
      s.write('HTTP/1.1 200 OK\r\n');
      for (let i = 0; i < 1100; i++) s.write(`X-Header-${i}: ${'v'.repeat(50)}\r\n`);
    }));
    await expect(client().request(server.url(), { method: 'GET' })).rejects.toMatchObject({ code: 'HPE_HEADER_OVERFLOW' });
  });

  it('a 60 KiB response head is accepted', async () => {
    const server = await cannedServer(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(60 * 1024)}\r\nContent-Length: 2\r\n\r\nok`);
    const { res, body } = await send(client(), server.url());
    expect([(res.headers['x-big'] as string).length, body.toString()]).toEqual([60 * 1024, 'ok']);
  });

  it('a garbage status line fails with HPE_INVALID_CONSTANT', async () => {
    const server = await cannedServer('HELLO THERE\r\nX: y\r\n\r\n');
    await expect(client().request(server.url(), { method: 'GET' })).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
  });

  it('a server that is not HTTP (an SSH banner, then waiting) fails at the end of its first line', async () => {
    const server = await rawServer((s) => s.write('SSH-2.0-OpenSSH_9.6\r\n'));
    const timeoutError = () => Object.assign(new Error('timed out'), { code: 'TEST_TIMEOUT' });
    await expect(client().request(server.url(), { method: 'GET', timeoutMs: 5_000, timeoutError })).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
  });

  it.each([
    ['a chunk-size line that is not hex', 'zz\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk not followed by CRLF', '3\r\nabcX\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk-size line over 4 KiB', `1;${'e'.repeat(5000)}\r\n`, 'HPE_CHUNK_EXTENSIONS_OVERFLOW'],
  ])('%s fails the body', async (_what, chunks, code) => {
    const go = gate();
    const server = await rawServer((s) => onRequests(s, async () => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      await go.opened;
      s.write(chunks);
    }));
    const res = await client().request(server.url(), { method: 'GET' });
    const result = outcome(res);
    go.open();
    expect([(await result).error?.code, res.complete]).toEqual([code, false]);
  });

  it('a malformed body in the same segment as the head is no uncaught exception: readers attached after the await get the error', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    const child = await runChild(
      `const c = new HttpClient();
       const url = new URL(process.argv[2]!);
       const viaIterator = await c.request(url, { method: 'GET' });
       try { for await (const _ of viaIterator); console.log('iterator: no error'); } catch (err) { console.log('iterator:', (err as { code?: string }).code); }
       const viaEvents = await c.request(url, { method: 'GET' }); // as client.ts's readBody reads
       console.log('events:', await new Promise((resolve) => {
         viaEvents.on('error', (err: { code?: string }) => resolve(err.code));
         viaEvents.on('end', () => resolve('end'));
         viaEvents.resume();
       }));`,
      [server.url().href],
      15_000,
    );
    expect({ status: child.status, stdout: child.stdout.trim() }, child.stderr).toEqual({ status: 0, stdout: 'iterator: HPE_INVALID_CHUNK_SIZE\nevents: HPE_INVALID_CHUNK_SIZE' });
  });

  const timeoutError = () => Object.assign(new Error('no answer in time'), { code: 'TEST_TIMEOUT' });

  it('a server that never answers: the request fails with the timeoutError', async () => {
    const server = await rawServer(() => undefined);
    await expect(client().request(server.url(), { method: 'GET', timeoutMs: 200, timeoutError })).rejects.toMatchObject({ code: 'TEST_TIMEOUT', message: 'no answer in time' });
  });

  it('a server that stalls mid-body: the body fails with the timeoutError', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
    const res = await client().request(server.url(), { method: 'GET', timeoutMs: 200, timeoutError });
    const { data, error } = await outcome(res);
    expect([data.toString(), error?.code, res.complete]).toEqual(['partial', 'TEST_TIMEOUT', false]);
  });

  it('the idle limit counts from the last byte: a slow but steady body, or upload, outlasts it', async () => {
    // A byte every 40 ms for 400 ms, with a 150 ms limit: never idle that long.
    const slow = await rawServer((s) =>
      onRequests(s, () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n');
        let sent = 0;
        const t = setInterval(() => {
          s.write('x');
          if (++sent === 10) clearInterval(t);
        }, 40);
        s.on('close', () => clearInterval(t));
      }),
    );
    const res = await client().request(slow.url(), { method: 'GET', timeoutMs: 150, timeoutError });
    const { data, error } = await outcome(res);
    expect([data.toString(), error]).toEqual(['x'.repeat(10), undefined]);
    // An upload that trickles (a chunk every 40 ms) to a server that answers at its end.
    const sink = await echoServer();
    const body = new Readable({ read() {} });
    let chunks = 0;
    const t = setInterval(() => {
      body.push(Buffer.from('y'));
      if (++chunks === 10) {
        clearInterval(t);
        body.push(null);
      }
    }, 40);
    const up = await send(client(), sink.url('/up'), { method: 'PUT', body, timeoutMs: 150, timeoutError });
    expect(JSON.parse(up.body.toString()).body).toBe('y'.repeat(10));
  });

  it('a response that sets a shorter idle limit for its body gets it', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
    const res = await client().request(server.url(), { method: 'GET', timeoutMs: 60_000, timeoutError });
    res.setTimeout(100);
    const { error } = await outcome(res);
    expect(error?.code).toBe('TEST_TIMEOUT');
  });

  it('an AbortSignal aborts a pending request, an already aborted one fails at once', async () => {
    const arrived = gate();
    const server = await rawServer((s) => onRequests(s, () => arrived.open()));
    const c = client();
    const ac = new AbortController();
    const pending = c.request(server.url(), { method: 'GET', signal: ac.signal });
    await arrived.opened;
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(c.request(server.url(), { method: 'GET', signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('an AbortSignal aborts a body being read', async () => {
    const server = await cannedServer('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst bytes');
    const ac = new AbortController();
    const res = await client().request(server.url(), { method: 'GET', signal: ac.signal });
    res.once('data', () => ac.abort());
    const { data, error } = await outcome(res);
    expect([data.toString(), error?.name, error?.code, res.complete]).toEqual(['first bytes', 'AbortError', 'ABORT_ERR', false]);
  });

  it('a refused connection fails with ECONNREFUSED', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    await expect(client().request(new URL(`http://127.0.0.1:${port}/`), { method: 'GET' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('TLS', () => {
  let pki: TestPki;
  let pkiDir: string;
  const pem = (file: string) => readFileSync(file);
  beforeAll(() => {
    pkiDir = mkdtempSync(join(tmpdir(), 'lading-http1-pki-'));
    pki = createTestPki(pkiDir);
  });
  afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));

  /** An https server that asks for (but does not require) a client certificate and reports it. */
  const httpsServer = () => listen(createHttpsServer(
    { key: pem(pki.serverKeyFile), cert: pem(pki.serverCertFile), ca: pem(pki.caFile), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      res.end(JSON.stringify({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject?.CN ?? null }));
    },
  ), { scheme: 'https' });

  it('works with the CA given, over one kept-alive connection', async () => {
    const server = await httpsServer();
    const c = client({ tls: { ca: pem(pki.caFile) } });
    for (let i = 0; i < 2; i++) expect(JSON.parse((await send(c, server.url())).body.toString())).toEqual({ authorized: false, cn: null });
    expect(server.connections()).toBe(1);
  });

  it('a new connection to the same origin resumes the TLS session', async () => {
    const server = await listen(createHttpsServer({ key: pem(pki.serverKeyFile), cert: pem(pki.serverCertFile) }, (req, res) => {
      // One request per connection, so the second request needs a new one.
      res.setHeader('Connection', 'close');
      res.end(String((req.socket as TLSSocket).isSessionReused()));
    }), { scheme: 'https' });
    const c = client({ tls: { ca: pem(pki.caFile) } });
    const reused: string[] = [];
    for (let i = 0; i < 2; i++) reused.push((await send(c, server.url())).body.toString());
    expect(reused).toEqual(['false', 'true']);
    expect(server.connections()).toBe(2);
  });

  it('is verified by default: without the CA the certificate is refused', async () => {
    const server = await httpsServer();
    const err = await client().request(server.url(), { method: 'GET' }).catch((e: CodedError) => e);
    expect((err as CodedError).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
  });

  it('rejectUnauthorized: false accepts the unknown certificate', async () => {
    const server = await httpsServer();
    const { res } = await send(client({ tls: { rejectUnauthorized: false } }), server.url());
    expect(res.statusCode).toBe(200);
  });

  it('presents the client certificate when the server asks for one', async () => {
    const server = await httpsServer();
    const c = client({ tls: { ca: pem(pki.caFile), cert: pem(pki.clientCertFile), key: pem(pki.clientKeyFile) } });
    expect(JSON.parse((await send(c, server.url())).body.toString())).toEqual({ authorized: true, cn: 'lading test client' });
  });

  it('https to a plain-http port fails with a TLS error, not a hang', async () => {
    const server = await echoServer();
    const url = new URL(server.url().href.replace(/^http:/, 'https:'));
    const err = (await client({ tls: { ca: pem(pki.caFile) } }).request(url, { method: 'GET' }).catch((e: CodedError) => e)) as CodedError;
    expect(`${err.code} ${err.message}`).toMatch(/SSL|TLS|EPROTO|wrong version number/i);
  });
});
