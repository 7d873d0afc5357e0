// Helpers for the kubeconfig, exec-plugin and in-cluster tests: kubectl run with a given
// environment (the oracle), "who am I" asked of the real API server by kubectl and by lading,
// service-account tokens and client certificates issued by the test cluster itself.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { KubeClient } from '../../src/kube/index.js';
import { run, sleep, type RunResult } from '../env/process.js';

/** The API server and admin credentials of a kubeconfig written by test/env/cluster.ts. */
export interface ClusterAccess {
  server: string;
  /** base64 of the CA (certificate-authority-data). */
  caData: string;
  certData: string;
  keyData: string;
}

export function clusterAccess(kubeconfig: string): ClusterAccess {
  const kc = parse(readFileSync(kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
    users: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
  };
  const cluster = kc.clusters[0]?.cluster;
  const user = kc.users[0]?.user;
  if (!cluster || !user) throw new Error(`${kubeconfig}: not the kubeconfig test/env/cluster.ts writes`);
  return { server: cluster.server, caData: cluster['certificate-authority-data'], certData: user['client-certificate-data'], keyData: user['client-key-data'] };
}

export interface KubeconfigShape {
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
  contexts?: Array<{ name: string; context: Record<string, unknown> }>;
  'current-context'?: string;
}

export function writeKubeconfig(file: string, config: KubeconfigShape): string {
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', ...config }), { mode: 0o600 });
  return file;
}

/** kubectl with exactly this environment on top of PATH and HOME (no KUBECONFIG unless given). */
export function kubectlWith(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; allowFailure?: boolean; input?: string }): Promise<RunResult> {
  // Without HOME kubectl puts its discovery cache in the working directory.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? tmpdir(), ...opts.env };
  return run('kubectl', args, { env, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.allowFailure ? { allowFailure: true } : {}), ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** The user the API server sees, as kubectl reports it (`kubectl auth whoami`). */
export async function kubectlWhoami(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<string> {
  const res = await kubectlWith(['auth', 'whoami', '-o', 'json', ...args], opts);
  return (JSON.parse(res.stdout) as { status: { userInfo: { username: string } } }).status.userInfo.username;
}

/** The user the API server sees for lading's client (a SelfSubjectReview, as kubectl auth whoami sends). */
export async function ladingWhoami(client: KubeClient): Promise<string> {
  const res = await client.request<{ status: { userInfo: { username: string } } }>({
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    what: 'asking who I am',
  });
  return res.status.userInfo.username;
}

/**
 * Creates (idempotently, through the admin kubeconfig) a namespace with service accounts that
 * may read everything (ClusterRole view), and returns a fresh token for each.
 */
export async function serviceAccountTokens(adminKubeconfig: string, namespace: string, names: string[]): Promise<Record<string, string>> {
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    ...names.map((n) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: n, namespace } })),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-view` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: names.map((n) => ({ kind: 'ServiceAccount', name: n, namespace })),
    },
  ];
  await kubectlWith(['--kubeconfig', adminKubeconfig, 'apply', '-f', '-'], { env: {}, input: docs.map((d) => stringify(d)).join('---\n') });
  const tokens: Record<string, string> = {};
  for (const n of names) {
    // The ServiceAccount may not be visible to the token endpoint for a moment after creation.
    for (let attempt = 0; ; attempt++) {
      const res = await kubectlWith(['--kubeconfig', adminKubeconfig, 'create', 'token', n, '-n', namespace, '--duration', '2h'], { env: {}, allowFailure: true });
      if (res.code === 0) {
        tokens[n] = res.stdout.trim();
        break;
      }
      if (attempt >= 20) throw new Error(`kubectl create token ${n} -n ${namespace}: ${res.stderr}`);
      await sleep(250);
    }
  }
  return tokens;
}

/**
 * A client certificate for user `cn`, signed by the test cluster through the CertificateSigningRequest
 * API (signer kubernetes.io/kube-apiserver-client, approved with the admin kubeconfig).
 */
export async function clusterSignedClientCert(adminKubeconfig: string, dir: string, cn: string): Promise<{ cert: string; key: string }> {
  const keyFile = join(dir, `${cn}.key`);
  const csrFile = join(dir, `${cn}.csr`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${cn}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const name = `lading-test-${cn}`;
  const csr = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request: readFileSync(csrFile).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'], expirationSeconds: 3600 },
  };
  const env = {};
  await kubectlWith(['--kubeconfig', adminKubeconfig, 'delete', 'csr', name, '--ignore-not-found'], { env });
  await kubectlWith(['--kubeconfig', adminKubeconfig, 'create', '-f', '-'], { env, input: JSON.stringify(csr) });
  await kubectlWith(['--kubeconfig', adminKubeconfig, 'certificate', 'approve', name], { env });
  for (let attempt = 0; attempt < 600; attempt++) {
    const res = await kubectlWith(['--kubeconfig', adminKubeconfig, 'get', 'csr', name, '-o', 'jsonpath={.status.certificate}'], { env });
    if (res.stdout.trim() !== '') return { cert: Buffer.from(res.stdout.trim(), 'base64').toString('utf8'), key: readFileSync(keyFile, 'utf8') };
    await sleep(100);
  }
  throw new Error(`the test cluster did not sign CSR ${name} (is kube-controller-manager running with --cluster-signing-cert-file?)`);
}
