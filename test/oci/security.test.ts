// Transport security of the registry client against real registries: credentials only to the
// registry's own origin across redirects (fault proxies in front of real registries answer with
// the redirects), --ca-file adding to the trusted roots rather than replacing them, and no
// password or token in anything the CLI prints while it authenticates in every way it can.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticCredentials, openRepository, type RegistryOptions } from '../../src/oci/index.js';
import { runCaptured, type CliRun } from '../cli/captured-io.js';
import { startFaultProxy, type FaultProxy } from '../env/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { createChainedPki, createTestPki, type ChainedPki, type TestPki } from '../env/tls.js';
import { expectOciError, expectSameBytes, pushRandomImage, tempDir, type TestImage } from './helpers.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const tmp = tempDir('lading-security-');
afterAll(() => tmp.remove());

/** An environment without the developer's docker credentials or proxies. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = join(tmp.path, `docker-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  return { PATH: process.env['PATH'], HOME: tmp.path, DOCKER_CONFIG: dir, ...extra };
}

describe('redirects: credentials go only to the registry’s own origin', () => {
  let authReg: RunningRegistry;
  let plainReg: RunningRegistry;
  let pki: TestPki;
  /** https in front of the registry with basic auth: the registry the client talks to. */
  let front: FaultProxy;
  /** plain http in front of a registry holding the same blobs, on the same host (127.0.0.1). */
  let httpSide: FaultProxy;
  let img: TestImage;
  let opts: RegistryOptions;

  beforeAll(async () => {
    [authReg, plainReg] = await Promise.all([startRegistry({ auth: true }), startRegistry()]);
    pki = createTestPki(join(tmp.path, 'redirect-pki'));
    // TLS and plain http on one port: a redirect can change the scheme and nothing else.
    front = await startFaultProxy(authReg.url, { tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, plainToo: true } });
    httpSide = await startFaultProxy(plainReg.url);
    opts = { caFile: pki.caFile, credentials: new StaticCredentials({ [front.host]: { username: authReg.username!, password: authReg.password! } }), env: cleanEnv(), retryBaseMs: 5 };
    img = await pushRandomImage(openRepository(`${front.host}/sec/app`, opts), { tag: 'v1' });
    // The plain registry holds the same layer, so that a redirect there can be served.
    await openRepository(`${plainReg.host}/sec/app`, { env: cleanEnv() }).push(img.layers[0]!, img.layerBytes[0]!);
  });
  afterAll(async () => {
    await Promise.all([front?.stop(), httpSide?.stop(), authReg?.stop(), plainReg?.stop()]);
  });

  const layerPath = () => `/v2/sec/app/blobs/${img.layers[0]!.digest}`;
  const redirectTo = (location: string) => front.inject({ method: 'GET', path: new RegExp(`${layerPath()}$`), fault: { kind: 'status', status: 307, headers: { Location: location }, body: '' } });
  const sideRequests = () => httpSide.requests.filter((r) => r.path === layerPath());

  it('https → http on the same host and port: Authorization is not sent over plain http', async () => {
    front.reset();
    redirectTo(`http://${front.host}${layerPath()}`);
    // The registry behind wants credentials; without them its answer is a 401.
    await expectOciError(openRepository(`${front.host}/sec/app`, opts).fetchBytes(img.layers[0]!), 'UNAUTHORIZED');
    const [viaTls, viaPlain] = front.requests.filter((r) => r.path === layerPath());
    expect([viaTls?.tls, viaTls?.headers.authorization?.startsWith('Basic ')]).toEqual([true, true]);
    expect([viaPlain?.tls, viaPlain?.headers.authorization]).toEqual([false, undefined]);
  });

  it('https → http on another port of the same host: the blob is fetched there without Authorization', async () => {
    front.reset();
    httpSide.reset();
    redirectTo(`${httpSide.url}${layerPath()}`);
    const bytes = await openRepository(`${front.host}/sec/app`, opts).fetchBytes(img.layers[0]!);
    expectSameBytes(bytes, img.layerBytes[0]);
    // The registry itself got the credentials (it needs them); the http side never did.
    expect(front.requests.find((r) => r.path === layerPath())?.headers.authorization).toMatch(/^Basic /);
    expect(sideRequests().length).toBe(1);
    expect(sideRequests()[0]?.headers.authorization).toBeUndefined();
  });

  it('to another origin (another host name): no Authorization, no Cookie', async () => {
    front.reset();
    httpSide.reset();
    redirectTo(`http://localhost:${httpSide.host.split(':')[1]}${layerPath()}`);
    const repo = openRepository(`${front.host}/sec/app`, opts);
    const res = await repo.client.request({ method: 'GET', path: layerPath(), headers: { Cookie: 'session=cookie-secret-41' }, scopes: [], what: 'fetching the layer' });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(front.requests.find((r) => r.path === layerPath())?.headers.cookie).toBe('session=cookie-secret-41');
    expect(sideRequests().map((r) => [r.headers.authorization, r.headers.cookie])).toEqual([[undefined, undefined]]);
  });

  it('within the registry’s own origin: the credentials follow (the registry would refuse without them)', async () => {
    front.reset();
    redirectTo(`${front.url}${layerPath()}?redirected=1`);
    expectSameBytes(await openRepository(`${front.host}/sec/app`, opts).fetchBytes(img.layers[0]!), img.layerBytes[0]);
    expect(front.requests.find((r) => r.path === `${layerPath()}?redirected=1`)?.headers.authorization).toMatch(/^Basic /);
  });
});

