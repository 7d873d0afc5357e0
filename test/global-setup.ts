// vitest global setup: builds the reference tools when their pins changed (cached in
// .cache/testenv), starts ONE shared Kubernetes control plane for the whole run and provides its
// kubeconfig to the tests (`inject('kubeconfig')`). Teardown stops every process by pid and removes
// the temp data; an interrupted run is cleaned up by the exit/signal handlers in test/env/cluster.ts
// or later by `npm run env -- down`.
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startCluster, type RunningCluster } from './env/cluster.js';
import { cacheRoot, ensureTools } from './env/tools.js';

/**
 * The machine's kubectl is Google Cloud SDK's dispatcher, which runs the kubectl matching the
 * server in the current kubeconfig: with KUBECONFIG pointing at the 1.33 test cluster it would run
 * kubectl 1.33 with kustomize 5.6, not the kubectl 1.32 / kustomize 5.5 users have here (the
 * oracle of the differential build tests). Pin the 1.32 binary first on PATH when it is there.
 */
function pinKubectl(): void {
  const pinned = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';
  if (!existsSync(pinned)) return;
  const shim = join(cacheRoot(), 'kubectl-1.32');
  rmSync(shim, { recursive: true, force: true });
  mkdirSync(shim, { recursive: true });
  symlinkSync(pinned, join(shim, 'kubectl'));
  process.env['PATH'] = `${shim}:${process.env['PATH'] ?? ''}`;
}

function log(line: string): void {
  process.stderr.write(`testenv: ${line}\n`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureTools({ log });
  const started = Date.now();
  let cluster: RunningCluster | undefined;
  try {
    cluster = await startCluster({ nodes: 2 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`test/global-setup.ts: ${message}`, { cause: err });
  }
  log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cluster.server} (KUBECONFIG=${cluster.kubeconfig})`);
  project.provide('kubeconfig', cluster.kubeconfig);
  // Child processes (kubectl, lading) started by tests talk to the test cluster, never to the
  // developer's own one.
  process.env['KUBECONFIG'] = cluster.kubeconfig;
  pinKubectl();
  return async () => {
    await cluster?.stop();
  };
}
