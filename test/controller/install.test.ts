// installManifests: the objects themselves, then applied to the shared cluster with
// `kubectl apply --server-side`, the Deployment becoming Available (kwok runs its pod), and the
// service account's rights checked with `kubectl auth can-i --as`.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { crds } from '../../src/controller/crds.js';
import { DefaultInstall, InstallOptionError, installManifests } from '../../src/controller/install.js';
import { clusterKubeconfig, kubectl, removeDir, tempDir } from '../kube/helpers.js';

type Obj = Record<string, any>;

const image = 'registry.example/lading/lading:v0.1.0';

function find(objects: Obj[], kind: string, name?: string): Obj {
  const o = objects.find((x) => x['kind'] === kind && (name === undefined || x['metadata']['name'] === name));
  if (!o) throw new Error(`no ${kind}${name ? `/${name}` : ''} in the manifests`);
  return o;
}

describe('installManifests (objects)', () => {
  it('holds the CRDs first, then the namespace, and defaults to lading-system and lading-controller', () => {
    const objects = installManifests({ image }) as Obj[];
    expect(objects.slice(0, 2)).toEqual(crds());
    expect(objects[2]).toMatchObject({ kind: 'Namespace', metadata: { name: 'lading-system' } });
    expect(DefaultInstall).toEqual({ namespace: 'lading-system', name: 'lading-controller' });
    for (const o of objects.slice(3)) {
      if (['ServiceAccount', 'Role', 'RoleBinding', 'Service', 'Deployment'].includes(o['kind'])) expect(o['metadata']['namespace']).toBe('lading-system');
      else expect(o['metadata']['namespace']).toBeUndefined();
    }
    expect(installManifests({ image, withoutCrds: true }).some((o) => o['kind'] === 'CustomResourceDefinition')).toBe(false);
  });

  it("runs `lading controller run` with Flux's flag names, the downward-API namespace and Flux's ports", () => {
    const objects = installManifests({ image, namespace: 'gitops', extraArgs: ['--concurrent=8'], logLevel: 'debug' }) as Obj[];
    const dep = find(objects, 'Deployment');
    const c = dep['spec']['template']['spec']['containers'][0];
    expect(c['image']).toBe(image);
    expect(c['command']).toEqual(['lading']);
    expect(c['args']).toEqual([
      'controller',
      'run',
      '--storage-path=/data',
      '--storage-addr=:9090',
      '--storage-adv-addr=lading-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.',
      '--metrics-addr=:8080',
      '--health-addr=:9440',
      '--watch-all-namespaces',
      '--log-level=debug',
      '--enable-leader-election',
      '--concurrent=8',
    ]);
    expect(c['env']).toContainEqual({ name: 'RUNTIME_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    expect(c['env']).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' });
    expect(c['ports']).toEqual([
      { name: 'http', containerPort: 9090, protocol: 'TCP' },
      { name: 'http-prom', containerPort: 8080, protocol: 'TCP' },
      { name: 'healthz', containerPort: 9440, protocol: 'TCP' },
    ]);
    expect(c['livenessProbe']).toEqual({ httpGet: { path: '/healthz', port: 'healthz' } });
    expect(c['readinessProbe']).toEqual({ httpGet: { path: '/readyz', port: 'healthz' } });
    expect(c['securityContext']).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c['volumeMounts']).toEqual([
      { name: 'data', mountPath: '/data' },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(dep['spec']['template']['spec']['volumes']).toEqual([
      { name: 'data', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
    ]);
    const svc = find(objects, 'Service');
    expect(svc['metadata']['name']).toBe('lading-controller');
    expect(svc['spec']['ports']).toEqual([
      { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
      { name: 'http-prom', port: 8080, protocol: 'TCP', targetPort: 'http-prom' },
    ]);
    expect(svc['spec']['selector']).toEqual(dep['spec']['selector']['matchLabels']);
    expect(installManifests({ image, watchAllNamespaces: false }).find((o) => o['kind'] === 'Deployment')).toSatisfy((d: Obj) =>
      d['spec']['template']['spec']['containers'][0]['args'].includes('--watch-all-namespaces=false'),
    );
  });

  it('binds cluster-admin for applying by default, as Flux does, and not with applyRights: impersonation', () => {
    const admin = (objects: Obj[]): Obj[] => objects.filter((o) => o['kind'] === 'ClusterRoleBinding' && o['roleRef']['name'] === 'cluster-admin');
    expect(admin(installManifests({ image }) as Obj[])).toHaveLength(1);
    expect(admin(installManifests({ image, applyRights: 'impersonation' }) as Obj[])).toEqual([]);
  });

  it('refuses options it cannot write into valid manifests, naming them', () => {
    expect(() => installManifests({ image: '' })).toThrow(InstallOptionError);
    expect(() => installManifests({ image: 'a b' })).toThrow(/image reference 'a b'/);
    expect(() => installManifests({ image, namespace: 'Flux_System' })).toThrow(/namespace 'Flux_System'/);
    expect(() => installManifests({ image, namespace: 'a'.repeat(64) })).toThrow(/namespace/);
    expect(() => installManifests({ image, name: 'x'.repeat(48) })).toThrow(/name 'x+'/);
    expect(() => installManifests({ image, extraArgs: ['concurrent=2'] })).toThrow(/extra argument 'concurrent=2'/);
    try {
      installManifests({ image, namespace: '-x' });
    } catch (err) {
      expect((err as InstallOptionError).code).toBe('INSTALL_OPTION');
    }
  });
});

describe('installManifests applied to a real API server', () => {
  const kc = (): string => clusterKubeconfig();
  const ns = `lading-install-${randomBytes(3).toString('hex')}`;
  const name = `lading-ctl-${randomBytes(3).toString('hex')}`;
  const sa = `system:serviceaccount:${ns}:${name}`;

  const apply = async (applyRights: 'cluster-admin' | 'impersonation'): Promise<void> => {
    const objects = installManifests({ image, namespace: ns, name, applyRights });
    await kubectl(kc(), ['apply', '--server-side', '--force-conflicts', '--field-manager=lading-tests', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n') });
  };

  /** `kubectl auth can-i` as the controller's service account: true for yes, false for no. */
  const can = async (args: string[]): Promise<boolean> => {
    const r = await kubectl(kc(), ['auth', 'can-i', ...args, `--as=${sa}`], { allowFailure: true });
    if (r.stdout.trim() === 'yes') return true;
    if (r.stdout.trim() === 'no') return false;
    throw new Error(`kubectl auth can-i ${args.join(' ')}: ${r.stdout} ${r.stderr}`);
  };

  /**
   * The same question as a SubjectAccessReview, for kinds whose CRDs this cluster does not hold
   * (kubectl auth can-i resolves `plural.group` through discovery only).
   */
  const canOn = async (verb: string, group: string, resource: string, subresource = ''): Promise<boolean> => {
    const review = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: sa,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
        resourceAttributes: { verb, group, resource, subresource, namespace: 'default' },
      },
    };
    const r = await kubectl(kc(), ['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(review) });
    return (JSON.parse(r.stdout) as Obj)['status']['allowed'] === true;
  };

  afterAll(async () => {
    await kubectl(kc(), ['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    await kubectl(kc(), ['delete', 'clusterrole', name, `${name}-edit`, `${name}-view`, '--ignore-not-found'], { allowFailure: true });
    await kubectl(kc(), ['delete', 'clusterrolebinding', name, `${name}-apply`, '--ignore-not-found'], { allowFailure: true });
  });

  it('applies with kubectl apply --server-side and the Deployment becomes Available', async () => {
    await apply('impersonation');
    await kubectl(kc(), ['-n', ns, 'wait', '--for=condition=Available', `deployment/${name}`, '--timeout=120s']);
    const dep = JSON.parse((await kubectl(kc(), ['-n', ns, 'get', 'deployment', name, '-o', 'json'])).stdout) as Obj;
    expect(dep['status']['availableReplicas']).toBe(1);
    const svc = JSON.parse((await kubectl(kc(), ['-n', ns, 'get', 'service', name, '-o', 'json'])).stdout) as Obj;
    expect(svc['spec']['clusterIP']).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // The service account is the pod's.
    const pods = JSON.parse((await kubectl(kc(), ['-n', ns, 'get', 'pods', '-l', `app=${name}`, '-o', 'json'])).stdout) as Obj;
    expect(pods['items'].map((p: Obj) => p['spec']['serviceAccountName'])).toEqual([name]);
    expect(pods['items'][0]['status']['phase']).toBe('Running');
  });

  it('grants the controller what it needs and no more (applyRights: impersonation)', async () => {
    await apply('impersonation');
    const yes: string[][] = [
      ['get', 'ocirepositories.source.toolkit.fluxcd.io', '-n', 'default'],
      ['watch', 'ocirepositories.source.toolkit.fluxcd.io', '--all-namespaces'],
      ['patch', 'ocirepositories.source.toolkit.fluxcd.io', '--subresource=status', '-n', 'default'],
      ['update', 'ocirepositories.source.toolkit.fluxcd.io', '--subresource=finalizers', '-n', 'default'],
      ['list', 'kustomizations.kustomize.toolkit.fluxcd.io', '--all-namespaces'],
      ['patch', 'kustomizations.kustomize.toolkit.fluxcd.io', '--subresource=status', '-n', 'default'],
      ['update', 'kustomizations.kustomize.toolkit.fluxcd.io', '--subresource=finalizers', '-n', 'default'],
      ['get', 'secrets', '-n', 'default'],
      ['list', 'configmaps', '--all-namespaces'],
      ['watch', 'serviceaccounts', '--all-namespaces'],
      ['create', 'events', '-n', 'default'],
      ['patch', 'events.events.k8s.io', '-n', 'default'],
      ['create', 'leases.coordination.k8s.io', '-n', ns],
      ['update', 'leases.coordination.k8s.io', '-n', ns],
      ['impersonate', 'serviceaccounts', '-n', 'default'],
    ];
    const no: string[][] = [
      ['create', 'leases.coordination.k8s.io', '-n', 'default'],
      ['create', 'secrets', '-n', 'default'],
      ['delete', 'secrets', '-n', 'default'],
      ['update', 'configmaps', '-n', 'default'],
      ['create', 'deployments.apps', '-n', 'default'],
      ['impersonate', 'users'],
      ['impersonate', 'groups'],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
    ];
    const wrong: string[] = [];
    for (const a of yes) if (!(await can(a))) wrong.push(`no but needed: ${a.join(' ')}`);
    for (const a of no) if (await can(a)) wrong.push(`yes but not needed: ${a.join(' ')}`);
    // Flux's source kinds (their CRDs are not in this cluster).
    const src = 'source.toolkit.fluxcd.io';
    const yesFlux: Array<[string, string, string?]> = [
      ['list', 'gitrepositories'],
      ['watch', 'buckets'],
      ['get', 'externalartifacts'],
      ['get', 'gitrepositories', 'status'],
    ];
    const noFlux: Array<[string, string, string?]> = [
      ['patch', 'gitrepositories'],
      ['patch', 'buckets', 'status'],
      ['delete', 'gitrepositories'],
      ['create', 'helmrepositories'],
    ];
    for (const [verb, res, sub] of yesFlux) if (!(await canOn(verb, src, res, sub))) wrong.push(`no but needed: ${verb} ${res}${sub ? `/${sub}` : ''}`);
    for (const [verb, res, sub] of noFlux) if (await canOn(verb, src, res, sub)) wrong.push(`yes but not needed: ${verb} ${res}${sub ? `/${sub}` : ''}`);
    expect(wrong).toEqual([]);
  });

  it('impersonating the service account a Kustomization names works with the controller\'s own token and gives that account\'s rights only', async () => {
    await apply('impersonation');
    // A tenant account allowed to edit its namespace only.
    await kubectl(kc(), ['-n', ns, 'create', 'serviceaccount', 'tenant']);
    await kubectl(kc(), ['-n', ns, 'create', 'rolebinding', 'tenant-edit', '--clusterrole=edit', `--serviceaccount=${ns}:tenant`]);
    const token = (await kubectl(kc(), ['-n', ns, 'create', 'token', name, '--duration=10m'])).stdout.trim();
    // A kubeconfig holding only the controller's token (the shared one authenticates with an admin certificate).
    const dir = tempDir('lading-install-test-');
    const tokenKc = join(dir, 'kubeconfig');
    const admin = parse(readFileSync(kc(), 'utf8')) as Obj;
    writeFileSync(
      tokenKc,
      stringify({ ...admin, users: [{ name: admin['users'][0]['name'], user: { token } }] }),
      { mode: 0o600 },
    );
    const asController = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => kubectl(tokenKc, args, { allowFailure: true });
    const asTenant = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      asController([`--as=system:serviceaccount:${ns}:tenant`, ...args]);
    try {
    const inTenantNs = await asTenant(['-n', ns, 'create', 'configmap', 'probe', '--dry-run=server']);
    expect(inTenantNs.stderr).toBe('');
    expect(inTenantNs.code).toBe(0);
    const elsewhere = await asTenant(['-n', 'default', 'create', 'configmap', 'probe', '--dry-run=server']);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toMatch(/forbidden/i);
    // Without impersonation the controller's own token cannot create a ConfigMap at all.
    const own = await asController(['-n', ns, 'create', 'configmap', 'probe', '--dry-run=server']);
    expect(own.stderr).toMatch(/forbidden/i);
    // And it is who it says.
    expect((await asController(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe(sa);
    } finally {
      removeDir(dir);
    }
  });

  it('with the default applyRights the controller may apply any object, as Flux\'s kustomize-controller', async () => {
    await apply('cluster-admin');
    expect(await can(['create', 'deployments.apps', '-n', 'default'])).toBe(true);
    expect(await can(['delete', 'clusterroles.rbac.authorization.k8s.io'])).toBe(true);
    // Going back to impersonation: the binding is removed by the user (apply does not delete), then the rights are gone.
    await kubectl(kc(), ['delete', 'clusterrolebinding', `${name}-apply`]);
    expect(await can(['create', 'deployments.apps', '-n', 'default'])).toBe(false);
  });
});