/** Runs the CLI from source in a child process (its own trust store, from its environment). */
function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('--ca-file adds to the trusted roots', () => {
  // A registry behind a certificate of a public-style chain (root → intermediate → server), and a
  // private registry with its own CA given with --ca-file. "Node's default roots" are emulated by
  // NODE_EXTRA_CA_CERTS=<the public-style root> in the child process: Node trusts that file beside
  // its bundled roots, and lading's "add" mode must keep trusting it (on Node before 22.15,
  // src/http/tls.ts lists the file itself, as Node has no API that returns it; from 22.15,
  // tls.getCACertificates('default') does). Before this change, --ca-file replaced the roots and
  // the public-style registry failed.
  let chain: ChainedPki;
  let behindChain: RunningRegistry;
  let publicStyle: FaultProxy;
  let privateReg: RunningRegistry;
  let publicImage: TestImage;
  let privateImage: TestImage;

  beforeAll(async () => {
    chain = createChainedPki(join(tmp.path, 'chain'));
    [behindChain, privateReg] = await Promise.all([startRegistry(), startRegistry({ tls: true })]);
    publicStyle = await startFaultProxy(behindChain.url, { tls: { certFile: chain.serverChainFile, keyFile: chain.serverKeyFile } });
    publicImage = await pushRandomImage(openRepository(`${behindChain.host}/ca/app`, { env: cleanEnv() }), { tag: 'v1' });
    privateImage = await pushRandomImage(openRepository(`${privateReg.host}/ca/app`, { caFile: privateReg.caFile!, env: cleanEnv() }), { tag: 'v1' });
  });
  afterAll(async () => {
    await Promise.all([publicStyle?.stop(), behindChain?.stop(), privateReg?.stop()]);
  });

  it('with --ca-file for the private CA, both the private registry and the default-trusted one verify', async () => {
    const env = cleanEnv({ NODE_EXTRA_CA_CERTS: chain.rootFile });
    const pub = await runChild(['digest', `${publicStyle.host}/ca/app:v1`, '--ca-file', privateReg.caFile!], env);
    expect(pub.stderr).toBe('');
    expect([pub.code, pub.stdout]).toEqual([0, `${publicImage.descriptor.digest}\n`]);
    const priv = await runChild(['digest', `${privateReg.host}/ca/app:v1`, '--ca-file', privateReg.caFile!], env);
    expect([priv.code, priv.stdout]).toEqual([0, `${privateImage.descriptor.digest}\n`]);
  });

  it('the emulation is what makes the public-style registry trusted: without it, verification fails', async () => {
    const run = await runChild(['digest', `${publicStyle.host}/ca/app:v1`, '--ca-file', privateReg.caFile!], cleanEnv());
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/TLS connection to 127\.0\.0\.1:\d+ failed/);
  });
});

