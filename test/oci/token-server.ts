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
  /** Tokens issued from now on grant nothing, `n` times (to test refresh after a 401). */
  issueEmptyTokens(n: number): void;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=lading test token issuer'], { cwd: dir, stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'token.crt'))).raw;
  const service = 'lading-test-registry';
  const issuer = 'lading-test-issuer';
  const requests: TokenServer['requests'] = [];
  let empty = 0;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
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
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${signingInput}.${b64url(signature)}`, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertFile: join(dir, 'token.crt'),
    requests,
    issueEmptyTokens(n) {
      empty = n;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
