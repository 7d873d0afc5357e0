// The kube commands end to end on the shared test cluster: dry runs, Secret masking in diffs,
// token authentication and RBAC errors, listing, and the errors users meet.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createTestPki } from '../env/tls.js';
import { clusterKubeconfig, deferredSetup, kubectl, lading, lines, removeDir, tempDir } from './helpers.js';

let kubeconfig: string;
let work: string;
const namespaces: string[] = [];
const setup = deferredSetup();

beforeAll(() =>
  setup.run(async () => {
    kubeconfig = clusterKubeconfig();
    work = tempDir();
  }),
);

afterAll(async () => {
  for (const ns of namespaces) await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  if (work) removeDir(work);
});

function newNamespace(prefix: string): string {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  namespaces.push(ns);
  return ns;
}

function writeManifests(name: string, docs: unknown[]): string {
  const file = join(work, `${name}-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return file;
}

describe('kube CLI', () => {
  it('--dry-run reports what would happen and changes nothing, even in a namespace still to be created', async () => {
    setup.ready();
    const ns = newNamespace('dry');
    const file = writeManifests('dry', [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns }, data: { a: '1' } },
    ]);
    const r = await lading(['apply', 'inventory', ns, '-f', file, '--dry-run'], { kubeconfig });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([`Namespace/${ns} created (dry run)`, `ConfigMap/${ns}/c created (dry run)`]);
    expect((await kubectl(kubeconfig, ['get', 'namespace', ns], { allowFailure: true })).stderr).toContain('NotFound');
    expect((await kubectl(kubeconfig, ['-n', 'default', 'get', 'configmap', ns], { allowFailure: true })).stderr).toContain('NotFound');
  });

  it('diff masks Secret values and exits 1; exits 0 when nothing would change', async () => {
    setup.ready();
    const ns = newNamespace('secret');
    const secret = (password: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: ns }, stringData: { password, user: 'admin' } });
    const nsDoc = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
    const v1 = writeManifests('secret', [nsDoc, secret('hunter2-first')]);
    expect((await lading(['apply', 'inventory', ns, '-f', v1], { kubeconfig })).code).toBe(0);
    const same = await lading(['diff', 'inventory', ns, '-f', v1], { kubeconfig });
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toBe('');
    const v2 = writeManifests('secret', [nsDoc, secret('hunter2-second')]);
    const r = await lading(['diff', 'inventory', ns, '-f', v2], { kubeconfig });
    expect(r.code, r.stderr).toBe(1);
    expect(lines(r.stdout)[0]).toBe(`► Secret/${ns}/db drifted`);
    expect(r.stdout).toContain('-  password: "*** (before)"');
    expect(r.stdout).toContain('+  password: "*** (after)"');
    for (const secretText of ['hunter2', Buffer.from('hunter2-first').toString('base64'), Buffer.from('hunter2-second').toString('base64'), Buffer.from('admin').toString('base64')]) {
      expect(r.stdout).not.toContain(secretText);
      expect(r.stderr).not.toContain(secretText);
    }
  });

  it('authenticates with a bearer token from the kubeconfig and names what RBAC forbids', async () => {
    setup.ready();
    const ns = newNamespace('rbac');
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'serviceaccount', 'deployer']);
    // May read and write ConfigMaps in its namespace (the inventory lives there), nothing else.
    await kubectl(kubeconfig, ['-n', ns, 'create', 'role', 'cm', '--verb=get,list,create,patch,update,delete', '--resource=configmaps']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'rolebinding', 'cm', '--role=cm', `--serviceaccount=${ns}:deployer`]);
    await kubectl(kubeconfig, ['create', 'clusterrole', `${ns}-ns-get`, '--verb=get', '--resource=namespaces']);
    await kubectl(kubeconfig, ['create', 'clusterrolebinding', `${ns}-ns-get`, `--clusterrole=${ns}-ns-get`, `--serviceaccount=${ns}:deployer`]);
    const token = (await kubectl(kubeconfig, ['-n', ns, 'create', 'token', 'deployer'])).stdout.trim();
    const admin = parse(readFileSync(kubeconfig, 'utf8')) as { clusters: unknown[] };
    const tokenConfig = join(work, `token-${ns}`);
    writeFileSync(
      tokenConfig,
      stringify({ apiVersion: 'v1', kind: 'Config', clusters: admin.clusters, users: [{ name: 'sa', user: { token } }], contexts: [{ name: 'sa', context: { cluster: (admin.clusters[0] as { name: string }).name, user: 'sa', namespace: ns } }], 'current-context': 'sa' }),
      { mode: 0o600 },
    );
    const ok = writeManifests('rbac-ok', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'allowed' }, data: { a: '1' } }]);
    const r = await lading(['apply', 'inventory', 'app', '-f', ok], { kubeconfig: tokenConfig });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([`ConfigMap/${ns}/allowed created`]);
    const denied = writeManifests('rbac-denied', [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }]);
    const d = await lading(['apply', 'inventory', 'app', '-f', denied], { kubeconfig: tokenConfig });
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`Service/${ns}/web`);
    expect(d.stderr).toMatch(/forbidden/);
    expect(d.stderr).not.toContain(token);
    // The same token through an exec credential plugin.
    const plugin = join(work, `exec-${ns}.sh`);
    writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } })}'\n`, { mode: 0o700 });
    const execConfig = join(work, `exec-${ns}`);
    writeFileSync(
      execConfig,
      stringify({ apiVersion: 'v1', kind: 'Config', clusters: admin.clusters, users: [{ name: 'sa', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } } }], contexts: [{ name: 'sa', context: { cluster: (admin.clusters[0] as { name: string }).name, user: 'sa', namespace: ns } }], 'current-context': 'sa' }),
      { mode: 0o600 },
    );
    const viaExec = await lading(['get', 'inventories'], { kubeconfig: execConfig });
    expect(viaExec.code, viaExec.stderr).toBe(0);
    expect(lines(viaExec.stdout)[1]).toMatch(/^app\s+1\s/);
    // Prune that RBAC refuses: the survivor stays in the inventory for the next run.
    const full = writeManifests('prune-full', [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { a: '1' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } },
    ]);
    const asAdmin = await lading(['apply', 'inventory', 'pruned', '-n', ns, '-f', full], { kubeconfig });
    expect(asAdmin.code, asAdmin.stderr).toBe(0);
    const keepOnly = writeManifests('prune-keep', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { a: '1' } }]);
    const prune = await lading(['apply', 'inventory', 'pruned', '-f', keepOnly, '--prune'], { kubeconfig: tokenConfig });
    expect(prune.code).toBe(1);
    expect(prune.stderr).toContain(`Service/${ns}/svc`);
    const after = await lading(['inspect', 'inventory', 'pruned', '-n', ns], { kubeconfig });
    expect(lines(after.stdout).filter((l) => l.startsWith('- '))).toEqual([`- ConfigMap/${ns}/keep`, `- Service/${ns}/svc`]);
    const retried = await lading(['apply', 'inventory', 'pruned', '-n', ns, '-f', keepOnly, '--prune'], { kubeconfig });
    expect(retried.code, retried.stderr).toBe(0);
    expect(lines(retried.stdout)).toEqual([`ConfigMap/${ns}/keep unchanged`, `Service/${ns}/svc deleted`]);
    await kubectl(kubeconfig, ['delete', 'clusterrolebinding', `${ns}-ns-get`]);
    await kubectl(kubeconfig, ['delete', 'clusterrole', `${ns}-ns-get`]);
  });

  it('verifies the API server certificate against the kubeconfig CA', async () => {
    setup.ready();
    const other = createTestPki(join(work, 'other-ca'));
    const config = parse(readFileSync(kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, unknown> }> };
    for (const c of config.clusters) c.cluster['certificate-authority-data'] = readFileSync(other.caFile).toString('base64');
    const wrongCa = join(work, 'wrong-ca-kubeconfig');
    writeFileSync(wrongCa, stringify(config), { mode: 0o600 });
    const r = await lading(['get', 'inventories'], { kubeconfig: wrongCa });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the API server https:\/\/127\.0\.0\.1:\d+ is not trusted/);
  });

  it('lists inventories in all namespaces and prints them as JSON', async () => {
    setup.ready();
    const ns = newNamespace('list');
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    const file = writeManifests('list', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '1' } }]);
    const applied = await lading(['apply', 'inventory', 'listed', '-n', ns, '-f', file, '--source', 'example/source', '--revision', 'v9'], { kubeconfig });
    expect(applied.code, applied.stderr).toBe(0);
    const all = await lading(['get', 'inventories', '-A'], { kubeconfig });
    expect(all.code, all.stderr).toBe(0);
    expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE\s+NAME\s+ENTRIES\s+SOURCE\s+REVISION\s+LAST APPLIED$/);
    expect(all.stdout).toMatch(new RegExp(`^${ns}\\s+listed\\s+1\\s+example/source\\s+v9\\s+\\S+Z$`, 'm'));
    const json = await lading(['inspect', 'inventory', 'listed', '-n', ns, '-o', 'json'], { kubeconfig });
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'listed', namespace: ns, source: 'example/source', revision: 'v9', entries: [{ id: `${ns}_c__ConfigMap`, v: 'v1', object: `ConfigMap/${ns}/c` }] });
  });

  it('explains missing inventories, namespaces and inputs with the right exit codes', async () => {
    setup.ready();
    const missing = await lading(['inspect', 'inventory', 'does-not-exist'], { kubeconfig });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('inspecting inventory default/does-not-exist: inventory not found');
    const del = await lading(['delete', 'inventory', 'does-not-exist'], { kubeconfig });
    expect(del.code).toBe(1);
    expect(del.stderr).toContain('deleting inventory default/does-not-exist: inventory not found');
    const file = writeManifests('nons', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { a: '1' } }]);
    const ns = newNamespace('absent');
    const noNs = await lading(['apply', 'inventory', 'x', '-n', ns, '-f', file], { kubeconfig });
    expect(noNs.code).toBe(1);
    expect(noNs.stderr).toContain(`the inventory namespace "${ns}" does not exist; create it or pass --create-namespace`);
    const created = await lading(['apply', 'inventory', 'x', '-n', ns, '-f', file, '--create-namespace'], { kubeconfig });
    expect(created.code, created.stderr).toBe(0);
    expect(lines(created.stdout)).toEqual(['ConfigMap/default/c created']);
    const usage = await lading(['apply', 'inventory', 'x'], { kubeconfig });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give exactly one of -f PATH, -k DIR or --artifact');
    const unknownKind = writeManifests('kind', [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }]);
    const uk = await lading(['apply', 'inventory', 'x', '-n', ns, '-f', unknownKind], { kubeconfig });
    expect(uk.code).toBe(1);
    expect(uk.stderr).toContain('Widget/w: no kind Widget in example.com/v1');
    const old = writeManifests('old', [{ apiVersion: 'autoscaling/v2beta2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'h' }, spec: {} }]);
    const o = await lading(['apply', 'inventory', 'x', '-n', ns, '-f', old], { kubeconfig });
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/no kind HorizontalPodAutoscaler in autoscaling\/v2beta2 \(the cluster serves autoscaling\/v2, autoscaling\/v1\)/);
    const cleanup = await lading(['delete', 'inventory', 'x', '-n', ns], { kubeconfig });
    expect(cleanup.code, cleanup.stderr).toBe(0);
  });
});
