// The kubeconfig loader judged against kubectl: what `kubectl config view --minify --flatten`
// resolves from the same KUBECONFIG list, files and flags; and real requests to the test cluster
// (who the API server says we are, through kubectl and through lading) for credentials, the
// --cluster/--user/-n flags, TLS settings, proxies and the in-cluster service account.
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, KubeError, resolveKubeconfig, type KubeconfigOptions, type ResolvedKubeconfig } from '../../src/kube/index.js';
import { startProxy, type RunningProxy } from '../env/proxy.js';
import { startSocksProxy } from '../env/socks.js';
import { createTestPki } from '../env/tls.js';
import { clusterKubeconfig, deferredSetup, lading, removeDir, tempDir } from './helpers.js';
import {
  clusterAccess,
  kubectlWhoami,
  kubectlWith,
  ladingWhoami,
  serviceAccountTokens,
  writeKubeconfig,
  type ClusterAccess,
} from './kubeconfig-helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** The fields both sides resolve, in one shape. */
interface View {
  context: string;
  cluster: string;
  user: string;
  namespace: string;
  server: string;
  ca: string;
  insecure: boolean;
  tlsServerName: string;
  proxyUrl: string;
  cert: string;
  key: string;
  token: string;
  username: string;
  password: string;
}

async function kubectlView(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<View> {
  const res = await kubectlWith(['config', 'view', '--minify', '--flatten', '-o', 'json', ...args], opts);
  const c = JSON.parse(res.stdout) as {
    'current-context': string;
    clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
    users?: Array<{ name: string; user: Record<string, unknown> }>;
    contexts: Array<{ name: string; context: Record<string, unknown> }>;
  };
  const cluster = c.clusters[0]?.cluster ?? {};
  const user = c.users?.[0]?.user ?? {};
  const context = c.contexts[0]?.context ?? {};
  const str = (o: Record<string, unknown>, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : '');
  return {
    context: c['current-context'],
    cluster: c.clusters[0]?.name ?? '',
    user: c.users?.[0]?.name ?? '',
    namespace: str(context, 'namespace') || 'default',
    server: new URL(str(cluster, 'server')).href,
    ca: str(cluster, 'certificate-authority-data'),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: str(cluster, 'tls-server-name'),
    proxyUrl: str(cluster, 'proxy-url'),
    cert: str(user, 'client-certificate-data'),
    key: str(user, 'client-key-data'),
    token: str(user, 'token'),
    username: str(user, 'username'),
    password: str(user, 'password'),
  };
}

function ladingView(r: ResolvedKubeconfig): View {
  return {
    context: r.context,
    cluster: r.cluster,
    user: r.user,
    namespace: r.namespace,
    server: r.server.href,
    ca: r.ca?.toString('base64') ?? '',
    insecure: r.insecureSkipTlsVerify,
    tlsServerName: r.tlsServerName ?? '',
    proxyUrl: r.proxyUrl ?? '',
    cert: r.cert?.toString('base64') ?? '',
    key: r.key?.toString('base64') ?? '',
    token: r.auth.kind === 'token' ? r.auth.token : '',
    username: r.auth.kind === 'basic' ? r.auth.username : '',
    password: r.auth.kind === 'basic' ? r.auth.password : '',
  };
}

/** The flags of `opts` as kubectl takes them. */
function flags(opts: KubeconfigOptions): string[] {
  return [
    ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []),
    ...(opts.context ? ['--context', opts.context] : []),
    ...(opts.cluster ? ['--cluster', opts.cluster] : []),
    ...(opts.user ? ['--user', opts.user] : []),
    ...(opts.namespace ? ['-n', opts.namespace] : []),
  ];
}

