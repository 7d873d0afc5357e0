// A small bearer-token server for tests, in the role docker's auth service plays: it checks basic
// credentials and issues RS256 JWTs (with the signing certificate in `x5c`) that a real
// distribution registry started with `token` auth verifies against `rootCertFile`.
// Requests are recorded so tests can check token caching.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertFile: string;
  requests: Array<{ scopes: string[]; user: string | undefined }>;
  /** Every token issued, so tests can check none is ever printed. */
  issued: string[];
  /** Tokens issued from now on grant nothing, `n` times (to test refresh after a 401). */
  issueEmptyTokens(n: number): void;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * `users` maps user names to passwords (basic auth on GET); `refreshTokens` maps OAuth2 refresh
 * tokens (docker's identity tokens, sent with POST grant_type=refresh_token) to user names.
 */
export async function startTokenServer(dir: string, users: Record<string, string>, refreshTokens: Record<string, string> = {}): Promise<TokenServer> {
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=lading test token issuer'], { cwd: dir, stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'token.crt'))).raw;
  const service = 'lading-test-registry';
  const issuer = 'lading-test-issuer';
  const requests: TokenServer['requests'] = [];
  const issued: string[] = [];
  let empty = 0;

  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => handle(req, res, new URLSearchParams(body)));
      return;
    }
    handle(req, res, undefined);
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse, form: URLSearchParams | undefined) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (form) {
      for (const [k, v] of form) if (k !== 'scope') url.searchParams.set(k, v);
      for (const sc of (form.get('scope') ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', sc);
    }
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    if (form) {
      const who = form.get('grant_type') === 'refresh_token' ? refreshTokens[form.get('refresh_token') ?? ''] : undefined;
      if (!who) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant' }));
        requests.push({ scopes, user: undefined });
        return;
      }
      user = who;
    }
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (u === undefined || users[u] !== p.join(':')) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ details: 'invalid credentials' }));
        requests.push({ scopes, user: u });
        return;
      }
      user = u;
    }
    requests.push({ scopes, user });
    if (url.pathname !== '/token' || url.searchParams.get('service') !== service) {
      res.writeHead(400);
      res.end('bad token request');
      return;
    }
    const access =
      empty > 0
        ? []
        : scopes.flatMap((s) => {
            const [type, ...rest] = s.split(':');
            const actions = (rest.pop() ?? '').split(',');
            // Anonymous users get nothing; signed-in users get what they ask for.
            return user ? [{ type, name: rest.join(':'), actions }] : [];
          });
    if (empty > 0) empty--;
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    issued.push(token);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(form ? { access_token: token, expires_in: 300 } : { token, expires_in: 300, issued_at: new Date().toISOString() }));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertFile: join(dir, 'token.crt'),
    requests,
    issued,
    issueEmptyTokens(n) {
      empty = n;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
