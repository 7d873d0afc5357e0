// `lading controller install`: printing (YAML/JSON, CRDs only, usage errors) and --apply --wait
// against the shared test cluster (the Deployment becomes Available through kwok; a re-run
// changes nothing).
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { clusterKubeconfig, kubectlJson, lading, lines } from '../kube/helpers.js';

describe('lading controller install', () => {
  it('prints the CRDs, namespace, RBAC, Deployment and Service as YAML (CRDs first)', async () => {
    const kubeconfig = clusterKubeconfig();
    const r = await lading(['controller', 'install', '--image', 'example.invalid/lading:test'], { kubeconfig });
    expect(r.code, r.stderr).toBe(0);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind);
    expect(kinds.slice(0, 2)).toEqual(['CustomResourceDefinition', 'CustomResourceDefinition']);
    for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Service']) expect(kinds).toContain(k);
    const crdsOnly = await lading(['controller', 'install', '--crds-only', '-o', 'json'], { kubeconfig });
    expect(crdsOnly.code, crdsOnly.stderr).toBe(0);
    const list = JSON.parse(crdsOnly.stdout) as { items: Array<{ metadata: { name: string } }> };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['ocirepositories.source.toolkit.fluxcd.io', 'kustomizations.kustomize.toolkit.fluxcd.io']);
  });

  it('refuses usage errors with exit 2', async () => {
    const kubeconfig = clusterKubeconfig();
    const noImage = await lading(['controller', 'install'], { kubeconfig });
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toContain('--image is required');
    const both = await lading(['controller', 'install', '--crds-only', '--without-crds'], { kubeconfig });
    expect(both.code).toBe(2);
    const rights = await lading(['controller', 'install', '--image', 'x', '--apply-rights', 'root'], { kubeconfig });
    expect(rights.code).toBe(2);
    expect(rights.stderr).toContain('--apply-rights');
  });

  it('--apply --wait installs the controller (without CRDs) until its Deployment is Available; a second run changes nothing', async () => {
    const kubeconfig = clusterKubeconfig();
    const ns = 'lading-cli-install';
    const args = ['controller', 'install', '--image', 'example.invalid/lading:test', '--namespace', ns, '--without-crds', '--apply', '--wait', '--timeout', '3m'];
    const r = await lading(args, { kubeconfig });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain(`Deployment/${ns}/lading-controller created`);
    expect(lines(r.stderr).at(-1)).toBe('the controller is ready');
    const d = await kubectlJson<{ status: { conditions?: Array<{ type: string; status: string }> } }>(kubeconfig, ['-n', ns, 'get', 'deployment', 'lading-controller']);
    expect(d.status.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    // The second run may take over, once, the fields the API server set on the Namespace it
    // created before the first apply (manager before-first-apply); nothing else changes, and a
    // third run changes nothing at all.
    const again = await lading(args, { kubeconfig });
    expect(again.code, again.stderr).toBe(0);
    expect(lines(again.stdout).filter((l) => !l.endsWith(' unchanged')).every((l) => l === `Namespace/${ns} configured`)).toBe(true);
    const third = await lading(args, { kubeconfig });
    expect(third.code, third.stderr).toBe(0);
    expect(lines(third.stdout).filter((l) => !l.endsWith(' unchanged'))).toEqual([]);
  }, 300_000);
});
