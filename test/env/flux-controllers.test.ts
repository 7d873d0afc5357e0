// Flux's own source-controller and kustomize-controller (test/tools/fluxctl, v1.9.5) run as local
// processes against a private cluster (their CRDs have the names of lading's, so not the shared
// one): an artifact pushed with the flux CLI and a commit on the local git server become Ready
// sources, and Kustomizations of both apply their ConfigMaps. This is the reference the
// interop tests compare lading's controller with.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from './cluster.js';
import { startFluxControllers, startGitServer, type GitServer, type RunningFluxControllers } from './flux-controllers.js';
import { run, sleep } from './process.js';
import { startRegistry, type RunningRegistry } from './registry.js';
import { toolPath } from './tools.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface FluxObject {
  metadata: { generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    artifact?: { url: string; revision: string; digest: string };
    lastAppliedRevision?: string;
  };
}

const NS = 'interop';

describe('Flux source-controller and kustomize-controller v1.9.5 as local processes', () => {
  let cluster: RunningCluster | undefined;
  let registry: RunningRegistry | undefined;
  let git: GitServer | undefined;
  let flux: RunningFluxControllers | undefined;
  let dir = '';

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    if (cluster === undefined) throw new Error('no cluster');
    return (await run('kubectl', ['--kubeconfig', cluster.kubeconfig, ...args], input !== undefined ? { input } : {})).stdout;
  };

  /** Polls until the object's Ready condition is True for its current generation (a bound, not an assertion). */
  const waitReady = async (resource: string, until: (o: FluxObject) => boolean = () => true): Promise<FluxObject> => {
    const deadline = Date.now() + 180_000;
    let last: FluxObject | undefined;
    for (;;) {
      last = JSON.parse(await kubectl(['get', resource, '-n', NS, '-o', 'json'])) as FluxObject;
      const ready = last.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True' && last.status?.observedGeneration === last.metadata.generation && until(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(
          `${resource} not Ready: ${JSON.stringify(last.status)}\n--- source-controller ---\n${flux?.readLog('source').slice(-3000) ?? ''}\n--- kustomize-controller ---\n${flux?.readLog('kustomize').slice(-3000) ?? ''}`,
        );
      }
      await sleep(500);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lading-flux-interop-'));
    cluster = await startCluster({ nodes: 1 });
    registry = await startRegistry();
    git = await startGitServer();
    flux = await startFluxControllers({ kubeconfig: cluster.kubeconfig, namespace: 'flux-system' });
    await kubectl(['create', 'namespace', NS]);
  }, 400_000);

  afterAll(async () => {
    await flux?.stop();
    await git?.stop();
    await registry?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs both controllers with Flux CRDs installed and the artifact server listening', async () => {
    expect(flux?.controllers.map((c) => c.name)).toEqual(['source', 'kustomize']);
    expect(flux?.sourceStorageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const crds = await kubectl(['get', 'crd', '-o', 'name']);
    for (const name of ['ocirepositories', 'gitrepositories', 'buckets', 'helmrepositories', 'helmcharts', 'externalartifacts']) {
      expect(crds).toContain(`customresourcedefinition.apiextensions.k8s.io/${name}.source.toolkit.fluxcd.io`);
    }
    expect(crds).toContain('customresourcedefinition.apiextensions.k8s.io/kustomizations.kustomize.toolkit.fluxcd.io');
    for (const c of flux?.controllers ?? []) {
      const res = await fetch(c.metricsUrl);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('controller_runtime_reconcile_total');
    }
  });

  it('a controller that cannot start fails the start with its own words', async () => {
    const kubeconfig = cluster?.kubeconfig ?? '';
    await expect(startFluxControllers({ kubeconfig, which: ['kustomize'], installCrds: false, args: { kustomize: ['--no-such-flag'] } })).rejects.toThrow(
      /kustomize-controller exited \(\d+\); last log lines:[\s\S]*unknown flag: --no-such-flag/,
    );
  });

  it('an artifact pushed with the flux CLI: OCIRepository and Kustomization become Ready and the ConfigMap is applied', async () => {
    const reg = registry as RunningRegistry;
    const manifests = join(dir, 'oci');
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'configmap.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\ndata:\n  greeting: hello from oci\n');
    const pushed = await run(toolPath('flux'), [
      'push',
      'artifact',
      `oci://${reg.host}/interop/app:v1`,
      `--path=${manifests}`,
      '--source=https://example.invalid/lading/interop',
      `--revision=main@sha1:${'b'.repeat(40)}`,
      '--insecure-registry',
      '--output',
      'json',
    ], { env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker') } });
    const digest = (JSON.parse(pushed.stdout) as { digest: string }).digest;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'OCIRepository',
          metadata: { name: 'app', namespace: NS },
          spec: { url: `oci://${reg.host}/interop/app`, ref: { tag: 'v1' }, insecure: true, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'app', namespace: NS },
          // Flux refuses namespaced objects without a namespace: targetNamespace sets it.
          spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './', prune: true, interval: '10m', targetNamespace: NS },
        },
      ],
    }));

    const source = await waitReady('ocirepository/app');
    const artifact = source.status?.artifact;
    expect(artifact?.revision).toBe(`v1@${digest}`);
    expect(artifact?.url.startsWith(`${flux?.sourceStorageUrl ?? '?'}/ocirepository/${NS}/app/`)).toBe(true);
    // The artifact server serves the tarball whose digest the status records.
    const res = await fetch(artifact?.url ?? '');
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(artifact?.digest);

    const ks = await waitReady('kustomization/app');
    expect(ks.status?.lastAppliedRevision).toBe(`v1@${digest}`);
    const cm = JSON.parse(await kubectl(['get', 'configmap', 'from-oci', '-n', NS, '-o', 'json'])) as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
    expect(cm.data['greeting']).toBe('hello from oci');
    expect(cm.metadata.labels['kustomize.toolkit.fluxcd.io/name']).toBe('app');
    expect(cm.metadata.labels['kustomize.toolkit.fluxcd.io/namespace']).toBe(NS);
  }, 300_000);

  it('a GitRepository on the local git server becomes Ready, and a new commit is applied by its Kustomization', async () => {
    const server = git as GitServer;
    const configMap = (greeting: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\n  namespace: ${NS}\ndata:\n  greeting: ${greeting}\n`;
    const first = await server.commit('config', { 'deploy/configmap.yaml': configMap('hello from git'), 'README.md': 'not applied\n' });
    expect(first).toMatch(/^[0-9a-f]{40}$/);

    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'GitRepository',
          metadata: { name: 'config', namespace: NS },
          spec: { url: server.repoUrl('config'), ref: { branch: 'main' }, interval: '10m' },
        },
        {
          apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
          kind: 'Kustomization',
          metadata: { name: 'config', namespace: NS },
          spec: { sourceRef: { kind: 'GitRepository', name: 'config' }, path: './deploy', prune: true, interval: '10m' },
        },
      ],
    }));

    const source = await waitReady('gitrepository/config');
    expect(source.status?.artifact?.revision).toBe(`main@sha1:${first}`);
    expect(server.requests.some((r) => /^GET \/config\.git\/info\/refs\?service=git-upload-pack 200$/.test(r))).toBe(true);
    expect(server.requests.some((r) => /^POST \/config\.git\/git-upload-pack 200$/.test(r))).toBe(true);
    await waitReady('kustomization/config', (o) => o.status?.lastAppliedRevision === `main@sha1:${first}`);
    const read = async (): Promise<string | undefined> =>
      (JSON.parse(await kubectl(['get', 'configmap', 'from-git', '-n', NS, '-o', 'json'])) as { data: Record<string, string> }).data['greeting'];
    expect(await read()).toBe('hello from git');

    // A second commit, fetched on request (reconcile.fluxcd.io/requestedAt), reaches the cluster.
    const second = await server.commit('config', { 'deploy/configmap.yaml': configMap('hello again') });
    expect(second).not.toBe(first);
    await kubectl(['annotate', '--overwrite', '-n', NS, 'gitrepository/config', `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`]);
    await waitReady('gitrepository/config', (o) => o.status?.artifact?.revision === `main@sha1:${second}`);
    await waitReady('kustomization/config', (o) => o.status?.lastAppliedRevision === `main@sha1:${second}`);
    expect(await read()).toBe('hello again');
  }, 300_000);

  it('the git server with basic auth refuses a request without credentials and serves a GitRepository with secretRef', async () => {
    const locked = await startGitServer({ auth: { username: 'reader', password: 's3cret' } });
    try {
      const sha = await locked.commit('private', { 'a.yaml': 'a: 1\n' });
      const denied = await fetch(`${locked.repoUrl('private')}/info/refs?service=git-upload-pack`);
      expect(denied.status).toBe(401);
      await denied.body?.cancel();
      const allowed = await fetch(`${locked.repoUrl('private')}/info/refs?service=git-upload-pack`, {
        headers: { authorization: `Basic ${Buffer.from('reader:s3cret').toString('base64')}` },
      });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
      expect(await allowed.text()).toContain('refs/heads/main');

      await kubectl(['apply', '-f', '-'], JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-auth', namespace: NS }, stringData: { username: 'reader', password: 's3cret' } },
          {
            apiVersion: 'source.toolkit.fluxcd.io/v1',
            kind: 'GitRepository',
            metadata: { name: 'private', namespace: NS },
            spec: { url: locked.repoUrl('private'), ref: { branch: 'main' }, interval: '10m', secretRef: { name: 'git-auth' } },
          },
        ],
      }));
      const source = await waitReady('gitrepository/private');
      expect(source.status?.artifact?.revision).toBe(`main@sha1:${sha}`);
      expect(locked.requests.some((r) => /^POST \/private\.git\/git-upload-pack 200$/.test(r))).toBe(true);
    } finally {
      await locked.stop();
    }
  }, 300_000);
});
