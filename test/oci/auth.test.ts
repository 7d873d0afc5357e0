// Authentication and transport security against real registries: htpasswd basic auth, TLS with
// a CA made for the test, mutual TLS, and bearer tokens (a real distribution registry with token
// auth, verifying JWTs from the small token server in token-server.ts). Credentials come from
// docker config files and a docker-credential-* helper, as users have them.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticCredentials, loadDockerConfig, login, openRepository, type RegistryOptions } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { expectOciError, pushRandomImage, tempDir } from './helpers.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const tmp = tempDir('lading-auth-');
afterAll(() => tmp.remove());

function creds(host: string, username: string, password: string): RegistryOptions {
  return { credentials: new StaticCredentials({ [host]: { username, password } }), retryBaseMs: 10 };
}

describe('htpasswd basic auth', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: true });
  });
  afterAll(() => reg?.stop());

  it('pushes and pulls with the right credentials', async () => {
    const repo = openRepository(`${reg.host}/basic/app`, creds(reg.host, reg.username!, reg.password!));
    const img = await pushRandomImage(repo, { tag: 'v1' });
    expect((await repo.resolve('v1')).digest).toBe(img.descriptor.digest);
  });

  it('without credentials: a clear 401 naming the registry and how to log in', async () => {
    const repo = openRepository(`${reg.host}/basic/app`, { credentials: new StaticCredentials({}) });
    await expectOciError(repo.listTags(), 'UNAUTHORIZED', new RegExp(`requires authentication; run \`lading login ${reg.host}\``));
  });

  it('with a wrong password: a clear 401 that never contains the secret', async () => {
    const secret = 'not-the-password-Zq8';
    const repo = openRepository(`${reg.host}/basic/app`, creds(reg.host, reg.username!, secret));
    const err = await expectOciError(repo.resolve('v1'), 'UNAUTHORIZED', new RegExp(`rejected the credentials for user "${reg.username}"`));
    expect(err.message).toContain(reg.host);
    expect(JSON.stringify({ m: err.message, s: err.stack, c: String(err.cause) })).not.toContain(secret);
    expect(err.message).not.toContain(Buffer.from(`${reg.username}:${secret}`).toString('base64'));
  });

  it('reads credentials from DOCKER_CONFIG (auths)', async () => {
    const dir = join(tmp.path, 'docker-auths');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }));
    const repo = openRepository(`${reg.host}/basic/app`, { env: { ...process.env, DOCKER_CONFIG: dir } });
    expect(await repo.listTags()).toEqual(['v1']);
  });

  it('reads credentials through a docker-credential helper (credHelpers and credsStore)', async () => {
    const bin = join(tmp.path, 'bin');
    mkdirSync(bin);
    const log = join(tmp.path, 'helper.log');
    // A helper speaking docker's protocol: `get` reads the server URL on stdin, prints JSON.
    writeFileSync(
      join(bin, 'docker-credential-ladingtest'),
      `#!/bin/sh\nread server\necho "$1 $server" >> ${JSON.stringify(log)}\nif [ "$1" = get ] && [ "$server" = "${reg.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${reg.username}","Secret":"${reg.password}"}' "$server"\n  exit 0\nfi\necho "credentials not found in native keychain"\nexit 1\n`,
    );
    chmodSync(join(bin, 'docker-credential-ladingtest'), 0o755);
    for (const [name, config] of [
      ['helpers', { credHelpers: { [reg.host]: 'ladingtest' } }],
      ['store', { credsStore: 'ladingtest' }],
    ] as const) {
      const dir = join(tmp.path, `docker-${name}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      const env = { ...process.env, DOCKER_CONFIG: dir, PATH: `${bin}:${process.env['PATH']}` };
      const repo = openRepository(`${reg.host}/basic/app`, { env });
      expect(await repo.listTags()).toEqual(['v1']);
      // A registry the helper does not know: anonymous.
      expect(await loadDockerConfig({ env }).get('other.example:5000')).toBeUndefined();
    }
  });
});

describe('TLS', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(() => reg?.stop());

  it('verifies the server against --ca-file', async () => {
    const repo = openRepository(`${reg.host}/tls/app`, { caFile: reg.caFile!, retryBaseMs: 10 });
    const img = await pushRandomImage(repo, { tag: 'v1' });
    expect((await repo.resolve('v1')).digest).toBe(img.descriptor.digest);
  });

  it('refuses an unknown CA with a TLS error and a hint, never falling back to http', async () => {
    const repo = openRepository(`${reg.host}/tls/app`, { retryBaseMs: 10 });
    await expectOciError(repo.resolve('v1'), 'TLS', /--ca-file/);
  });

  it('--insecure skips verification', async () => {
    const repo = openRepository(`${reg.host}/tls/app`, { insecure: true, retryBaseMs: 10 });
    expect(await repo.listTags()).toEqual(['v1']);
  });
});

describe('mutual TLS', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ clientCerts: true });
  });
  afterAll(() => reg?.stop());

  it('presents the client certificate', async () => {
    const repo = openRepository(`${reg.host}/mtls/app`, { caFile: reg.caFile!, certFile: reg.pki!.clientCertFile, keyFile: reg.pki!.clientKeyFile, retryBaseMs: 10 });
    await pushRandomImage(repo, { tag: 'v1' });
    expect(await repo.listTags()).toEqual(['v1']);
  });

  it('fails without one', async () => {
    const repo = openRepository(`${reg.host}/mtls/app`, { caFile: reg.caFile!, retries: 0 });
    const err = await repo.listTags().then(() => undefined, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toMatch(/TLS|NETWORK/);
    expect(err?.message).toContain(reg.host);
  });
});

describe('bearer tokens', () => {
  let reg: RunningRegistry;
  let tokens: TokenServer;
  beforeAll(async () => {
    const dir = join(tmp.path, 'token');
    mkdirSync(dir);
    tokens = await startTokenServer(dir, { alice: 'alice-secret-7' }, { 'refresh-token-of-alice': 'alice' });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertFile: tokens.rootCertFile } });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.stop();
  });

  it('gets tokens for the scopes it needs, caches them, and pushes and pulls', async () => {
    const repo = openRepository(`${reg.host}/team/app`, creds(reg.host, 'alice', 'alice-secret-7'));
    const img = await pushRandomImage(repo, { tag: 'v1', layers: 3 });
    expect((await repo.resolve('v1')).digest).toBe(img.descriptor.digest);
    expect(await repo.listTags()).toEqual(['v1']);
    // Many requests, few tokens: one per scope set.
    const scopes = tokens.requests.map((r) => r.scopes.join(' '));
    expect(new Set(scopes).size).toBe(scopes.length);
    expect(scopes).toContain('repository:team/app:pull,push');
    expect(tokens.requests.every((r) => r.user === 'alice')).toBe(true);
  });

  it('fetches a fresh token when the registry refuses the cached one', async () => {
    const repo = openRepository(`${reg.host}/team/app`, creds(reg.host, 'alice', 'alice-secret-7'));
    tokens.issueEmptyTokens(1);
    const before = tokens.requests.length;
    expect(await repo.listTags()).toEqual(['v1']);
    expect(tokens.requests.length - before).toBe(2);
  });

  it('uses an identity token from docker config with the OAuth2 refresh-token grant', async () => {
    const dir = join(tmp.path, 'docker-identity');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('<token>:').toString('base64'), identitytoken: 'refresh-token-of-alice' } } }));
    const before = tokens.requests.length;
    const repo = openRepository(`${reg.host}/team/app`, { env: { ...process.env, DOCKER_CONFIG: dir } });
    expect(await repo.listTags()).toEqual(['v1']);
    expect(tokens.requests.slice(before).map((r) => r.user)).toEqual(['alice']);
  });

  it('login checks the credentials through the token service before saving them', async () => {
    const dir = join(tmp.path, 'docker-login-token');
    await expectOciError(login(reg.host, { username: 'alice', password: 'bad-pass-9', configDir: dir }), 'UNAUTHORIZED', new RegExp(reg.host));
    const saved = await login(reg.host, { username: 'alice', password: 'alice-secret-7', configDir: dir });
    expect(saved.path).toBe(join(dir, 'config.json'));
    const repo = openRepository(`${reg.host}/team/app`, { env: { ...process.env, DOCKER_CONFIG: dir } });
    expect(await repo.listTags()).toEqual(['v1']);
  });

  it('wrong credentials: a clear error without the secret', async () => {
    const repo = openRepository(`${reg.host}/team/app`, creds(reg.host, 'alice', 'wrong-secret-3'));
    const err = await expectOciError(repo.listTags(), 'UNAUTHORIZED', new RegExp(reg.host));
    expect(err.message).not.toContain('wrong-secret-3');
  });

  it('anonymous: the token carries no access, so the registry says 401 with a login hint', async () => {
    const repo = openRepository(`${reg.host}/team/app`, { credentials: new StaticCredentials({}), retryBaseMs: 10 });
    await expectOciError(repo.listTags(), 'UNAUTHORIZED', /lading login/);
  });
});

describe('docker config file', () => {
  const configIn = (name: string, content: string | Buffer): string => {
    const dir = join(tmp.path, `config-${name}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), content);
    return dir;
  };

  it('a missing or empty config means no credentials', async () => {
    expect(await loadDockerConfig({ configDir: join(tmp.path, 'no-such-dir') }).get('registry.example')).toBeUndefined();
    expect(await loadDockerConfig({ configDir: configIn('empty', '') }).get('registry.example')).toBeUndefined();
  });

  it('reads auths, matching the registry however the key is spelt', async () => {
    const dir = configIn('auths', JSON.stringify({ auths: { 'https://registry.example/v2/': { auth: Buffer.from('u1:p:w').toString('base64') }, 'https://index.docker.io/v1/': { username: 'hub', password: 'pw' } } }));
    const store = loadDockerConfig({ configDir: dir });
    expect(await store.get('registry.example')).toEqual({ username: 'u1', password: 'p:w' });
    expect(await store.get('docker.io')).toEqual({ username: 'hub', password: 'pw' });
  });

  it('finds config.json under $DOCKER_CONFIG, else $HOME/.docker', () => {
    expect(loadDockerConfig({ env: { DOCKER_CONFIG: '/d', HOME: '/h' } }).path).toBe('/d/config.json');
    expect(loadDockerConfig({ env: { HOME: '/h' } }).path).toBe('/h/.docker/config.json');
    expect(loadDockerConfig({ env: {} }).path).toBe(join(homedir(), '.docker', 'config.json'));
  });

  it('refuses a config over 4 MiB, naming the file', async () => {
    const dir = configIn('huge', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    await expectOciError(loadDockerConfig({ configDir: dir }).get('registry.example'), 'TOO_LARGE', new RegExp(`reading ${join(dir, 'config.json')}: larger than 4194304 bytes`));
    // At the limit it is read (and is blank).
    writeFileSync(join(dir, 'config.json'), Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(await loadDockerConfig({ configDir: dir }).get('registry.example')).toBeUndefined();
  });

  it('invalid JSON or a directory in its place: an error naming the file', async () => {
    const bad = configIn('bad', '{"auths": ');
    await expectOciError(loadDockerConfig({ configDir: bad }).get('registry.example'), 'CREDENTIALS', new RegExp(`reading docker config ${join(bad, 'config.json')}: invalid JSON`));
    const dirInstead = join(tmp.path, 'config-dir', 'config.json');
    mkdirSync(dirInstead, { recursive: true });
    await expectOciError(loadDockerConfig({ configDir: join(tmp.path, 'config-dir') }).get('registry.example'), 'CREDENTIALS', new RegExp(`reading docker config ${dirInstead}: EISDIR`));
  });

  it('a credential helper that is not installed: an error saying so', async () => {
    const dir = configIn('missing-helper', JSON.stringify({ credsStore: 'lading-no-such-helper' }));
    await expectOciError(
      loadDockerConfig({ configDir: dir, env: { PATH: tmp.path } }).get('registry.example'),
      'CREDENTIALS',
      /running credential helper docker-credential-lading-no-such-helper get: .*\(is docker-credential-lading-no-such-helper installed and on PATH\?\)/,
    );
  });
});
