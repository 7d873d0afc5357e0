// The seeds' controller flows, end to end, with `lading controller run` as a local process
// against the real control plane (kube-apiserver + kwok), a real registry, the real cosign and
// the real flux CLI:
// - seed 002 (the Flux OCI RFC), user story 2: a private registry (htpasswd, TLS) through a
//   `kubernetes.io/dockerconfigjson` secret, `ref.semver: "1.x"`, a cosign key secret, then a
//   Kustomization with prune, wait and `timeout: 2m` — the RFC's YAML verbatim but for the
//   registry host and the `oci://` prefix the released API requires; then new versions: a new
//   semver tag applied and pruned, an unsigned one and a tampered one refused with the last good
//   revision kept, and deletion pruning what was applied;
// - seed 004 (the blog): `flux push artifact` with --source/--revision, `cosign sign --key`, the
//   blog's OCIRepository (tag latest, verify) and Kustomization (targetNamespace), checked with
//   `flux get` as the blog does.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { toolPath } from '../env/tools.js';
import { run, waitFor } from '../env/process.js';
import { clusterKubeconfig, deferredSetup, demoAppCopy, kubectl, kubectlJson, lading, lines, removeDir, tempDir } from '../kube/helpers.js';
import { cosign, expectOk } from '../sign/helpers.js';
import { startLadingController, type LadingController } from './controller-process.js';
import { installLadingCrds } from './crd-install.js';
import { seed002Kustomization, seed002OCIRepository, seed004Manifests } from './fixtures/seed-manifests.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface FluxObject {
  metadata: { generation: number; finalizers?: string[] };
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    artifact?: { revision: string; digest: string; url: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    inventory?: { entries: Array<{ id: string; v: string }> };
  };
}

const cond = (o: FluxObject | undefined, type: string): Cond | undefined => o?.status?.conditions?.find((c) => c.type === type);

async function getObject(kubeconfig: string, ns: string, kind: string, name: string): Promise<FluxObject | undefined> {
  const r = await kubectl(kubeconfig, ['-n', ns, 'get', kind, name, '-o', 'json'], { allowFailure: true });
  return r.code === 0 ? (JSON.parse(r.stdout) as FluxObject) : undefined;
}