describe('no credential in anything the CLI prints', () => {
  let basic: RunningRegistry;
  let tokenReg: RunningRegistry;
  let tokens: TokenServer;
  let source: RunningRegistry;
  const tokenUser = { username: 'carol', password: 'carol-token-pass-5521' };
  const refreshToken = 'refresh-token-of-carol-9931';
  const wrongPasswords = ['wrong-basic-pass-1177', 'wrong-token-pass-8812'];
  const runs: Array<{ argv: string[]; run: CliRun }> = [];

  beforeAll(async () => {
    const dir = join(tmp.path, 'token-server');
    mkdirSync(dir);
    tokens = await startTokenServer(dir, { [tokenUser.username]: tokenUser.password }, { [refreshToken]: tokenUser.username });
    [basic, tokenReg, source] = await Promise.all([
      startRegistry({ auth: true }),
      startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertFile: tokens.rootCertFile } }),
      startRegistry(),
    ]);
    await pushRandomImage(openRepository(`${source.host}/src/app`, { env: cleanEnv() }), { tag: 'v1' });
  });
  afterAll(async () => {
    await Promise.all([basic?.stop(), tokenReg?.stop(), source?.stop(), tokens?.stop()]);
  });

  async function cli(argv: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<CliRun> {
    const run = await runCaptured(argv, { env, cwd: tmp.path, ...(stdin !== undefined ? { stdin } : {}) });
    runs.push({ argv, run });
    return run;
  }

  it('basic auth: --creds, login, a docker config, a wrong password, credentials in a reference', async () => {
    const creds = `${basic.username}:${basic.password}`;
    const env = cleanEnv();
    expect((await cli(['copy', `${source.host}/src/app:v1`, `${basic.host}/sec/app:v1`, '--creds', creds, '-o', 'json'], env)).code).toBe(0);
    expect((await cli(['digest', `${basic.host}/sec/app:v1`, '--creds', creds, '-o', 'json'], env)).code).toBe(0);
    expect((await cli(['ls', `${basic.host}/sec/app`, '--creds', creds, '-o', 'yaml'], env)).code).toBe(0);
    expect((await cli(['manifest', `${basic.host}/sec/app:v1`, '--creds', creds, '-o', 'table'], env)).code).toBe(0);
    const wrong = await cli(['digest', `${basic.host}/sec/app:v1`, '--creds', `${basic.username}:${wrongPasswords[0]}`], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/rejected the credentials/);
    expect((await cli(['login', basic.host, '-u', basic.username!, '--password-stdin'], env, `${wrongPasswords[0]}\n`)).code).toBe(1);
    expect((await cli(['login', basic.host, '-u', basic.username!, '--password-stdin'], env, `${basic.password}\n`)).code).toBe(0);
    expect((await cli(['digest', `${basic.host}/sec/app:v1`, '-o', 'yaml'], env)).code).toBe(0);
    expect((await cli(['login', basic.host, '-u', basic.username!, '-p', basic.password!], env)).code).toBe(0);
    for (const ref of [`oci://${creds}@${basic.host}/sec/app:v1`, `${creds}@${basic.host}/sec/app:v1`]) {
      const run = await cli(['digest', ref, '-o', 'json'], env);
      expect(run.code, ref).toBe(2);
      expect(run.stderr, ref).toMatch(/credentials in a reference are not supported/);
      const copied = await cli(['copy', `${source.host}/src/app:v1`, ref], env);
      expect(copied.code, ref).toBe(2);
    }
    expect((await cli(['login', `https://${creds}@${basic.host}/`, '-u', basic.username!, '--password-stdin'], env, `${basic.password}\n`)).code).not.toBe(0);
  });

  it('bearer tokens: --creds, login, an identity token, a wrong password', async () => {
    const creds = `${tokenUser.username}:${tokenUser.password}`;
    const env = cleanEnv();
    expect((await cli(['copy', `${source.host}/src/app:v1`, `${tokenReg.host}/sec/app:v1`, '--creds', creds, '-o', 'json'], env)).code).toBe(0);
    expect((await cli(['ls', `${tokenReg.host}/sec/app`, '--creds', creds, '-o', 'json'], env)).code).toBe(0);
    expect((await cli(['digest', `${tokenReg.host}/sec/app:v1`, '--creds', `${tokenUser.username}:${wrongPasswords[1]}`], env)).code).toBe(1);
    expect((await cli(['login', tokenReg.host, '-u', tokenUser.username, '--password-stdin'], env, tokenUser.password)).code).toBe(0);
    expect((await cli(['manifest', `${tokenReg.host}/sec/app:v1`, '-o', 'yaml'], env)).code).toBe(0);
    const identity = cleanEnv();
    writeFileSync(join(identity['DOCKER_CONFIG'] as string, 'config.json'), JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from('<token>:').toString('base64'), identitytoken: refreshToken } } }));
    expect((await cli(['digest', `${tokenReg.host}/sec/app:v1`, '-o', 'json'], identity)).code).toBe(0);
    expect(tokens.issued.length).toBeGreaterThan(2);
  });

  it('the captured output of every run holds none of the passwords and tokens used', () => {
    const secrets = [
      basic.password!,
      Buffer.from(`${basic.username}:${basic.password}`).toString('base64'),
      tokenUser.password,
      Buffer.from(`${tokenUser.username}:${tokenUser.password}`).toString('base64'),
      refreshToken,
      ...wrongPasswords,
      ...tokens.issued,
    ];
    expect(runs.length).toBeGreaterThan(15);
    const leaks: string[] = [];
    for (const { argv, run } of runs) {
      for (const secret of secrets) {
        if (run.stdout.includes(secret) || run.stderr.includes(secret)) leaks.push(`${argv[0]} (run ${runs.findIndex((r) => r.run === run)}): ${secret.slice(0, 8)}…`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