describe('kubeconfig files merged and resolved as kubectl config view does', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('lading-kubeconfig-merge-');
    for (const d of ['one', 'one/certs', 'two', 'three']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'one', 'ca-one.pem'), 'CA OF FILE ONE\n');
    writeFileSync(join(dir, 'one', 'certs', 'one.crt'), 'CERT OF FILE ONE\n');
    writeFileSync(join(dir, 'one', 'certs', 'one.key'), 'KEY OF FILE ONE\n');
    writeKubeconfig(join(dir, 'one', 'config'), {
      clusters: [
        { name: 'shared', cluster: { server: 'https://one.example:6443', 'certificate-authority': 'ca-one.pem' } },
        { name: 'only-one', cluster: { server: 'https://only-one.example' } },
      ],
      users: [{ name: 'shared-user', user: { 'client-certificate': 'certs/one.crt', 'client-key': 'certs/one.key' } }],
      contexts: [
        { name: 'shared-ctx', context: { cluster: 'shared', user: 'shared-user', namespace: 'one-ns' } },
        { name: 'one-ctx', context: { cluster: 'only-one', user: 'shared-user' } },
      ],
    });
    writeKubeconfig(join(dir, 'two', 'config'), {
      clusters: [
        { name: 'shared', cluster: { server: 'https://two.example:6443', 'certificate-authority-data': b64('CA OF FILE TWO\n') } },
        { name: 'only-two', cluster: { server: 'https://only-two.example:8443/prefix', 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.internal', 'proxy-url': 'http://proxy.example:3128' } },
      ],
      users: [
        { name: 'shared-user', user: { token: 'token-of-two' } },
        { name: 'two-user', user: { username: 'ann', password: 'secret-of-two' } },
      ],
      contexts: [
        { name: 'shared-ctx', context: { cluster: 'shared', user: 'shared-user', namespace: 'two-ns' } },
        { name: 'two-ctx', context: { cluster: 'only-two', user: 'two-user', namespace: 'two-ns' } },
      ],
      'current-context': 'two-ctx',
    });
    writeKubeconfig(join(dir, 'three', 'config'), { 'current-context': 'one-ctx' });
  });
  afterAll(() => removeDir(dir));

  const cases: Array<{ name: string; kubeconfigEnv?: string; opts?: KubeconfigOptions }> = [
    { name: 'current-context from the first file that sets it; a missing file and an empty entry skipped', kubeconfigEnv: 'one/config:missing/config::two/config' },
    { name: 'the first file wins a cluster, user and context name both define', kubeconfigEnv: 'one/config:two/config', opts: { context: 'shared-ctx' } },
    { name: 'the other order, the other winner', kubeconfigEnv: 'two/config:one/config', opts: { context: 'shared-ctx' } },
    { name: 'a file with only current-context', kubeconfigEnv: 'three/config:two/config:one/config' },
    { name: 'the same file twice', kubeconfigEnv: 'one/config:one/config:two/config', opts: { context: 'shared-ctx' } },
    { name: '--kubeconfig reads that file alone', kubeconfigEnv: 'one/config', opts: { kubeconfig: 'two/config', context: 'shared-ctx' } },
    { name: 'absolute KUBECONFIG entries', kubeconfigEnv: 'ABS/two/config:ABS/one/config' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const kubeconfigEnv = c.kubeconfigEnv?.replaceAll('ABS', dir);
      const env = { HOME: dir, ...(kubeconfigEnv ? { KUBECONFIG: kubeconfigEnv } : {}) };
      const opts = { ...c.opts, env, cwd: dir };
      const expected = await kubectlView(flags(c.opts ?? {}), { env, cwd: dir });
      expect(ladingView(resolveKubeconfig(opts))).toEqual(expected);
    });
  }

  it('fails where kubectl fails, naming the file, context or field', async () => {
    const env = { HOME: dir, KUBECONFIG: 'one/config:two/config' };
    const unknown = await kubectlWith(['--context', 'nope', 'get', '--raw', '/'], { env, cwd: dir, allowFailure: true });
    expect(unknown.stderr).toContain('context "nope" does not exist');
    expect(() => resolveKubeconfig({ env, cwd: dir, context: 'nope' })).toThrow(`kubeconfig ${join(dir, 'one/config')}:${join(dir, 'two/config')}: context "nope" not found (contexts: shared-ctx, one-ctx, two-ctx)`);
    const missing = await kubectlWith(['--kubeconfig', 'nope/config', 'get', '--raw', '/'], { env, cwd: dir, allowFailure: true });
    expect(missing.stderr).toContain('no such file or directory');
    expect(() => resolveKubeconfig({ env, cwd: dir, kubeconfig: 'nope/config' })).toThrow(`loading kubeconfig ${join(dir, 'nope/config')}: no such file`);
    // Nothing to read (kubectl would then try http://localhost:8080; lading says why it stops).
    expect(() => resolveKubeconfig({ env: { HOME: dir, KUBECONFIG: 'nope/a:nope/b' }, cwd: dir })).toThrow('no kubeconfig found: none of the files of KUBECONFIG=nope/a:nope/b exists');
    // Both CA forms in one cluster: kubectl refuses, naming the cluster.
    const both = writeKubeconfig(join(dir, 'both.yaml'), {
      clusters: [{ name: 'c', cluster: { server: 'https://x.example', 'certificate-authority': 'one/ca-one.pem', 'certificate-authority-data': b64('x') } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      users: [{ name: 'u', user: { token: 'do-not-print-me' } }],
      'current-context': 'x',
    });
    const k = await kubectlWith(['--kubeconfig', both, 'get', '--raw', '/version'], { env, cwd: dir, allowFailure: true });
    expect(k.stderr).toContain('certificate-authority-data and certificate-authority are both specified');
    let err: unknown;
    try {
      resolveKubeconfig({ env, kubeconfig: both });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KubeError);
    expect((err as Error).message).toBe(`kubeconfig ${both}: cluster "c": certificate-authority-data and certificate-authority are both specified`);
    // Invalid YAML: where, not what (the line may hold a token).
    const badYaml = join(dir, 'bad-yaml.yaml');
    writeFileSync(badYaml, 'apiVersion: v1\nusers:\n- name: u\n  user:\n    token: "do-not-print-me\n');
    const yamlFailure = await kubectlWith(['--kubeconfig', badYaml, 'get', '--raw', '/'], { env, allowFailure: true });
    expect(yamlFailure.code).not.toBe(0);
    expect(() => resolveKubeconfig({ env, kubeconfig: badYaml })).toThrow(new RegExp(`^loading kubeconfig ${badYaml}: invalid YAML at line \\d+, column \\d+ \\(\\w+\\)$`));
    // A bad field: the message names file, user and field, never the secret.
    const badKey = writeKubeconfig(join(dir, 'bad-key.yaml'), {
      clusters: [{ name: 'c', cluster: { server: 'https://x.example' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      users: [{ name: 'u', user: { 'client-certificate-data': b64('cert'), 'client-key-data': 'not base64 !! do-not-print-me' } }],
      'current-context': 'x',
    });
    expect(() => resolveKubeconfig({ env, kubeconfig: badKey })).toThrow(`kubeconfig ${badKey}: user "u": client-key-data is not valid base64`);
    try {
      resolveKubeconfig({ env, kubeconfig: badKey });
    } catch (e) {
      expect((e as Error).message).not.toContain('do-not-print-me');
    }
    // A server URL that holds a password is named without it.
    const badServer = writeKubeconfig(join(dir, 'bad-server.yaml'), {
      clusters: [{ name: 'c', cluster: { server: 'ftp://alice:do-not-print-me@x.example' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    });
    expect(() => resolveKubeconfig({ env, kubeconfig: badServer })).toThrow(`kubeconfig ${badServer}: cluster "c": server "ftp://alice:***@x.example": only https:// and http:// servers are supported`);
  });
});

describe('requests as kubectl sends them', () => {
  const setup = deferredSetup();
  let admin: string;
  let access: ClusterAccess;
  let dir: string;
  let tokens: Record<string, string>;
  const ns = 'lading-kubeconfig-test';
  beforeAll(() =>
    setup.run(async () => {
      admin = clusterKubeconfig();
      access = clusterAccess(admin);
      dir = tempDir('lading-kubeconfig-requests-');
      tokens = await serviceAccountTokens(admin, ns, ['alice', 'bob']);
      await kubectlWith(['--kubeconfig', admin, 'apply', '-f', '-'], { env: {}, input: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lading-kubeconfig-other\n' });
    }),
  );
  afterAll(() => {
    if (dir) removeDir(dir);
  });
  const sa = (name: string): string => `system:serviceaccount:${ns}:${name}`;

  async function both(opts: KubeconfigOptions & { env: NodeJS.ProcessEnv }): Promise<{ kubectl: string; lading: string }> {
    const kubectl = await kubectlWhoami(flags(opts), { env: opts.env, cwd: dir });
    const client = await KubeClient.connect({ ...opts, cwd: dir });
    try {
      return { kubectl, lading: await ladingWhoami(client) };
    } finally {
      await client.close();
    }
  }

  it('token, client certificate files relative to the kubeconfig, and the --cluster/--user/--context flags', async () => {
    setup.ready();
    mkdirSync(join(dir, 'sub', 'pki'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'pki', 'ca.crt'), Buffer.from(access.caData, 'base64'));
    writeFileSync(join(dir, 'sub', 'pki', 'admin.crt'), Buffer.from(access.certData, 'base64'));
    writeFileSync(join(dir, 'sub', 'pki', 'admin.key'), Buffer.from(access.keyData, 'base64'), { mode: 0o600 });
    const file = writeKubeconfig(join(dir, 'sub', 'config'), {
      clusters: [
        { name: 'real', cluster: { server: access.server, 'certificate-authority': 'pki/ca.crt' } },
        { name: 'nowhere', cluster: { server: 'https://127.0.0.1:1', 'certificate-authority': 'pki/ca.crt' } },
      ],
      users: [
        { name: 'alice', user: { token: tokens['alice'] } },
        { name: 'bob', user: { token: tokens['bob'] } },
        { name: 'admin', user: { 'client-certificate': 'pki/admin.crt', 'client-key': 'pki/admin.key' } },
      ],
      contexts: [
        { name: 'as-alice', context: { cluster: 'real', user: 'alice', namespace: ns } },
        { name: 'as-admin', context: { cluster: 'real', user: 'admin' } },
        { name: 'broken', context: { cluster: 'nowhere', user: 'alice' } },
      ],
      'current-context': 'as-alice',
    });
    const env = { HOME: dir, KUBECONFIG: file };
    expect(await both({ env })).toEqual({ kubectl: sa('alice'), lading: sa('alice') });
    expect(await both({ env, context: 'as-admin' })).toEqual({ kubectl: 'lading-admin', lading: 'lading-admin' });
    expect(await both({ env, context: 'broken', cluster: 'real', user: 'bob' })).toEqual({ kubectl: sa('bob'), lading: sa('bob') });
    expect(await both({ env, user: 'admin' })).toEqual({ kubectl: 'lading-admin', lading: 'lading-admin' });
    // -n: the namespace kubectl puts objects in, and lading's default namespace.
    for (const opts of [{ user: 'admin' }, { user: 'admin', namespace: 'lading-kubeconfig-other' }, { context: 'as-admin' }]) {
      const k = await kubectlWith([...flags(opts), 'create', 'configmap', 'probe', '--dry-run=server', '-o', 'jsonpath={.metadata.namespace}'], { env, cwd: dir });
      const client = await KubeClient.connect({ ...opts, env, cwd: dir });
      expect(client.namespace).toBe(k.stdout);
      await client.close();
    }
  });

  it('the CLI takes kubectl\'s --kubeconfig, --context, --cluster, --user and -n', async () => {
    setup.ready();
    const file = join(dir, 'sub', 'config');
    // "broken" names a cluster where nothing listens and a read-only user: the flags replace both.
    const res = await lading(['get', 'inventories', '--kubeconfig', file, '--context', 'broken', '--cluster', 'real', '--user', 'admin', '-n', ns, '-o', 'json'], { kubeconfig: admin, env: { HOME: dir } });
    expect(res).toMatchObject({ code: 0, stdout: '[]\n' });
    const without = await lading(['get', 'inventories', '--kubeconfig', file, '--context', 'broken'], { kubeconfig: admin, env: { HOME: dir } });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('cannot reach the API server https://127.0.0.1:1');
    const empty = await lading(['get', 'inventories', '--context', ''], { kubeconfig: admin, env: { HOME: dir } });
    expect(empty.code).toBe(2);
  });

  it('re-reads a tokenFile (relative to its kubeconfig) when it changes, as projected tokens rotate', async () => {
    setup.ready();
    mkdirSync(join(dir, 'rotating', 'secrets'), { recursive: true });
    const tokenFile = join(dir, 'rotating', 'secrets', 'token');
    writeFileSync(tokenFile, `${tokens['alice']}\n`);
    const file = writeKubeconfig(join(dir, 'rotating', 'config'), {
      clusters: [{ name: 'real', cluster: { server: access.server, 'certificate-authority-data': access.caData } }],
      users: [{ name: 'projected', user: { tokenFile: 'secrets/token' } }],
      contexts: [{ name: 'x', context: { cluster: 'real', user: 'projected' } }],
      'current-context': 'x',
    });
    const env = { HOME: dir, KUBECONFIG: file };
    const client = await KubeClient.connect({ env });
    try {
      expect(await ladingWhoami(client)).toBe(sa('alice'));
      expect(await kubectlWhoami([], { env })).toBe(sa('alice'));
      writeFileSync(tokenFile, `${tokens['bob']}\n`);
      // The same client, the next request: the new token.
      expect(await ladingWhoami(client)).toBe(sa('bob'));
      expect(await kubectlWhoami([], { env })).toBe(sa('bob'));
    } finally {
      await client.close();
    }
  });

  it('insecure-skip-tls-verify and tls-server-name, trusted or refused as kubectl trusts or refuses them', async () => {
    setup.ready();
    const port = new URL(access.server).port;
    const user = { name: 'alice', user: { token: tokens['alice'] } };
    const variants: Array<{ name: string; cluster: Record<string, unknown>; ok: boolean }> = [
      { name: 'insecure', cluster: { server: access.server, 'insecure-skip-tls-verify': true }, ok: true },
      { name: 'no-ca', cluster: { server: access.server }, ok: false },
      // The serving certificate names 127.0.0.1, localhost and kubernetes(.default...).
      { name: 'server-name', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': access.caData, 'tls-server-name': 'kubernetes.default.svc' }, ok: true },
      { name: 'wrong-name', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': access.caData, 'tls-server-name': 'not-the-api.example' }, ok: false },
    ];
    for (const v of variants) {
      const file = writeKubeconfig(join(dir, `tls-${v.name}.yaml`), {
        clusters: [{ name: 'c', cluster: v.cluster }],
        users: [user],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'alice' } }],
        'current-context': 'x',
      });
      const env = { HOME: dir, KUBECONFIG: file };
      const k = await kubectlWith(['auth', 'whoami', '-o', 'json'], { env, allowFailure: true });
      const client = await KubeClient.connect({ env });
      const l = await ladingWhoami(client).then(
        (u) => ({ ok: true, user: u }),
        (e: unknown) => ({ ok: false, error: e as KubeError }),
      );
      await client.close();
      expect({ variant: v.name, kubectl: k.code === 0, lading: l.ok }).toEqual({ variant: v.name, kubectl: v.ok, lading: v.ok });
      if (!l.ok) expect((l as { error: KubeError }).error.code).toBe('TLS');
    }
  });

  it('sends username/password as basic auth, byte for byte as kubectl does (the API server no longer takes it: a recording server)', async () => {
    setup.ready();
    const pki = createTestPki(join(dir, 'basic-pki'));
    const seen: string[] = [];
    const paths: string[] = [];
    const server: Server = createServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) }, (req, res) => {
      seen.push(req.headers.authorization ?? '(none)');
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.0' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const file = writeKubeconfig(join(dir, 'basic.yaml'), {
        // A server URL with a path (a cluster behind a path-routing proxy): requests go below it.
        clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}/clusters/one`, 'certificate-authority': join(pki.dir, 'ca.crt') } }],
        users: [{ name: 'u', user: { username: 'ann', password: 'pa:ss wörd' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      });
      const env = { HOME: dir, KUBECONFIG: file };
      await kubectlWith(['version', '-o', 'json'], { env });
      const fromKubectl = { authorization: seen.at(-1), path: paths.at(-1)?.split('?')[0] };
      const client = await KubeClient.connect({ env });
      await client.request({ path: '/version' });
      await client.close();
      expect({ authorization: seen.at(-1), path: paths.at(-1)?.split('?')[0] }).toEqual(fromKubectl);
      expect(fromKubectl.authorization).toMatch(/^Basic /);
      expect(fromKubectl.path).toBe('/clusters/one/version');
    } finally {
      server.close();
    }
  });

  describe('through a proxy (tinyproxy): proxy-url always, HTTPS_PROXY as Go reads it', () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy();
    });
    afterAll(async () => {
      await proxy?.stop();
    });
    const connects = (target: string): number => readFileSync(proxy.logFile, 'utf8').split('\n').filter((l) => l.includes('CONNECT') && l.includes(target)).length;

    async function viaEachTool(file: string, extraEnv: NodeJS.ProcessEnv, target: string): Promise<{ kubectl: number; lading: number }> {
      const env = { HOME: dir, KUBECONFIG: file, ...extraEnv };
      const before = connects(target);
      expect(await kubectlWhoami([], { env })).toBe(sa('alice'));
      const afterKubectl = connects(target);
      const client = await KubeClient.connect({ env });
      expect(await ladingWhoami(client)).toBe(sa('alice'));
      await client.close();
      return { kubectl: afterKubectl - before, lading: connects(target) - afterKubectl };
    }

    it('proxy-url is used even for a loopback API server', async () => {
      setup.ready();
      const port = new URL(access.server).port;
      const file = writeKubeconfig(join(dir, 'proxy-url.yaml'), {
        clusters: [{ name: 'c', cluster: { server: access.server, 'certificate-authority-data': access.caData, 'proxy-url': proxy.url } }],
        users: [{ name: 'alice', user: { token: tokens['alice'] } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'alice' } }],
        'current-context': 'x',
      });
      const n = await viaEachTool(file, {}, `127.0.0.1:${port}`);
      expect(n.kubectl).toBeGreaterThan(0);
      expect(n.lading).toBeGreaterThan(0);
    });

    it('a socks5:// proxy-url (microsocks), as kubectl uses it', async () => {
      setup.ready();
      const socks = await startSocksProxy();
      try {
        const port = new URL(access.server).port;
        const file = writeKubeconfig(join(dir, 'proxy-url-socks.yaml'), {
          clusters: [{ name: 'c', cluster: { server: access.server, 'certificate-authority-data': access.caData, 'proxy-url': socks.url } }],
          users: [{ name: 'alice', user: { token: tokens['alice'] } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'alice' } }],
          'current-context': 'x',
        });
        const env = { HOME: dir, KUBECONFIG: file };
        const through = (): number => socks.connections().filter((c) => c === `127.0.0.1:${port}`).length;
        expect(await kubectlWhoami([], { env })).toBe(sa('alice'));
        const afterKubectl = through();
        expect(afterKubectl).toBeGreaterThan(0);
        const client = await KubeClient.connect({ env });
        expect(await ladingWhoami(client)).toBe(sa('alice'));
        await client.close();
        expect(through()).toBeGreaterThan(afterKubectl);
      } finally {
        await socks.stop();
      }
    });

    it('HTTPS_PROXY for a named host, not for loopback addresses, not for NO_PROXY', async () => {
      setup.ready();
      const port = new URL(access.server).port;
      // The machine's host name is a name (Go proxies it; only "localhost" and loopback IPs are
      // exempt) that tinyproxy resolves to an address of this machine, where a TCP relay to the
      // loopback API server listens; the certificate is checked for "localhost".
      const host = hostname();
      const addresses = await lookup(host, { all: true }).catch(() => []);
      const local = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
      if (!addresses.some((a) => local.has(a.address))) throw new Error(`this test needs the host name ${host} to resolve to an address of this machine (it resolves to ${addresses.map((a) => a.address).join(', ') || 'nothing'}): add it to /etc/hosts`);
      const relay = createNetServer((socket) => {
        const upstream = connect(Number(port), '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      await new Promise<void>((resolve) => relay.listen(0, resolve));
      const relayPort = (relay.address() as AddressInfo).port;
      try {
        const named = writeKubeconfig(join(dir, 'env-proxy-named.yaml'), {
          clusters: [{ name: 'c', cluster: { server: `https://${host}:${relayPort}`, 'certificate-authority-data': access.caData, 'tls-server-name': 'localhost' } }],
          users: [{ name: 'alice', user: { token: tokens['alice'] } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'alice' } }],
          'current-context': 'x',
        });
        const proxied = await viaEachTool(named, { HTTPS_PROXY: proxy.url }, `${host}:${relayPort}`);
        expect(proxied.kubectl).toBeGreaterThan(0);
        expect(proxied.lading).toBeGreaterThan(0);
        expect(await viaEachTool(named, { HTTPS_PROXY: proxy.url, NO_PROXY: host }, `${host}:${relayPort}`)).toEqual({ kubectl: 0, lading: 0 });
      } finally {
        relay.close();
      }
      const loopback = writeKubeconfig(join(dir, 'env-proxy-loopback.yaml'), {
        clusters: [{ name: 'c', cluster: { server: access.server, 'certificate-authority-data': access.caData } }],
        users: [{ name: 'alice', user: { token: tokens['alice'] } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'alice' } }],
        'current-context': 'x',
      });
      expect(await viaEachTool(loopback, { https_proxy: proxy.url }, `127.0.0.1:${port}`)).toEqual({ kubectl: 0, lading: 0 });
    });
  });

  it('in-cluster: KUBERNETES_SERVICE_HOST/PORT and the mounted token, CA and namespace; the token re-read when the kubelet rotates it', async () => {
    setup.ready();
    const saDir = join(dir, 'serviceaccount');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), tokens['alice'] as string);
    writeFileSync(join(saDir, 'ca.crt'), Buffer.from(access.caData, 'base64'));
    writeFileSync(join(saDir, 'namespace'), ns);
    const url = new URL(access.server);
    const env = { HOME: join(dir, 'no-home'), KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
    const client = await KubeClient.connect({ env, serviceAccountDir: saDir });
    try {
      expect(client.source).toBe(`in-cluster service account ${saDir}`);
      expect(client.namespace).toBe(ns);
      expect(await ladingWhoami(client)).toBe(sa('alice'));
      // The kubelet swaps the projected files: the next request carries the new token.
      writeFileSync(join(saDir, 'token.new'), tokens['bob'] as string);
      rmSync(join(saDir, 'token'));
      writeFileSync(join(saDir, 'token'), readFileSync(join(saDir, 'token.new')));
      expect(await ladingWhoami(client)).toBe(sa('bob'));
      // -n wins over the mounted namespace; a kubeconfig wins over in-cluster.
      const withNs = await KubeClient.connect({ env, serviceAccountDir: saDir, namespace: 'other' });
      expect(withNs.namespace).toBe('other');
      await withNs.close();
      const withKubeconfig = await KubeClient.connect({ env: { ...env, KUBECONFIG: admin }, serviceAccountDir: saDir });
      expect(await ladingWhoami(withKubeconfig)).toBe('lading-admin');
      await withKubeconfig.close();
    } finally {
      await client.close();
    }
  });
});