/** Waits until `check` holds for the object, reporting its last conditions and the controller log on timeout. */
async function waitObject(kubeconfig: string, controller: LadingController, ns: string, kind: string, name: string, what: string, check: (o: FluxObject) => boolean, timeoutMs = 240_000): Promise<FluxObject> {
  let last: FluxObject | undefined;
  try {
    return await waitFor(
      async () => {
        last = await getObject(kubeconfig, ns, kind, name);
        return last && check(last) ? last : undefined;
      },
      { what: `${kind} ${ns}/${name}: ${what}`, timeoutMs, intervalMs: 500 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}\ncontroller log:\n${controller.log()}`);
  }
}

const readyTrue = (o: FluxObject): boolean => cond(o, 'Ready')?.status === 'True' && o.status?.observedGeneration === o.metadata.generation;

describe('seed 002, Flux OCI RFC user story 2: private registry, semver 1.x, cosign key, prune, wait', () => {
  const setup = deferredSetup();
  const ns = 'seed-002';
  let kubeconfig: string;
  let registry: RunningRegistry;
  let controller: LadingController;
  let work: string;
  let app: string;
  let docker: string;
  let repo: string;
  const password = 'cosign-seed-002';
  const digests: Record<string, string> = {};

  /** lading with the registry login and CA of this suite. */
  const ladingCli = (args: string[]) => lading(args, { kubeconfig, env: { DOCKER_CONFIG: docker } });

  async function pushVersion(version: string, sign: boolean): Promise<string> {
    const r = await ladingCli(['push', 'artifact', `oci://${repo}:${version}`, '--path', app, '--source', 'https://github.com/org/my-app', '--revision', `${version}@sha1:0000000`, '--ca-file', registry.caFile as string, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const digest = (JSON.parse(r.stdout) as { digest: string }).digest;
    digests[version] = digest;
    if (sign) {
      const s = await cosign(['sign', '--key', join(work, 'cosign.key'), '--new-bundle-format=false', '--tlog-upload=false', '--use-signing-config=false', '-y', `${repo}@${digest}`], {
        cwd: work,
        password,
        env: { DOCKER_CONFIG: docker, SSL_CERT_FILE: registry.caFile as string },
      });
      expectOk(s, `cosign sign ${version}`);
    }
    return digest;
  }

  beforeAll(() =>
    setup.run(async () => {
      kubeconfig = clusterKubeconfig();
      registry = await startRegistry({ flavor: 'distribution3', tls: true, auth: true });
      repo = `${registry.host}/org/my-app-config`;
      work = tempDir('lading-seed-002-');
      docker = join(work, 'docker');
      app = demoAppCopy(work);
      // The app gets a namespace of its own so that this suite does not meet the tutorial's.
      for (const f of ['kustomization.yaml', 'namespace.yaml']) writeFileSync(join(app, f), readFileSync(join(app, f), 'utf8').replace(/demo-app/g, 'seed-002-app'));
      const login = await lading(['login', registry.host, '-u', registry.username as string, '--password', registry.password as string, '--ca-file', registry.caFile as string], { kubeconfig, env: { DOCKER_CONFIG: docker } });
      expect(login.code, login.stderr).toBe(0);
      expectOk(await cosign(['generate-key-pair'], { cwd: work, password }), 'cosign generate-key-pair');
      await installLadingCrds(kubeconfig);
      await kubectl(kubeconfig, ['create', 'namespace', ns]);
      // Only this suite's namespace: other files' objects on the shared cluster are not ours to reconcile.
      controller = await startLadingController({ kubeconfig, args: ['--watch-all-namespaces=false'], runtimeNamespace: ns, env: { NODE_EXTRA_CA_CERTS: registry.caFile as string } });
    }),
  );

  afterAll(async () => {
    await controller?.stop();
    await registry?.stop();
    if (work) removeDir(work);
  }, 300_000);

  it('pushes 1.0.0 and signs it with cosign', async () => {
    setup.ready();
    await pushVersion('1.0.0', true);
    await pushVersion('0.9.0', true);
  }, 300_000);

  it('creates the secrets as the RFC does (kubectl create secret docker-registry / generic --from-file)', async () => {
    setup.ready();
    await kubectl(kubeconfig, ['-n', ns, 'create', 'secret', 'docker-registry', 'my-app-regcred', `--docker-server=${registry.host}`, `--docker-username=${registry.username}`, `--docker-password=${registry.password}`]);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'secret', 'generic', 'my-app-cosgin-key', `--from-file=cosign.pub=${join(work, 'cosign.pub')}`]);
  }, 300_000);

  it("applies the RFC's OCIRepository: semver 1.x resolves to 1.0.0, the signature is verified, the artifact is stored", async () => {
    setup.ready();
    const yaml = seed002OCIRepository(`oci://${repo}`, ns);
    await kubectl(kubeconfig, ['apply', '-f', '-'], { input: yaml });
    const repoObj = await waitObject(kubeconfig, controller, ns, 'ocirepositories.source.toolkit.fluxcd.io', 'app-config', 'Ready', readyTrue);
    const revision = `1.0.0@${digests['1.0.0']}`;
    expect(repoObj.status?.artifact?.revision).toBe(revision);
    expect(repoObj.metadata.finalizers).toContain('finalizers.fluxcd.io');
    expect(cond(repoObj, 'SourceVerified')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(cond(repoObj, 'SourceVerified')?.message).toContain(revision);
    expect(cond(repoObj, 'ArtifactInStorage')).toMatchObject({ status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${revision}'` });
    // The artifact is served where status says, and its digest is the one recorded.
    const res = await fetch(repoObj.status?.artifact?.url as string);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(repoObj.status?.artifact?.digest);
    // No credential of the secret appears in the object.
    expect(JSON.stringify(repoObj)).not.toContain(registry.password as string);
  }, 300_000);

  it("applies the RFC's Kustomization (prune, wait, timeout 2m): the app is applied and Available through kwok", async () => {
    setup.ready();
    const yaml = seed002Kustomization(ns);
    await kubectl(kubeconfig, ['apply', '-f', '-'], { input: yaml });
    const ks = await waitObject(kubeconfig, controller, ns, 'kustomizations.kustomize.toolkit.fluxcd.io', 'app', 'Ready', readyTrue);
    const revision = `1.0.0@${digests['1.0.0']}`;
    expect(cond(ks, 'Ready')).toMatchObject({ reason: 'ReconciliationSucceeded', message: `Applied revision: ${revision}` });
    expect(cond(ks, 'Healthy')?.status).toBe('True');
    expect(ks.status?.lastAppliedRevision).toBe(revision);
    expect(ks.status?.inventory?.entries.map((e) => e.id).sort()).toEqual(
      [
        '_seed-002-app__Namespace',
        'seed-002-app_redis-config-bd2fcfgt6k__ConfigMap',
        'seed-002-app_backend__Service',
        'seed-002-app_cache__Service',
        'seed-002-app_frontend__Service',
        'seed-002-app_backend_apps_Deployment',
        'seed-002-app_cache_apps_Deployment',
        'seed-002-app_frontend_apps_Deployment',
        'seed-002-app_backend_autoscaling_HorizontalPodAutoscaler',
        'seed-002-app_frontend_autoscaling_HorizontalPodAutoscaler',
      ].sort(),
    );
    const deployments = await kubectlJson<{ items: Array<{ metadata: { name: string; labels: Record<string, string> }; status: { conditions?: Cond[] } }> }>(kubeconfig, ['-n', 'seed-002-app', 'get', 'deployments']);
    expect(deployments.items.map((d) => d.metadata.name).sort()).toEqual(['backend', 'cache', 'frontend']);
    for (const d of deployments.items) {
      expect(d.status.conditions?.find((c) => c.type === 'Available')?.status, d.metadata.name).toBe('True');
      expect(d.metadata.labels).toMatchObject({ 'kustomize.toolkit.fluxcd.io/name': 'app', 'kustomize.toolkit.fluxcd.io/namespace': ns });
    }
    const managers = await kubectlJson<{ metadata: { managedFields: Array<{ manager: string; operation: string }> } }>(kubeconfig, ['-n', 'seed-002-app', 'get', 'deployment', 'frontend', '--show-managed-fields']);
    expect(managers.metadata.managedFields.filter((m) => m.operation === 'Apply').map((m) => m.manager)).toContain('kustomize-controller');
  }, 300_000);

  it('a new semver tag 1.1.0 without the cache is applied and the cache objects are pruned', async () => {
    setup.ready();
    const k = join(app, 'kustomization.yaml');
    writeFileSync(k, readFileSync(k, 'utf8').replace('  - bases/cache\n', ''));
    await pushVersion('1.1.0', true);
    const revision = `1.1.0@${digests['1.1.0']}`;
    await kubectl(kubeconfig, ['-n', ns, 'annotate', '--overwrite', 'ocirepository', 'app-config', `reconcile.fluxcd.io/requestedAt=${Date.now()}`]);
    await waitObject(kubeconfig, controller, ns, 'ocirepositories.source.toolkit.fluxcd.io', 'app-config', 'new revision stored', (o) => o.status?.artifact?.revision === revision);
    const ks = await waitObject(kubeconfig, controller, ns, 'kustomizations.kustomize.toolkit.fluxcd.io', 'app', 'new revision applied', (o) => o.status?.lastAppliedRevision === revision && readyTrue(o));
    expect(ks.status?.inventory?.entries.map((e) => e.id)).not.toContain('seed-002-app_cache_apps_Deployment');
    const gone = await kubectl(kubeconfig, ['-n', 'seed-002-app', 'get', 'deployment', 'cache'], { allowFailure: true });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('NotFound');
  }, 300_000);

  it('an unsigned 1.2.0 is refused: SourceVerified False, nothing stored, 1.1.0 stays applied', async () => {
    setup.ready();
    await pushVersion('1.2.0', false);
    await kubectl(kubeconfig, ['-n', ns, 'annotate', '--overwrite', 'ocirepository', 'app-config', `reconcile.fluxcd.io/requestedAt=${Date.now()}`]);
    const repoObj = await waitObject(kubeconfig, controller, ns, 'ocirepositories.source.toolkit.fluxcd.io', 'app-config', 'verification failed', (o) => cond(o, 'SourceVerified')?.status === 'False');
    expect(cond(repoObj, 'SourceVerified')?.reason).toBe('VerificationError');
    expect(cond(repoObj, 'Ready')?.status).toBe('False');
    expect(repoObj.status?.artifact?.revision).toBe(`1.1.0@${digests['1.1.0']}`);
    const ks = await getObject(kubeconfig, ns, 'kustomizations.kustomize.toolkit.fluxcd.io', 'app');
    expect(ks?.status?.lastAppliedRevision).toBe(`1.1.0@${digests['1.1.0']}`);
  }, 300_000);

  it("a tampered 1.3.0 (1.1.0's signature copied onto its digest) is refused the same way", async () => {
    setup.ready();
    const k = join(app, 'kustomization.yaml');
    writeFileSync(k, readFileSync(k, 'utf8').replace('newTag: 6.0.0', 'newTag: 6.0.1'));
    const digest = await pushVersion('1.3.0', false);
    const crane = toolPath('crane');
    const sigOf = (d: string) => `${repo}:${d.replace(':', '-')}.sig`;
    await run(crane, ['copy', sigOf(digests['1.1.0'] as string), sigOf(digest)], { env: { ...process.env, DOCKER_CONFIG: docker, SSL_CERT_FILE: registry.caFile as string } });
    await kubectl(kubeconfig, ['-n', ns, 'annotate', '--overwrite', 'ocirepository', 'app-config', `reconcile.fluxcd.io/requestedAt=${Date.now()}`]);
    const repoObj = await waitObject(kubeconfig, controller, ns, 'ocirepositories.source.toolkit.fluxcd.io', 'app-config', 'verification of 1.3.0 failed', (o) => cond(o, 'SourceVerified')?.status === 'False' && (cond(o, 'SourceVerified')?.message ?? '').includes(digest));
    expect(repoObj.status?.artifact?.revision).toBe(`1.1.0@${digests['1.1.0']}`);
    const frontend = await kubectlJson<{ spec: { template: { spec: { containers: Array<{ image: string }> } } } }>(kubeconfig, ['-n', 'seed-002-app', 'get', 'deployment', 'frontend']);
    expect(frontend.spec.template.spec.containers[0]?.image).toBe('ghcr.io/stefanprodan/podinfo:6.0.0');
  }, 300_000);

  it('deleting the Kustomization prunes what it applied (prune: true), then the finalizer goes', async () => {
    setup.ready();
    await kubectl(kubeconfig, ['-n', ns, 'delete', 'kustomization', 'app', '--wait=true', '--timeout=120s']);
    const left = await kubectl(kubeconfig, ['-n', 'seed-002-app', 'get', 'deployments,services,hpa', '-o', 'name'], { allowFailure: true });
    expect(lines(left.stdout)).toEqual([]);
    await kubectl(kubeconfig, ['-n', ns, 'delete', 'ocirepository', 'app-config', '--wait=true', '--timeout=60s']);
  }, 300_000);
});

describe('seed 004, the blog: flux push artifact, cosign sign, OCIRepository with verify, Kustomization with targetNamespace', () => {
  const setup = deferredSetup();
  let kubeconfig: string;
  let registry: RunningRegistry;
  let controller: LadingController;
  let work: string;
  let repo: string;
  let digest = '';
  const password = 'cosign-seed-004';

  beforeAll(() =>
    setup.run(async () => {
      kubeconfig = clusterKubeconfig();
      registry = await startRegistry({ flavor: 'distribution3', tls: true });
      repo = `${registry.host}/developer-guy/manifests/kyverno`;
      work = tempDir('lading-seed-004-');
      expectOk(await cosign(['generate-key-pair'], { cwd: work, password }), 'cosign generate-key-pair');
      await installLadingCrds(kubeconfig);
      for (const n of ['flux-system', 'kyverno']) await kubectl(kubeconfig, ['create', 'namespace', n], { allowFailure: true });
      controller = await startLadingController({ kubeconfig, args: ['--watch-all-namespaces=false'], runtimeNamespace: 'flux-system', env: { NODE_EXTRA_CA_CERTS: registry.caFile as string } });
    }),
  );

  afterAll(async () => {
    await controller?.stop();
    await registry?.stop();
    if (work) removeDir(work);
  }, 300_000);

  it('pushes the manifests with `flux push artifact` and signs them with `cosign sign --key`', async () => {
    setup.ready();
    const manifests = join(work, 'manifests');
    mkdirSync(manifests);
    writeFileSync(
      join(manifests, 'install.yaml'),
      `apiVersion: v1
kind: ServiceAccount
metadata:
  name: kyverno
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kyverno
data:
  webhooks: '[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["kyverno"]}]}}]'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kyverno
  labels: {app: kyverno}
spec:
  replicas: 1
  selector: {matchLabels: {app: kyverno}}
  template:
    metadata: {labels: {app: kyverno}}
    spec:
      serviceAccountName: kyverno
      containers:
        - name: kyverno
          image: ghcr.io/kyverno/kyverno:v1.8.0
---
apiVersion: v1
kind: Service
metadata:
  name: kyverno-svc
spec:
  selector: {app: kyverno}
  ports: [{port: 443, targetPort: 9443}]
`,
    );
    const env = { ...process.env, SSL_CERT_FILE: registry.caFile as string, HOME: work, DOCKER_CONFIG: join(work, 'docker') };
    const push = await run(toolPath('flux'), ['push', 'artifact', `oci://${repo}:latest`, `--path=${manifests}`, '--source=https://github.com/kyverno/kyverno.git', '--revision=v1.8.0/0000000000000000000000000000000000000000'], { env });
    const m = /@(sha256:[0-9a-f]{64})/.exec(push.stdout + push.stderr);
    expect(m, push.stderr).not.toBeNull();
    digest = (m as RegExpExecArray)[1] as string;
    expectOk(await cosign(['sign', '--key', join(work, 'cosign.key'), '--new-bundle-format=false', '--tlog-upload=false', '--use-signing-config=false', '-y', `${repo}:latest`], { cwd: work, password, env: { SSL_CERT_FILE: registry.caFile as string } }), 'cosign sign');
    await kubectl(kubeconfig, ['-n', 'flux-system', 'create', 'secret', 'generic', 'cosign-pub', `--from-file=cosign.pub=${join(work, 'cosign.pub')}`]);
  }, 300_000);

  it("applies the blog's two objects: both Ready, SourceVerified True/Succeeded, objects in the target namespace", async () => {
    setup.ready();
    await kubectl(kubeconfig, ['apply', '-f', '-'], {
      input: seed004Manifests(`oci://${repo}`),
    });
    const revision = `latest@${digest}`;
    const src = await waitObject(kubeconfig, controller, 'flux-system', 'ocirepositories.source.toolkit.fluxcd.io', 'kyverno', 'Ready', readyTrue);
    expect(cond(src, 'SourceVerified')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(src.status?.artifact?.revision).toBe(revision);
    const ks = await waitObject(kubeconfig, controller, 'flux-system', 'kustomizations.kustomize.toolkit.fluxcd.io', 'kyverno', 'Ready', readyTrue);
    expect(cond(ks, 'Ready')?.message).toBe(`Applied revision: ${revision}`);
    const objs = await kubectl(kubeconfig, ['-n', 'kyverno', 'get', 'deployment,service,configmap,serviceaccount', '-l', 'kustomize.toolkit.fluxcd.io/name=kyverno', '-o', 'name']);
    expect(lines(objs.stdout).sort()).toEqual(['configmap/kyverno', 'deployment.apps/kyverno', 'service/kyverno-svc', 'serviceaccount/kyverno']);
    const available = async () => (await kubectlJson<{ status: { conditions?: Cond[] } }>(kubeconfig, ['-n', 'kyverno', 'get', 'deployment', 'kyverno'])).status.conditions?.find((c) => c.type === 'Available')?.status;
    await waitFor(async () => ((await available()) === 'True' ? true : undefined), { what: 'Deployment kyverno/kyverno Available through kwok', timeoutMs: 60_000, intervalMs: 500 });
  }, 300_000);

  it('`flux get sources oci` and `flux get kustomizations` (the real flux CLI) print what the blog shows', async () => {
    setup.ready();
    const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: work };
    // flux v2.9 shortens the digest in `get` output to 8 hex digits (the blog's older flux printed it whole).
    const revision = `latest@${digest.slice(0, 'sha256:'.length + 8)}`;
    const sources = await run(toolPath('flux'), ['get', 'sources', 'oci', '-n', 'flux-system'], { env });
    const srcRow = lines(sources.stdout).find((l) => l.startsWith('kyverno'));
    expect(srcRow, sources.stdout).toMatch(new RegExp(`^kyverno\\s+${revision.replace(/[@:]/g, '.')}\\s+False\\s+True\\s+stored artifact for digest '${revision.replace(/[@:]/g, '.')}'$`));
    const kss = await run(toolPath('flux'), ['get', 'kustomizations', '-n', 'flux-system'], { env });
    const ksRow = lines(kss.stdout).find((l) => l.startsWith('kyverno'));
    expect(ksRow, kss.stdout).toMatch(new RegExp(`^kyverno\\s+${revision.replace(/[@:]/g, '.')}\\s+False\\s+True\\s+Applied revision: ${revision.replace(/[@:]/g, '.')}$`));
  }, 300_000);

  it('cleans up: deleting both objects prunes the applied objects', async () => {
    setup.ready();
    await kubectl(kubeconfig, ['-n', 'flux-system', 'delete', 'kustomization', 'kyverno', '--wait=true', '--timeout=120s']);
    await kubectl(kubeconfig, ['-n', 'flux-system', 'delete', 'ocirepository', 'kyverno', '--wait=true', '--timeout=60s']);
    const left = await kubectl(kubeconfig, ['-n', 'kyverno', 'get', 'deployment,service,configmap', '-l', 'kustomize.toolkit.fluxcd.io/name=kyverno', '-o', 'name']);
    expect(lines(left.stdout)).toEqual([]);
  }, 300_000);
});
