// How an OCIRepository reaches its registry: certSecretRef (CA and client certificate against a
// registry that requires mutual TLS), proxySecretRef (a real proxy with basic auth), spec.timeout
// against a registry that never answers, and the cloud-provider seam.
import { readFileSync, rmSync } from 'node:fs';
import { installLadingCrds } from './crd-install.js';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushArtifact } from '../../src/artifact/index.js';
import { ArtifactStorage, createOCIRepositoryReconciler, type CloudCredentialsFn } from '../../src/controller/source/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { StaticCredentials } from '../../src/oci/index.js';
import { startProxy, type RunningProxy } from '../env/proxy.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { clusterKubeconfig, connect, deferredSetup, tempDir } from '../kube/helpers.js';
import { condition, createNamespace, createOCIRepository, createSecret, reconcileOnce } from './fixtures/source/harness.js';

const setup = deferredSetup();
let client: KubeClient;
let ns: string;
let mtls: RunningRegistry;
let tlsOnly: RunningRegistry;
let plain: RunningRegistry;
let privateRegistry: RunningRegistry;
let proxy: RunningProxy;
let silent: Server;
const silentSockets = new Set<Socket>();
let storageRoot: string;
let work: string;
let reconciler: ReturnType<typeof createOCIRepositoryReconciler>;
const proxyPassword = 'proxy-s3cret-passw0rd';

async function push(reg: RunningRegistry, repo: string): Promise<string> {
  const dir = join(work, `${repo}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'deploy.yaml'), `kind: Deployment # ${repo}\n`);
  const registry = {
    ...(reg.caFile ? { caFile: reg.caFile } : {}),
    ...(reg.pki ? { certFile: reg.pki.clientCertFile, keyFile: reg.pki.clientKeyFile } : {}),
    ...(reg.username ? { credentials: new StaticCredentials({ [reg.host]: { username: reg.username, password: reg.password! } }) } : {}),
  };
  return (await pushArtifact({ url: `oci://${reg.host}/${repo}:1.0.0`, path: dir, registry })).digest;
}

beforeAll(() =>
  setup.run(async () => {
    const kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig);
    await installLadingCrds(kubeconfig);
    ns = await createNamespace(client, 'lading-ocirepo-transport');
    [mtls, tlsOnly, plain, privateRegistry, proxy] = await Promise.all([
      startRegistry({ tls: true, clientCerts: true }),
      startRegistry({ tls: true }),
      startRegistry(),
      startRegistry({ auth: true }),
      startProxy({ auth: { username: 'proxyuser', password: proxyPassword } }),
    ]);
    silent = createServer((s) => {
      silentSockets.add(s);
      s.on('close', () => silentSockets.delete(s));
    });
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    storageRoot = tempDir('lading-source-storage-');
    work = tempDir('lading-source-work-');
    const storage = new ArtifactStorage({ root: storageRoot, advertisedAddress: 'localhost:9090' });
    // The cloud seam: a token exchange that answers with the private registry's credentials (the
    // real exchanges, src/oci/cloud, are tested against local fakes of each cloud there).
    const cloudCredentials: CloudCredentialsFn = async (provider, host) => {
      if (provider !== 'gcp' || host !== privateRegistry.host) throw new Error(`unexpected ${provider} ${host}`);
      return { username: privateRegistry.username!, password: privateRegistry.password! };
    };
    reconciler = createOCIRepositoryReconciler({ storage, registry: { retries: 0, retryBaseMs: 10 }, env: {}, cloudCredentials });
    await Promise.all([push(mtls, 'app'), push(tlsOnly, 'app'), push(plain, 'app'), push(privateRegistry, 'cloud-app')]);
  }),
);

afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  silent?.close();
  await Promise.all([mtls?.stop(), tlsOnly?.stop(), plain?.stop(), privateRegistry?.stop(), proxy?.stop()]);
  if (client && ns) await client.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  for (const d of [storageRoot, work]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('OCIRepository transport', () => {
  it('certSecretRef: CA and client certificate (and the legacy keys); without them the TLS handshake fails', async () => {
    setup.ready();
    const pki = mtls.pki!;
    await createSecret(client, ns, 'tls', 'Opaque', { 'ca.crt': readFileSync(pki.caFile), 'tls.crt': readFileSync(pki.clientCertFile), 'tls.key': readFileSync(pki.clientKeyFile) });
    await createSecret(client, ns, 'tls-legacy', 'Opaque', { caFile: readFileSync(pki.caFile), certFile: readFileSync(pki.clientCertFile), keyFile: readFileSync(pki.clientKeyFile) });
    await createSecret(client, ns, 'tls-ca-only', 'kubernetes.io/tls', { 'ca.crt': readFileSync(pki.caFile), 'tls.crt': '', 'tls.key': '' });
    await createSecret(client, ns, 'tls-no-key', 'Opaque', { 'tls.crt': readFileSync(pki.clientCertFile) });
    const url = `oci://${mtls.host}/app`;
    await createOCIRepository(client, ns, 'mtls', { url, ref: { tag: '1.0.0' }, certSecretRef: { name: 'tls' } });
    const ok = await reconcileOnce(client, reconciler, ns, 'mtls');
    expect(ok.outcome.error).toBeUndefined();
    expect(condition(ok.after, 'Ready')?.status).toBe('True');
    await createOCIRepository(client, ns, 'mtls-legacy', { url, ref: { tag: '1.0.0' }, certSecretRef: { name: 'tls-legacy' } });
    expect((await reconcileOnce(client, reconciler, ns, 'mtls-legacy')).outcome.error).toBeUndefined();

    await createOCIRepository(client, ns, 'mtls-ca-only', { url, ref: { tag: '1.0.0' }, certSecretRef: { name: 'tls-ca-only' } });
    const caOnly = await reconcileOnce(client, reconciler, ns, 'mtls-ca-only');
    expect(condition(caOnly.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
    await createOCIRepository(client, ns, 'mtls-none', { url, ref: { tag: '1.0.0' } });
    const none = await reconcileOnce(client, reconciler, ns, 'mtls-none');
    expect(condition(none.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
    await createOCIRepository(client, ns, 'mtls-no-key', { url, ref: { tag: '1.0.0' }, certSecretRef: { name: 'tls-no-key' } });
    const noKey = await reconcileOnce(client, reconciler, ns, 'mtls-no-key');
    expect(condition(noKey.after, 'FetchFailed')).toMatchObject({
      status: 'True',
      reason: 'AuthenticationFailed',
      message: `failed to generate transport for '${url}': secret '${ns}/tls-no-key' contains 'tls.crt' but missing 'tls.key'`,
    });
    // The client key never shows.
    const key = readFileSync(pki.clientKeyFile, 'utf8');
    const body = key.split('\n').find((l) => l.length > 40)!;
    expect(JSON.stringify([ok, caOnly, none, noKey].map((r) => [r.statuses, r.events, r.outcome.error?.message]))).not.toContain(body);
  });

  it('a registry with a certificate of an unknown CA: refused, unless spec.insecure skips the check', async () => {
    setup.ready();
    const url = `oci://${tlsOnly.host}/app`;
    await createOCIRepository(client, ns, 'untrusted', { url, ref: { tag: '1.0.0' } });
    const refused = await reconcileOnce(client, reconciler, ns, 'untrusted');
    expect(condition(refused.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
    expect(condition(refused.after, 'FetchFailed')!.message).toContain('set spec.certSecretRef with its CA certificate');
    await createOCIRepository(client, ns, 'insecure', { url, ref: { tag: '1.0.0' }, insecure: true });
    const insecure = await reconcileOnce(client, reconciler, ns, 'insecure');
    expect(insecure.outcome.error).toBeUndefined();
    expect(condition(insecure.after, 'Ready')?.status).toBe('True');
  });

  it('proxySecretRef: requests go through the proxy with its credentials; a wrong password fails without showing it', async () => {
    setup.ready();
    const proxyURL = new URL(proxy.url);
    const address = `http://${proxyURL.host}`;
    await createSecret(client, ns, 'proxy', 'Opaque', { address, username: 'proxyuser', password: proxyPassword });
    await createSecret(client, ns, 'proxy-wrong', 'Opaque', { address, username: 'proxyuser', password: `${proxyPassword}-wrong` });
    await createSecret(client, ns, 'proxy-empty', 'Opaque', { address: '' });
    const url = `oci://${plain.host}/app`;
    const before = readFileSync(proxy.logFile, 'utf8').length;
    await createOCIRepository(client, ns, 'proxied', { url, ref: { tag: '1.0.0' }, proxySecretRef: { name: 'proxy' } });
    const ok = await reconcileOnce(client, reconciler, ns, 'proxied');
    expect(ok.outcome.error).toBeUndefined();
    expect(readFileSync(proxy.logFile, 'utf8').slice(before)).toContain(plain.host);

    await createOCIRepository(client, ns, 'proxied-wrong', { url, ref: { tag: '1.0.0' }, proxySecretRef: { name: 'proxy-wrong' } });
    const wrong = await reconcileOnce(client, reconciler, ns, 'proxied-wrong');
    expect(condition(wrong.after, 'FetchFailed')?.status).toBe('True');
    await createOCIRepository(client, ns, 'proxied-empty', { url, ref: { tag: '1.0.0' }, proxySecretRef: { name: 'proxy-empty' } });
    const empty = await reconcileOnce(client, reconciler, ns, 'proxied-empty');
    expect(condition(empty.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed', message: `failed to get proxy address: secret '${ns}/proxy-empty': proxy address is empty` });
    const everything = JSON.stringify([ok, wrong, empty].map((r) => [r.statuses, r.events, r.outcome.error?.message]));
    expect(everything).not.toContain(proxyPassword);
  });

  it('spec.timeout bounds the remote operations', async () => {
    setup.ready();
    const port = (silent.address() as { port: number }).port;
    await createOCIRepository(client, ns, 'stalling', { url: `oci://127.0.0.1:${port}/app`, ref: { tag: '1.0.0' }, timeout: '2s' });
    const r = await reconcileOnce(client, reconciler, ns, 'stalling');
    expect(condition(r.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'OCIArtifactPullFailed' });
    expect(condition(r.after, 'FetchFailed')!.message).toMatch(/^failed to determine artifact digest: .*timed out after 2s \(spec\.timeout\)$/);
    // Without the deadline the registry client would wait for its own connect and idle limits
    // (30 s and more): this test's own limit is below them.
  }, 25_000);

  it('provider: credentials from the cloud token exchange; serviceAccountName with a provider needs the feature gate', async () => {
    setup.ready();
    await createOCIRepository(client, ns, 'cloud', { url: `oci://${privateRegistry.host}/cloud-app`, ref: { tag: '1.0.0' }, provider: 'gcp' });
    const ok = await reconcileOnce(client, reconciler, ns, 'cloud');
    expect(ok.outcome.error).toBeUndefined();
    expect(condition(ok.after, 'Ready')?.status).toBe('True');
    await createOCIRepository(client, ns, 'cloud-aws', { url: `oci://${privateRegistry.host}/cloud-app`, ref: { tag: '1.0.0' }, provider: 'aws' });
    const aws = await reconcileOnce(client, reconciler, ns, 'cloud-aws');
    expect(condition(aws.after, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed', message: `failed to get credential from aws: unexpected aws ${privateRegistry.host}` });
    await client.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'workload' } } });
    await createOCIRepository(client, ns, 'cloud-sa', { url: `oci://${privateRegistry.host}/cloud-app`, ref: { tag: '1.0.0' }, provider: 'gcp', serviceAccountName: 'workload' });
    const sa = await reconcileOnce(client, reconciler, ns, 'cloud-sa');
    expect(sa.outcome.error).toBeUndefined();
    expect(sa.outcome.requeueAfterMs).toBeUndefined();
    expect(condition(sa.after, 'Stalled')).toMatchObject({ status: 'True', reason: 'FeatureGateDisabled' });
    expect(everythingOf([ok, aws, sa])).not.toContain(privateRegistry.password!);
  });
});

function everythingOf(runs: Array<{ statuses: unknown; events: unknown; outcome: { error?: Error } }>): string {
  return JSON.stringify(runs.map((r) => [r.statuses, r.events, r.outcome.error?.message]));
}
