// A small fault-injecting reverse proxy for tests: it forwards to a real server (a registry) and,
// for requests matching a rule, answers with an error status, cuts the connection after some
// bytes of the response body, or resets it. Every request is recorded so tests can check what
// the client did (retries, Range requests).
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { Duplex } from 'node:stream';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type Fault =
  /** Answer with this status (and headers, body) instead of forwarding. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, but destroy the connection after `afterBytes` bytes of the response body. */
  | { kind: 'cut'; afterBytes: number }
  /** Destroy the connection without answering. */
  | { kind: 'reset' }
  /** Accept the request and never answer (until the proxy stops). */
  | { kind: 'stall' }
  /** Forward the request but replace the response body with garbage of the same length. */
  | { kind: 'corrupt' }
  /**
   * Forward, but send the response body slowly: its first `afterBytes` bytes (default 0) at once,
   * then `bytes` bytes (default 1) every `intervalMs`.
   */
  | { kind: 'trickle'; intervalMs: number; afterBytes?: number; bytes?: number };

export interface FaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Matched against the request path with query. */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default 1); later ones pass through. */
  times?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
  /** It came over TLS. */
  tls: boolean;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` of the proxy. */
  host: string;
  url: string;
  requests: RecordedRequest[];
  /** Adds a rule; rules are tried in order. */
  inject(rule: FaultRule): void;
  /** Removes every rule and forgets recorded requests. */
  reset(): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /**
   * Serve https with this certificate (chain) and key, in front of the plain-http target: a
   * registry behind a TLS-terminating proxy, with whatever certificate chain a test needs.
   */
  tls?: {
    certFile: string;
    keyFile: string;
    /**
     * Also take plain http on the same port (the first byte tells TLS from http), so that a test
     * can redirect from https://127.0.0.1:PORT to http://127.0.0.1:PORT, the same host and port.
     * A plain `GET /v2/` is answered 400, as a Go TLS server answers plain http, so that clients
     * probing for plain http still settle on https.
     */
    plainToo?: boolean;
  };
}

/**
 * Starts a proxy on a free loopback port in front of `target` (`http://127.0.0.1:PORT`); `url`
 * is https with `opts.tls`.
 */
export async function startFaultProxy(target: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  if (targetUrl.protocol !== 'http:') throw new Error(`fault proxy: only http targets are supported (got ${target})`);
  const rules: Array<FaultRule & { left: number }> = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) => {
    const upstream = http.request(
      // Behind TLS, the target is told so (it builds absolute URLs, upload locations, with it).
      { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: opts.tls ? { ...req.headers, 'x-forwarded-proto': 'https' } : req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (fault?.kind === 'cut') {
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent + chunk.length >= fault.afterBytes) {
              const part = chunk.subarray(0, Math.max(0, fault.afterBytes - sent));
              sent = fault.afterBytes;
              res.write(part, () => res.socket?.destroy());
              up.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          up.on('end', () => res.end());
        } else if (fault?.kind === 'corrupt') {
          up.on('data', (chunk: Buffer) => res.write(Buffer.alloc(chunk.length, 0x41)));
          up.on('end', () => res.end());
        } else if (fault?.kind === 'trickle') {
          const parts: Buffer[] = [];
          up.on('data', (chunk: Buffer) => parts.push(chunk));
          up.on('end', () => {
            const body = Buffer.concat(parts);
            let sent = Math.min(fault.afterBytes ?? 0, body.length);
            if (sent > 0) res.write(body.subarray(0, sent));
            const timer = setInterval(() => {
              if (sent >= body.length) {
                clearInterval(timer);
                res.end();
                return;
              }
              const n = Math.min(fault.bytes ?? 1, body.length - sent);
              res.write(body.subarray(sent, sent + n));
              sent += n;
            }, fault.intervalMs);
            res.on('close', () => clearInterval(timer));
          });
        } else {
          up.pipe(res);
        }
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`fault proxy: upstream error: ${err.message}`);
    });
    req.pipe(upstream);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const rule = rules.find((r) => r.left > 0 && (!r.method || r.method === req.method) && r.path.test(path));
    const record: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, tls: (req.socket as { encrypted?: boolean }).encrypted === true };
    requests.push(record);
    if (opts.tls && !record.tls && path === '/v2/') {
      req.resume();
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('Client sent an HTTP request to an HTTPS server.\n');
      return;
    }
    if (!rule) {
      forward(req, res, undefined);
      return;
    }
    rule.left--;
    const fault = rule.fault;
    record.fault = fault.kind;
    switch (fault.kind) {
      case 'status':
        req.resume();
        res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
        res.end(fault.body ?? JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.status}` }] }));
        return;
      case 'reset':
        req.resume();
        req.socket.destroy();
        return;
      case 'stall':
        req.resume();
        return;
      default:
        forward(req, res, fault);
    }
  };
  const tlsServer = opts.tls ? https.createServer({ cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }, handle) : undefined;
  const plainServer = http.createServer(handle);
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  let server: Server;
  if (tlsServer && opts.tls?.plainToo) {
    // One port for both: a TLS handshake starts with byte 0x16.
    server = createServer((socket) => {
      track(socket);
      socket.once('data', (first: Buffer) => {
        socket.pause();
        if (first[0] !== 0x16) {
          socket.unshift(first);
          plainServer.emit('connection', socket);
          socket.resume();
          return;
        }
        // A TLS socket over the raw handle would skip the byte already read: hand the TLS server
        // a plain stream instead, starting with that byte.
        const stream = new Duplex({
          read: () => socket.resume(),
          write: (chunk: Buffer, _encoding, done) => socket.write(chunk, done),
          final: (done) => socket.end(done),
          destroy: (err, done) => {
            socket.destroy(err ?? undefined);
            done(err);
          },
        });
        socket.on('data', (chunk: Buffer) => {
          if (!stream.push(chunk)) socket.pause();
        });
        socket.on('end', () => stream.push(null));
        socket.on('error', (err) => stream.destroy(err));
        socket.on('close', () => stream.destroy());
        stream.push(first);
        tlsServer.emit('connection', stream);
      });
    });
  } else {
    server = tlsServer ?? plainServer;
    server.on('connection', track);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    inject(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    reset() {
      rules.length = 0;
      requests.length = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
