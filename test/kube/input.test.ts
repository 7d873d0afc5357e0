import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient, loadObjects } from '../../src/kube/index.js';
import { demoAppDir, patchesDir } from '../fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'lading-kube-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const demoApp = demoAppDir;

describe('loading objects', () => {
  it('reads files and directories of YAML, expanding Lists', async () => {
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n');
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    const loaded = await loadObjects({ files: [dir] });
    expect(loaded.objects.map((o) => (o['metadata'] as { name: string }).name)).toEqual(['a', 'b', 'c']);
    expect(loaded.artifacts).toEqual([]);
  });

  it('names the file and line of bad YAML', async () => {
    const bad = join(dir, 'bad', 'x.yaml');
    rmSync(join(dir, 'bad'), { recursive: true, force: true });
    mkdirSync(join(dir, 'bad'));
    writeFileSync(bad, 'apiVersion: v1\nkind: ConfigMap\n---\n- a list\n');
    await expect(loadObjects({ files: [bad] })).rejects.toThrow(/x\.yaml:\d+: expected a YAML mapping/);
    await expect(loadObjects({ files: [join(dir, 'missing.yaml')] })).rejects.toThrow(/missing\.yaml: no such file/);
  });

  it('builds a kustomization (-k) and applies --patch files on top', async () => {
    const plain = await loadObjects({ kustomize: demoApp });
    expect(plain.objects).toHaveLength(10);
    const patched = await loadObjects({ kustomize: demoApp, patches: [join(patchesDir, 'safe-to-evict.yaml')] });
    const annotated = patched.objects.filter(
      (o) => (o as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }).spec?.template?.metadata?.annotations?.['cluster-autoscaler.kubernetes.io/safe-to-evict'] === 'true',
    );
    expect(annotated.map((o) => o['kind'])).toEqual(['Deployment', 'Deployment', 'Deployment']);
  });

  it('refuses zero or several sources', async () => {
    await expect(loadObjects({})).rejects.toThrow(/exactly one of/);
    await expect(loadObjects({ files: [dir], kustomize: demoApp })).rejects.toThrow(/exactly one of/);
  });
});

describe('kubeconfig', () => {
  it('explains a missing kubeconfig, a missing file and an unknown context', async () => {
    await expect(KubeClient.connect({ env: { HOME: dir } })).rejects.toThrow(/no kubeconfig found: set KUBECONFIG, pass --kubeconfig/);
    await expect(KubeClient.connect({ kubeconfig: join(dir, 'nope') })).rejects.toThrow(/loading kubeconfig .*nope: no such file/);
    const kc = join(dir, 'kubeconfig');
    writeFileSync(
      kc,
      'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n    namespace: team\nusers:\n- name: u\n  user:\n    token: abc\ncurrent-context: ctx\n',
    );
    await expect(KubeClient.connect({ kubeconfig: kc, context: 'other' })).rejects.toThrow(/context "other" not found \(contexts: ctx\)/);
    const client = await KubeClient.connect({ env: { KUBECONFIG: `${join(dir, 'absent')}:${kc}` } });
    expect(client.namespace).toBe('team');
    expect(client.server).toBe('https://127.0.0.1:1');
    // Nothing listens on port 1: a clear network error naming the server.
    await expect(client.request({ path: '/version' })).rejects.toThrow(/cannot reach the API server https:\/\/127.0.0.1:1/);
    client.close();
    const ns = await KubeClient.connect({ kubeconfig: kc, namespace: 'override' });
    expect(ns.namespace).toBe('override');
    ns.close();
  });
});
