// Kubernetes events about reconciled objects, against the real API server: the fields Flux's
// recorder writes, a repeat counted on the first event, a different message a new event, and an
// event from a reconciler through the manager.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRecorder } from '../../src/controller/runtime/events.js';
import { Manager } from '../../src/controller/runtime/manager.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup } from '../kube/helpers.js';
import { capturedLogger, createNamespace, createWidget, eventually, installWidgetCrd, Widget, widget } from './runtime-helpers.js';

const kubeconfig = clusterKubeconfig();
let client: KubeClient;
const setup = deferredSetup();

beforeAll(() =>
  setup.run(async () => {
    await installWidgetCrd(kubeconfig);
    client = await connect(kubeconfig);
  }),
);

afterAll(async () => {
  await client?.close();
});

async function eventsOf(ns: string, name: string): Promise<KubeObject[]> {
  const list = await client.request<{ items: KubeObject[] }>({ path: `/api/v1/namespaces/${ns}/events`, query: { fieldSelector: `involvedObject.name=${name}` } });
  return list.items;
}

describe('EventRecorder', () => {
  it('creates an event with the involved object, then counts a repeat on it', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-events');
    const obj = await createWidget(client, widget(ns, 'w1'));
    const { log } = capturedLogger();
    const recorder = new EventRecorder({ client, log, instance: 'test-host' });
    const spec = { type: 'Normal' as const, reason: 'NewArtifact', message: "stored artifact with revision 'v1'", annotations: { 'source.toolkit.fluxcd.io/revision': 'v1' } };
    await recorder.write(obj, 'source-controller', spec);
    let events = await eventsOf(ns, 'w1');
    expect(events).toHaveLength(1);
    const e = events[0] as Record<string, unknown>;
    const m = obj['metadata'] as { uid: string; resourceVersion: string };
    expect(e).toMatchObject({
      metadata: { namespace: ns, annotations: { 'source.toolkit.fluxcd.io/revision': 'v1' } },
      involvedObject: { apiVersion: 'test.lading.dev/v1', kind: 'Widget', name: 'w1', namespace: ns, uid: m.uid, resourceVersion: m.resourceVersion },
      reason: 'NewArtifact',
      message: "stored artifact with revision 'v1'",
      type: 'Normal',
      source: { component: 'source-controller', host: 'test-host' },
      reportingComponent: 'source-controller',
      reportingInstance: 'test-host',
      count: 1,
    });
    expect(e['firstTimestamp']).toBe(e['lastTimestamp']);

    await recorder.write(obj, 'source-controller', spec);
    events = await eventsOf(ns, 'w1');
    expect(events).toHaveLength(1);
    expect(events[0]?.['count']).toBe(2);

    // Another message is another event.
    await recorder.write(obj, 'source-controller', { ...spec, message: "stored artifact with revision 'v2'" });
    events = await eventsOf(ns, 'w1');
    expect(events.map((x) => [x['message'], x['count']]).sort()).toEqual([
      ["stored artifact with revision 'v1'", 2],
      ["stored artifact with revision 'v2'", 1],
    ]);
  });

  it('writes what a reconciler records, with the reporting controller it was registered with', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-events-mgr');
    const { log } = capturedLogger();
    const manager = new Manager({ client, log, namespace: ns });
    manager.register(
      {
        name: 'widget',
        kind: Widget,
        statusManager: 'toy-controller',
        async reconcile(_object, ctx) {
          ctx.event({ type: 'Warning', reason: 'BuildFailed', message: 'kustomize build failed' });
          return {};
        },
      },
      { reportingController: 'kustomize-controller' },
    );
    manager.start();
    try {
      await createWidget(client, widget(ns, 'w1'));
      const [e] = await eventually('the event', async () => {
        const list = await eventsOf(ns, 'w1');
        return list.length > 0 ? list : undefined;
      });
      expect(e).toMatchObject({ type: 'Warning', reason: 'BuildFailed', source: { component: 'kustomize-controller' }, reportingComponent: 'kustomize-controller' });
    } finally {
      await manager.stop();
    }
  });
});
