// The consumer half of the seed tutorial (seeds/000_*.txt) against the real control plane
// (kube-apiserver + controller-manager + scheduler + kwok nodes) and a real registry:
// push → apply --wait --prune → get/inspect inventory → push 1.0.1 → diff → apply → --patch →
// delete. Steps run in order and share state.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { clusterKubeconfig, deferredSetup, demoAppCopy, kubectl, kubectlJson, lading, lines, removeDir, tempDir } from './helpers.js';
import { demoAppObjects, patchesDir } from '../fixtures.js';

const ns = 'demo-app';
const tutorialObjects = demoAppObjects;

describe('seed tutorial: install, upgrade, patch and uninstall the demo app from an OCI artifact', () => {
  let kubeconfig: string;
  let registry: RunningRegistry;
  let work: string;
  let app: string;
  let repo: string;
  let digest100 = '';

  const setup = deferredSetup();
  beforeAll(() =>
    setup.run(async () => {
      kubeconfig = clusterKubeconfig();
      registry = await startRegistry({ flavor: 'distribution2' });
      work = tempDir();
      app = demoAppCopy(work);
      repo = `${registry.host}/kustomizer-demo-app`;
    }),
  );

  afterAll(async () => {
    await registry?.stop();
    if (work) removeDir(work);
  });

  const k = (args: string[]) => lading(args, { kubeconfig });

  it('pushes the config artifact 1.0.0', async () => {
    setup.ready();
    const r = await k(['push', 'artifact', `oci://${repo}:1.0.0`, '-k', app, '-o', 'json']);
    expect(r.stderr).toContain('building manifests...');
    expect(r.code, r.stderr).toBe(0);
    digest100 = (JSON.parse(r.stdout) as { digest: string }).digest;
    expect(digest100).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('installs the app: ten objects created, Deployments Available through kwok', async () => {
    setup.ready();
    const r = await k(['apply', 'inventory', 'kustomizer-demo-app', '--wait', '--prune', '--artifact', `oci://${repo}:1.0.0`, '--source', repo, '--revision', '1.0.0', '--timeout', '3m']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stderr)).toEqual([`pulling ${repo}:1.0.0`, 'applying 10 manifest(s)...', 'waiting for resources to become ready...', 'all resources are ready']);
    expect(lines(r.stdout)).toEqual(tutorialObjects.map((o) => `${o} created`));
    const deployments = await kubectlJson<{ items: Array<{ metadata: { name: string }; status: { conditions?: Array<{ type: string; status: string }> } }> }>(kubeconfig, ['-n', ns, 'get', 'deployments']);
    expect(deployments.items.map((d) => d.metadata.name).sort()).toEqual(['backend', 'cache', 'frontend']);
    for (const d of deployments.items) expect(d.status.conditions?.find((c) => c.type === 'Available')?.status, d.metadata.name).toBe('True');
  });

  it('lists the inventory', async () => {
    setup.ready();
    const r = await k(['get', 'inventories', '-n', 'default']);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = lines(r.stdout);
    expect(header).toMatch(/^NAME\s+ENTRIES\s+SOURCE\s+REVISION\s+LAST APPLIED$/);
    const row = rows.find((l) => l.startsWith('kustomizer-demo-app'));
    expect(row).toMatch(new RegExp(`^kustomizer-demo-app\\s+10\\s+${repo.replace(/\./g, '\\.')}\\s+1\\.0\\.0\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    const json = await k(['get', 'inventories', '-n', 'default', '-o', 'json']);
    const list = JSON.parse(json.stdout) as Array<{ name: string; entries: unknown[] }>;
    expect(list.find((i) => i.name === 'kustomizer-demo-app')?.entries).toHaveLength(10);
  });

  it('inspects the inventory: source, revision, artifact digest and resources', async () => {
    setup.ready();
    const r = await k(['inspect', 'inv', 'kustomizer-demo-app', '-n', 'default']);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('Inventory: default/kustomizer-demo-app');
    expect(out[1]).toMatch(/^LastAppliedAt: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(out.slice(2)).toEqual([`Source: ${repo}`, 'Revision: 1.0.0', 'Artifacts:', `- oci://${repo}@${digest100}`, 'Resources:', ...tutorialObjects.map((o) => `- ${o}`)]);
  });

  it('labels the members and records the inventory as a kubectl ApplySet parent', async () => {
    setup.ready();
    const cm = await kubectlJson<{ metadata: { labels: Record<string, string>; annotations: Record<string, string> } }>(kubeconfig, ['-n', 'default', 'get', 'configmap', 'kustomizer-demo-app']);
    const id = cm.metadata.labels['applyset.kubernetes.io/id'];
    expect(id).toMatch(/^applyset-[A-Za-z0-9_-]{43}-v1$/);
    expect(cm.metadata.annotations['applyset.kubernetes.io/contains-group-kinds']).toBe('ConfigMap,Deployment.apps,HorizontalPodAutoscaler.autoscaling,Namespace,Service');
    expect(cm.metadata.annotations['applyset.kubernetes.io/additional-namespaces']).toBe('demo-app');
    const members = await kubectlJson<{ items: unknown[] }>(kubeconfig, ['get', 'deployments,services,configmaps,horizontalpodautoscalers', '-A', '-l', `applyset.kubernetes.io/part-of=${id}`]);
    expect(members.items).toHaveLength(9);
  });

  it('publishes 1.0.1 with a new redis tag; diff shows only the cache Deployment drifted', async () => {
    setup.ready();
    const kustomization = join(app, 'kustomization.yaml');
    writeFileSync(kustomization, readFileSync(kustomization, 'utf8').replace('newTag: 6.2.0', 'newTag: 6.2.1'));
    const push = await k(['push', 'artifact', `oci://${repo}:1.0.1`, '-k', app]);
    expect(push.code, push.stderr).toBe(0);
    const tag = await k(['tag', 'artifact', `oci://${repo}:1.0.1`, 'latest']);
    expect(tag.code, tag.stderr).toBe(0);

    const r = await k(['diff', 'inventory', 'kustomizer-demo-app', '--prune', '--artifact', `oci://${repo}:latest`]);
    expect(r.code, r.stderr).toBe(1);
    const marked = lines(r.stdout).filter((l) => l.startsWith('►'));
    expect(marked).toEqual(['► Deployment/demo-app/cache drifted']);
    expect(r.stdout).toMatch(/^-\s+image: public\.ecr\.aws\/docker\/library\/redis:6\.2\.0$/m);
    expect(r.stdout).toMatch(/^\+\s+image: public\.ecr\.aws\/docker\/library\/redis:6\.2\.1$/m);
    expect(r.stdout).toMatch(/^-  generation: 1$/m);
    expect(r.stdout).toMatch(/^\+  generation: 2$/m);
  });

  it('upgrades: only the cache Deployment is configured', async () => {
    setup.ready();
    const r = await k(['apply', 'inventory', 'kustomizer-demo-app', '--wait', '--prune', '--artifact', `oci://${repo}:latest`, '--source', repo, '--revision', '1.0.1', '--timeout', '3m']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stderr)[0]).toBe(`pulling ${repo}:latest`);
    expect(lines(r.stdout)).toEqual(tutorialObjects.map((o) => `${o} ${o === 'Deployment/demo-app/cache' ? 'configured' : 'unchanged'}`));
    const cache = await kubectlJson<{ spec: { template: { spec: { containers: Array<{ image: string }> } } } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'cache']);
    expect(cache.spec.template.spec.containers[0]?.image).toBe('public.ecr.aws/docker/library/redis:6.2.1');
    const again = await k(['diff', 'inventory', 'kustomizer-demo-app', '--prune', '--artifact', `oci://${repo}:latest`]);
    expect(again.stdout).toBe('');
    expect(again.code).toBe(0);
  });

  it('patches the upstream config: the three Deployments are configured', async () => {
    setup.ready();
    const r = await k([
      'apply', 'inventory', 'kustomizer-demo-app', '--wait', '--prune',
      '--artifact', `oci://${repo}:1.0.1`, '--source', repo, '--revision', '1.0.1',
      '--patch', join(patchesDir, 'safe-to-evict.yaml'), '--timeout', '3m',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual(tutorialObjects.map((o) => `${o} ${o.startsWith('Deployment/') ? 'configured' : 'unchanged'}`));
    expect(lines(r.stderr).slice(-2)).toEqual(['waiting for resources to become ready...', 'all resources are ready']);
    const d = await kubectlJson<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'frontend']);
    expect(d.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('true');
  });

  it('uninstalls: everything deleted in reverse order, the Namespace and the inventory too', async () => {
    setup.ready();
    const r = await k(['delete', 'inventory', 'kustomizer-demo-app', '-n', 'default', '--timeout', '3m']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([...[...tutorialObjects].reverse().map((o) => `${o} deleted`), 'ConfigMap/default/kustomizer-demo-app deleted']);
    expect(lines(r.stderr)).toEqual(['retrieving inventory...', 'deleting 10 manifest(s)...', 'waiting for resources to be terminated...', 'all resources have been deleted']);
    const nsGone = await kubectl(kubeconfig, ['get', 'namespace', ns], { allowFailure: true });
    expect(nsGone.code).not.toBe(0);
    expect(nsGone.stderr).toContain('NotFound');
    const inv = await kubectl(kubeconfig, ['-n', 'default', 'get', 'configmap', 'kustomizer-demo-app'], { allowFailure: true });
    expect(inv.stderr).toContain('NotFound');
    const list = await k(['get', 'inventories', '-n', 'default']);
    expect(list.stdout).not.toContain('kustomizer-demo-app');
  });
});
