// Exec credential plugins against the real API server, with kubectl as the oracle: small plugin
// scripts written here record what they were given (arguments, environment, KUBERNETES_EXEC_INFO)
// and answer with service-account tokens or client certificates the test cluster issued.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, KubeError } from '../../src/kube/index.js';
import { run } from '../env/process.js';
import { clusterKubeconfig, deferredSetup, removeDir, tempDir } from './helpers.js';
import { clusterAccess, clusterSignedClientCert, kubectlWhoami, kubectlWith, ladingWhoami, serviceAccountTokens, writeKubeconfig, type ClusterAccess } from './kubeconfig-helpers.js';

const setup = deferredSetup();
let admin: string;
let access: ClusterAccess;
let dir: string;
let tokens: Record<string, string>;
const ns = 'lading-exec-test';
const repoRoot = join(import.meta.dirname, '..', '..');
const sa = (name: string): string => `system:serviceaccount:${ns}:${name}`;

beforeAll(() =>
  setup.run(async () => {
    admin = clusterKubeconfig();
    access = clusterAccess(admin);
    dir = tempDir('lading-exec-');
    tokens = await serviceAccountTokens(admin, ns, ['alice', 'bob']);
  }),
);
afterAll(() => {
  if (dir) removeDir(dir);
});

/**
 * A plugin: each run appends {args, env, info} to `log` and prints the next answer of `answers`
 * (a JSON array of ExecCredential status objects; the last one repeats).
 */
function writePlugin(pluginDir: string, name: string, apiVersion: string): { path: string; log: string; answers: string } {
  mkdirSync(pluginDir, { recursive: true });
  const path = join(pluginDir, name);
  const log = join(pluginDir, `${name}.log`);
  const answers = join(pluginDir, `${name}.answers.json`);
  writeFileSync(
    path,
    `#!${process.execPath}
const fs = require('node:fs');
const log = ${JSON.stringify(log)};
const runs = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\\n').filter(Boolean).length : 0;
fs.appendFileSync(log, JSON.stringify({ args: process.argv.slice(2), env: { PLUGIN_COLOUR: process.env.PLUGIN_COLOUR ?? null }, info: JSON.parse(process.env.KUBERNETES_EXEC_INFO ?? 'null') }) + '\\n');
const answers = JSON.parse(fs.readFileSync(${JSON.stringify(answers)}, 'utf8'));
const status = answers[Math.min(runs, answers.length - 1)];
process.stderr.write('plugin run ' + (runs + 1) + '\\n');
process.stdout.write(JSON.stringify({ apiVersion: ${JSON.stringify(apiVersion)}, kind: 'ExecCredential', status }));
`,
  );
  chmodSync(path, 0o755);
  return { path, log, answers };
}

function runsOf(log: string): Array<{ args: string[]; env: Record<string, string | null>; info: { apiVersion: string; kind: string; spec: Record<string, unknown> } }> {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as never);
  } catch {
    return [];
  }
}

function kubeconfigWithExec(file: string, exec: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return writeKubeconfig(file, {
    clusters: [{ name: 'c', cluster: { server: access.server, 'certificate-authority-data': access.caData, ...cluster } }],
    users: [{ name: 'plugged', user: { exec } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'plugged' } }],
    'current-context': 'x',
  });
}

const captured = (): { write(d: string | Uint8Array): boolean; text(): string } => {
  let text = '';
  return {
    write: (d) => {
      text += typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
      return true;
    },
    text: () => text,
  };
};

