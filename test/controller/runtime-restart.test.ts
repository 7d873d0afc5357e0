// The manager across a kube-apiserver restart, on a private control plane (the test stops the
// API server): the caches' watches come back by themselves, objects created and changed after the
// restart are seen and reconciled, and status writes work again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Manager } from '../../src/controller/runtime/manager.js';
import type { ReconcileOutcome } from '../../src/controller/runtime/types.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { connect, deferredSetup } from '../kube/helpers.js';
import { capturedLogger, createNamespace, createWidget, eventually, getWidget, installWidgetCrd, mergePatchWidget, Widget, widget } from './runtime-helpers.js';

let cluster: RunningCluster;
let client: KubeClient;
let manager: Manager | undefined;
const setup = deferredSetup();

beforeAll(
  () =>
    setup.run(async () => {
      cluster = await startCluster({ nodes: 0 });
      await installWidgetCrd(cluster.kubeconfig);
      client = await connect(cluster.kubeconfig);
    }),
  300_000,
);

afterAll(async () => {
  await manager?.stop();
  await client?.close();
  await cluster?.stop();
});

const generationSeen = async (ns: string, name: string): Promise<number | undefined> => {
  const o = await getWidget(client, ns, name);
  return (o['status'] as { observedGeneration?: number } | undefined)?.observedGeneration;
};

describe('manager across a kube-apiserver restart', () => {
  it('resyncs its cache and goes on reconciling', async () => {
    setup.ready();
    const ns = await createNamespace(cluster.kubeconfig, 'rt-restart');
    const { log, lines } = capturedLogger();
    manager = new Manager({ client, log, namespace: ns, minRetryDelayMs: 100, maxRetryDelayMs: 2000 });
    const m = manager;
    manager.register({
      name: 'widget',
      kind: Widget,
      statusManager: 'toy-controller',
      async reconcile(object: KubeObject): Promise<ReconcileOutcome> {
        return { status: { observedGeneration: (object['metadata'] as { generation: number }).generation } };
      },
    });
    manager.start();
    await createWidget(client, widget(ns, 'before', { size: 1 }));
    await eventually('the first reconcile', async () => ((await generationSeen(ns, 'before')) === 1 ? true : undefined));

    await cluster.restartApiServer();

    await createWidget(client, widget(ns, 'after'));
    await mergePatchWidget(client, ns, 'before', { spec: { size: 2 } });
    await eventually('the new object reconciled', async () => ((await generationSeen(ns, 'after')) === 1 ? true : undefined), 120_000);
    await eventually('the change reconciled', async () => ((await generationSeen(ns, 'before')) === 2 ? true : undefined), 120_000);
    expect(m.cache.list(Widget, ns).map((o) => (o['metadata'] as { name: string }).name).sort()).toEqual(['after', 'before']);
    // The watch noticed the restart (it retried, or restarted after an error).
    expect(lines().some((l) => l['msg'] === 'watch interrupted, retrying' || l['msg'] === 'watch failed, restarting')).toBe(true);
    expect(m.ready).toBe(true);
  });
});
