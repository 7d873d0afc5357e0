// vitest global setup: builds the reference tools when their pins changed (cached in
// .cache/testenv), starts ONE shared Kubernetes control plane for the whole run and provides its
// kubeconfig to the tests (`inject('kubeconfig')`). Teardown stops every process by pid and removes
// the temp data; an interrupted run is cleaned up by the exit/signal handlers in test/env/cluster.ts
// or later by `npm run env -- down`.
import type { TestProject } from 'vitest/node';
import { startCluster, type RunningCluster } from './env/cluster.js';
import { ensureTools } from './env/tools.js';

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
  return async () => {
    await cluster?.stop();
  };
}