describe('exec credential plugins', () => {
  for (const apiVersion of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
    it(`${apiVersion}: command relative to the kubeconfig, args, env and KUBERNETES_EXEC_INFO (with provideClusterInfo) as kubectl gives them; the answer cached`, async () => {
      setup.ready();
      const version = apiVersion.split('/')[1] as string;
      const base = join(dir, `basic-${version}`);
      const plugin = writePlugin(join(base, 'bin'), 'token-plugin', apiVersion);
      writeFileSync(plugin.answers, JSON.stringify([{ token: tokens['alice'] }]));
      const file = kubeconfigWithExec(
        join(base, 'config'),
        {
          apiVersion,
          command: './bin/token-plugin',
          args: ['--cluster-name', 'test'],
          env: [{ name: 'PLUGIN_COLOUR', value: 'green' }],
          provideClusterInfo: true,
          ...(version === 'v1' ? { interactiveMode: 'IfAvailable' } : {}),
        },
        { 'tls-server-name': 'localhost', extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'lading-test' } }] },
      );
      const env = { HOME: dir, KUBECONFIG: file };
      expect(await kubectlWhoami([], { env })).toBe(sa('alice'));
      // kubectl may run it more than once (one authenticator per client it makes).
      const fromKubectl = runsOf(plugin.log);
      expect(fromKubectl.length).toBeGreaterThan(0);
      const stderr = captured();
      const client = await KubeClient.connect({ env, execStderr: stderr });
      try {
        expect(await ladingWhoami(client)).toBe(sa('alice'));
        expect(await ladingWhoami(client)).toBe(sa('alice'));
      } finally {
        await client.close();
      }
      const runs = runsOf(plugin.log).slice(fromKubectl.length);
      // No expirationTimestamp: one run for both requests.
      expect(runs).toHaveLength(1);
      expect(runs[0]).toEqual(fromKubectl[0]);
      expect(runs[0]?.info.spec).toMatchObject({ interactive: false, cluster: { server: access.server, 'certificate-authority-data': access.caData, 'tls-server-name': 'localhost', config: { audience: 'lading-test' } } });
      expect(runs[0]?.env['PLUGIN_COLOUR']).toBe('green');
      expect(stderr.text()).toBe(`plugin run ${fromKubectl.length + 1}\n`);
    });
  }

  it('interactiveMode: Never and IfAvailable run without a terminal; Always refuses to, as kubectl does', async () => {
    setup.ready();
    const base = join(dir, 'interactive');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1');
    writeFileSync(plugin.answers, JSON.stringify([{ token: tokens['alice'] }]));
    for (const mode of ['Never', 'IfAvailable', 'Always']) {
      const file = kubeconfigWithExec(join(base, `${mode}.yaml`), { apiVersion: 'client.authentication.k8s.io/v1', command: plugin.path, interactiveMode: mode });
      const env = { HOME: dir, KUBECONFIG: file };
      const k = await kubectlWith(['auth', 'whoami'], { env, allowFailure: true });
      const client = await KubeClient.connect({ env, stdinIsTerminal: false, execStderr: captured() });
      const l = await ladingWhoami(client).then(
        () => undefined,
        (e: unknown) => e as KubeError,
      );
      await client.close();
      expect({ mode, kubectl: k.code === 0, lading: l === undefined }).toEqual({ mode, kubectl: mode !== 'Always', lading: mode !== 'Always' });
      if (mode === 'Always') {
        expect(k.stderr).toContain('standard input is not a terminal');
        expect(l?.message).toBe(`kubeconfig ${file}: user "plugged": exec plugin ${plugin.path}: interactiveMode is Always but standard input is not a terminal`);
      }
    }
    const runs = runsOf(plugin.log);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(runs.every((r) => r.info.spec['interactive'] === false)).toBe(true);
  });

  it('interactiveMode under a terminal (script(1) gives the commands one): the plugin is told it may prompt, except with Never, as kubectl tells it', async () => {
    setup.ready();
    if (!existsSync('/usr/bin/script')) throw new Error('/usr/bin/script is missing: install util-linux (`sudo apt-get install -y util-linux`)');
    const base = join(dir, 'terminal');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1');
    writeFileSync(plugin.answers, JSON.stringify([{ token: tokens['alice'] }]));
    // lading's client from the sources, in a process whose standard input is the terminal.
    const probe = join(base, 'probe.mts');
    writeFileSync(
      probe,
      `import { KubeClient } from ${JSON.stringify(join(repoRoot, 'src', 'kube', 'index.ts'))};\n` +
        `const client = await KubeClient.connect({});\n` +
        `await client.request({ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });\n` +
        `await client.close();\n`,
    );
    const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
    const underTerminal = (command: string[], env: NodeJS.ProcessEnv): Promise<unknown> =>
      run('/usr/bin/script', ['-qec', command.map(quote).join(' '), '/dev/null'], { env: { ...process.env, HOME: dir, ...env }, cwd: repoRoot });
    const seen: Record<string, unknown[]> = {};
    for (const mode of ['Never', 'IfAvailable', 'Always']) {
      const file = kubeconfigWithExec(join(base, `${mode}.yaml`), { apiVersion: 'client.authentication.k8s.io/v1', command: plugin.path, interactiveMode: mode });
      writeFileSync(plugin.log, '');
      await underTerminal(['kubectl', 'auth', 'whoami'], { KUBECONFIG: file });
      const fromKubectl = runsOf(plugin.log).map((r) => r.info.spec['interactive']);
      writeFileSync(plugin.log, '');
      await underTerminal([process.execPath, '--import', 'tsx', probe], { KUBECONFIG: file });
      const fromLading = runsOf(plugin.log).map((r) => r.info.spec['interactive']);
      seen[mode] = [fromKubectl[0], fromLading];
    }
    expect(seen).toEqual({ Never: [false, [false]], IfAvailable: [true, [true]], Always: [true, [true]] });
  });

  it('a missing plugin: the error shows its installHint, as kubectl does', async () => {
    setup.ready();
    const hint = 'lading-test-auth is not installed. Install it with:\n  apt-get install lading-test-auth';
    const file = kubeconfigWithExec(join(dir, 'missing.yaml'), { apiVersion: 'client.authentication.k8s.io/v1', command: 'lading-test-auth-not-installed', interactiveMode: 'Never', installHint: hint });
    const env = { HOME: dir, KUBECONFIG: file };
    const k = await kubectlWith(['auth', 'whoami'], { env, allowFailure: true });
    expect(k.code).not.toBe(0);
    expect(k.stderr).toContain(hint);
    const client = await KubeClient.connect({ env });
    await expect(ladingWhoami(client)).rejects.toThrow(`kubeconfig ${file}: user "plugged": exec plugin lading-test-auth-not-installed: executable not found on PATH\n\n${hint}`);
    await client.close();
  });

  it('cached until expirationTimestamp; an expired answer is asked for again', async () => {
    setup.ready();
    const base = join(dir, 'expiry');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1');
    const file = kubeconfigWithExec(join(base, 'config'), { apiVersion: 'client.authentication.k8s.io/v1', command: plugin.path, interactiveMode: 'Never' });
    const env = { HOME: dir, KUBECONFIG: file };
    writeFileSync(plugin.answers, JSON.stringify([{ token: tokens['alice'], expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() }]));
    let client = await KubeClient.connect({ env, execStderr: captured() });
    for (let i = 0; i < 3; i++) expect(await ladingWhoami(client)).toBe(sa('alice'));
    await client.close();
    expect(runsOf(plugin.log)).toHaveLength(1);
    // Already expired when it arrives: the next request asks again (and gets bob, kept for good).
    writeFileSync(plugin.answers, JSON.stringify([{ token: tokens['alice'], expirationTimestamp: '2000-01-01T00:00:00Z' }, { token: tokens['bob'] }]));
    writeFileSync(plugin.log, '');
    client = await KubeClient.connect({ env, execStderr: captured() });
    expect(await ladingWhoami(client)).toBe(sa('alice'));
    expect(await ladingWhoami(client)).toBe(sa('bob'));
    expect(await ladingWhoami(client)).toBe(sa('bob'));
    await client.close();
    expect(runsOf(plugin.log)).toHaveLength(2);
  });

  it('run again when the API server answers 401, and the request retried with the new credential', async () => {
    setup.ready();
    const base = join(dir, 'unauthorized');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1');
    writeFileSync(plugin.answers, JSON.stringify([{ token: 'a-token-the-api-server-refuses' }, { token: tokens['bob'] }]));
    const file = kubeconfigWithExec(join(base, 'config'), { apiVersion: 'client.authentication.k8s.io/v1', command: plugin.path, interactiveMode: 'Never' });
    const client = await KubeClient.connect({ env: { HOME: dir, KUBECONFIG: file }, execStderr: captured() });
    expect(await ladingWhoami(client)).toBe(sa('bob'));
    await client.close();
    expect(runsOf(plugin.log)).toHaveLength(2);
  });

  it('client certificates from the plugin, and a new certificate used for new connections', async () => {
    setup.ready();
    const base = join(dir, 'certs');
    mkdirSync(base, { recursive: true });
    const first = await clusterSignedClientCert(admin, base, 'exec-cert-one');
    const second = await clusterSignedClientCert(admin, base, 'exec-cert-two');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1beta1');
    const file = kubeconfigWithExec(join(base, 'config'), { apiVersion: 'client.authentication.k8s.io/v1beta1', command: plugin.path });
    const env = { HOME: dir, KUBECONFIG: file };
    writeFileSync(plugin.answers, JSON.stringify([{ clientCertificateData: first.cert, clientKeyData: first.key }]));
    expect(await kubectlWhoami([], { env })).toBe('exec-cert-one');
    // The first certificate expires at once; the second is kept.
    writeFileSync(plugin.log, '');
    writeFileSync(
      plugin.answers,
      JSON.stringify([
        { clientCertificateData: first.cert, clientKeyData: first.key, expirationTimestamp: '2000-01-01T00:00:00Z' },
        { clientCertificateData: second.cert, clientKeyData: second.key },
      ]),
    );
    const client = await KubeClient.connect({ env, execStderr: captured() });
    try {
      expect(await ladingWhoami(client)).toBe('exec-cert-one');
      expect(await ladingWhoami(client)).toBe('exec-cert-two');
      expect(await ladingWhoami(client)).toBe('exec-cert-two');
    } finally {
      await client.close();
    }
    expect(runsOf(plugin.log)).toHaveLength(2);
  });

  it('a plugin that fails or answers nonsense: the error names the kubeconfig, user and plugin, never what it printed', async () => {
    setup.ready();
    const base = join(dir, 'bad');
    const plugin = writePlugin(base, 'p', 'client.authentication.k8s.io/v1');
    writeFileSync(plugin.answers, JSON.stringify([{ clientCertificateData: 'secret-material-not-for-messages' }]));
    const file = kubeconfigWithExec(join(base, 'config'), { apiVersion: 'client.authentication.k8s.io/v1', command: plugin.path, interactiveMode: 'Never' });
    const client = await KubeClient.connect({ env: { HOME: dir, KUBECONFIG: file }, execStderr: captured() });
    const err = await ladingWhoami(client).catch((e: unknown) => e as KubeError);
    await client.close();
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).message).toBe(`kubeconfig ${file}: user "plugged": exec plugin ${plugin.path}: returned only one of clientCertificateData and clientKeyData`);
    const failing = join(base, 'failing');
    writeFileSync(failing, '#!/bin/sh\necho "token: secret-material-not-for-messages"\nexit 3\n');
    chmodSync(failing, 0o755);
    const file2 = kubeconfigWithExec(join(base, 'config2'), { apiVersion: 'client.authentication.k8s.io/v1', command: failing, interactiveMode: 'Never' });
    const client2 = await KubeClient.connect({ env: { HOME: dir, KUBECONFIG: file2 }, execStderr: captured() });
    await expect(ladingWhoami(client2)).rejects.toThrow(`kubeconfig ${file2}: user "plugged": exec plugin ${failing}: failed with exit code 3`);
    await client2.close();
  });
});
