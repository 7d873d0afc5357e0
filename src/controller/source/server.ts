// The artifact HTTP server: the storage root served as static files, as source-controller serves
// it (`http.FileServer` on `--storage-addr`): GET and HEAD, Content-Length, Last-Modified, 404 for
// anything missing. Stricter than Go's file server on purpose: no directory listings (the root
// answers 200 with an empty body, for the readiness probe `GET /`), no `..` or encoded
// slashes, and a file is served only when its real path (every symlink resolved) is inside the
// real storage root — `latest.tar.gz` links inside the root work, a link planted to /etc/passwd
// does not.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, sep } from 'node:path';
import { SourceError } from './errors.js';
import type { ArtifactStorage } from './storage.js';

export interface ArtifactServerOptions {
  storage: ArtifactStorage;
  /** `--storage-addr`: `host:port`, `:port` (all interfaces) or a port; port 0 picks a free one. */
  address: string;
  /** How long close() lets requests in flight finish before cutting them; default 5 s (as Flux). */
  shutdownGraceMs?: number;
}

export interface ArtifactServer {
  /** `http://host:port` the server listens on. */
  url: string;
  port: number;
  close(): Promise<void>;
}

function parseAddress(address: string): { host: string | undefined; port: number } {
  const a = address.trim();
  let host: string | undefined;
  let port: string;
  if (/^\d+$/.test(a)) {
    port = a;
  } else {
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(a);
    if (!m) throw new SourceError('SERVER', `invalid storage address "${address}" (want host:port or :port)`);
    host = m[1] ?? (m[2] === '' ? undefined : m[2]);
    port = m[3]!;
  }
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SourceError('SERVER', `invalid port in storage address "${address}"`);
  return { host, port: n };
}

const contentTypes: Array<[string, string]> = [
  ['.tar.gz', 'application/gzip'],
  ['.tgz', 'application/gzip'],
  ['.gz', 'application/gzip'],
  ['.tar', 'application/x-tar'],
  ['.json', 'application/json'],
  ['.yaml', 'application/yaml'],
];

function contentTypeOf(name: string): string {
  for (const [ext, type] of contentTypes) if (name.endsWith(ext)) return type;
  return 'application/octet-stream';
}

function send(res: ServerResponse, status: number, text: string, head: boolean): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'x-content-type-options': 'nosniff' });
  res.end(head ? undefined : body);
}

/**
 * The file a request path names, or undefined: refuses encoded slashes, backslashes, NUL, `..`
 * and empty segments, then requires the resolved file to lie inside the real storage root.
 */
async function resolveRequest(root: string, rawPath: string): Promise<{ kind: 'root' } | { kind: 'file'; path: string; size: number; mtime: Date } | undefined> {
  const pathname = rawPath.split('?')[0] ?? '';
  if (/%2f|%5c|%00/i.test(pathname)) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/') || decoded.includes('\\') || decoded.includes('\0')) return undefined;
  if (decoded === '/') return { kind: 'root' };
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(join(root, ...segments));
  } catch {
    return undefined;
  }
  if (!real.startsWith(realRoot + sep)) return undefined;
  try {
    const st = await stat(real);
    if (!st.isFile()) return undefined;
    return { kind: 'file', path: real, size: st.size, mtime: st.mtime };
  } catch {
    return undefined;
  }
}

async function handle(storage: ArtifactStorage, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'method not allowed\n', false);
    return;
  }
  const target = await resolveRequest(storage.root, req.url ?? '/');
  if (!target) {
    send(res, 404, '404 page not found\n', head);
    return;
  }
  if (target.kind === 'root') {
    send(res, 200, '', head);
    return;
  }
  res.writeHead(200, {
    'content-type': contentTypeOf(target.path),
    'content-length': target.size,
    'last-modified': target.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  });
  if (head) {
    res.end();
    return;
  }
  // Exactly the size announced: a file replaced meanwhile is renamed over, never rewritten in place.
  const stream = createReadStream(target.path, { start: 0, end: Math.max(0, target.size - 1) });
  if (target.size === 0) {
    stream.destroy();
    res.end();
    return;
  }
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** Starts the artifact server and resolves once it listens. */
export async function startArtifactServer(opts: ArtifactServerOptions): Promise<ArtifactServer> {
  const { host, port } = parseAddress(opts.address);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(opts.storage, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n', false);
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (err) => reject(new SourceError('SERVER', `starting the artifact server on ${opts.address}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolveListen());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = host === undefined ? 'localhost' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}`,
    port: addr.port,
    close() {
      closing ??= new Promise<void>((done) => {
        const grace = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, opts.shutdownGraceMs ?? 5000);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          done();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
