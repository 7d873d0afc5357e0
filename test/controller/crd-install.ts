// lading's CRDs on a test cluster, installed the same way by every suite that shares the global
// cluster: one field manager with --force-conflicts (so suites never conflict with each other),
// then waiting until the API server serves both kinds. Flux's own CRDs go only on private
// clusters (test/env/flux-controllers.ts): on the shared one they would replace lading's under
// other suites' feet (Flux v1.9.5 serves no v1beta2).
import { crds } from '../../src/controller/crds.js';
import { waitFor } from '../env/process.js';
import { kubectl } from '../kube/helpers.js';

export function ladingCrdYaml(): string {
  return crds()
    .map((c) => JSON.stringify(c))
    .join('\n---\n');
}

export async function installLadingCrds(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '--field-manager=lading-tests', '-f', '-'], { input: ladingCrdYaml() });
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/ocirepositories.source.toolkit.fluxcd.io', 'crd/kustomizations.kustomize.toolkit.fluxcd.io']);
  await waitFor(async () => ((await kubectl(kubeconfig, ['get', 'ocirepositories.v1.source.toolkit.fluxcd.io,kustomizations.v1.kustomize.toolkit.fluxcd.io', '-A'], { allowFailure: true })).code === 0 ? true : undefined), {
    what: "lading's OCIRepository and Kustomization CRDs to be served",
    timeoutMs: 60_000,
    intervalMs: 250,
  });
}
