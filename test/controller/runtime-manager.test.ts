// The manager end to end against the real API server, with a toy reconciler of Widgets: status
// written with server-side apply under the reconciler's field manager (other managers' status
// fields kept), the finalizer added and removed beside another controller's, the predicates
// (requestedAt reconciles, a status-only update does not), errors retried with growing delays,
// and the concurrency bound.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Finalizer } from '../../src/controller/api.js';
import { Manager } from '../../src/controller/runtime/manager.js';
import type { ReconcileOutcome, Reconciler } from '../../src/controller/runtime/types.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup } from '../kube/helpers.js';
import { capturedLogger, createNamespace, createWidget, deleteWidget, eventually, Gadget, getWidget, installWidgetCrd, mergePatchWidget, Widget, widget } from './runtime-helpers.js';

const kubeconfig = clusterKubeconfig();
let client: KubeClient;
const setup = deferredSetup();
const managers: Manager[] = [];

beforeAll(() =>
  setup.run(async () => {
    await installWidgetCrd(kubeconfig);
    client = await connect(kubeconfig);
  }),
);

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

afterAll(async () => {
  await client?.close();
});

interface Call {
  name: string;
  generation: number;
  requestedAt: string | undefined;
  status: Record<string, unknown>;
  deleting: boolean;
}

interface Meta {
  name: string;
  generation: number;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  managedFields?: Array<{ manager: string; operation: string; subresource?: string; fieldsV1?: Record<string, unknown> }>;
}

const meta = (o: KubeObject) => o['metadata'] as Meta;
const statusOf = (o: KubeObject) => (o['status'] ?? {}) as Record<string, unknown>;

/**
 * A toy reconciler: keeps the finalizer, counts reconciles in status, echoes requestedAt; fails
 * while spec.failures says so (counted per object), sleeps spec.sleepMs.
 */
function toyReconciler(calls: Call[]): Reconciler & { inFlight: number; maxInFlight: number } {
  const failed = new Map<string, number>();
  const r = {
    name: 'widget',
    kind: Widget,
    statusManager: 'toy-controller',
    inFlight: 0,
    maxInFlight: 0,
    async reconcile(object: KubeObject): Promise<ReconcileOutcome> {
      r.inFlight++;
      r.maxInFlight = Math.max(r.maxInFlight, r.inFlight);
      try {
        const m = meta(object);
        const spec = (object['spec'] ?? {}) as { failures?: number; sleepMs?: number };
        const requestedAt = m.annotations?.['reconcile.fluxcd.io/requestedAt'];
        calls.push({ name: m.name, generation: m.generation, requestedAt, status: statusOf(object), deleting: m.deletionTimestamp !== undefined });
        if (m.deletionTimestamp !== undefined) return { finalizer: 'remove' };
        if (spec.sleepMs) await new Promise((res) => setTimeout(res, spec.sleepMs));
        const n = failed.get(m.name) ?? 0;
        if (n < (spec.failures ?? 0)) {
          failed.set(m.name, n + 1);
          // As Flux's reconcilers do: the finalizer first, and a status saying what failed.
          return { error: new Error(`toy failure ${n + 1}`), status: { failures: n + 1 }, ...(m.finalizers?.includes(Finalizer) ? {} : { finalizer: 'add' as const }) };
        }
        const reconciles = Number(statusOf(object)['reconciles'] ?? 0) + 1;
        return {
          status: { observedGeneration: m.generation, reconciles, ...(requestedAt ? { lastHandledReconcileAt: requestedAt } : {}) },
          ...(m.finalizers?.includes(Finalizer) ? {} : { finalizer: 'add' as const }),
        };
      } finally {
        r.inFlight--;
      }
    },
  };
  return r;
}

function startManager(ns: string, reconciler: Reconciler, opts: { concurrent?: number; minRetryDelayMs?: number; labelSelector?: string } = {}) {
  const captured = capturedLogger();
  const manager = new Manager({ client, log: captured.log, namespace: ns, ...opts });
  manager.register(reconciler);
  manager.start();
  managers.push(manager);
  return { manager, ...captured };
}

describe('Manager', () => {
  it('writes status with server-side apply under its field manager and keeps fields other managers own', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-status');
    const calls: Call[] = [];
    startManager(ns, toyReconciler(calls));
    await createWidget(client, widget(ns, 'w1', { size: 1 }));
    let w = await eventually('the first status', async () => {
      const o = await getWidget(client, ns, 'w1');
      return statusOf(o)['reconciles'] === 1 && meta(o).finalizers?.includes(Finalizer) ? o : undefined;
    });
    expect(statusOf(w)['observedGeneration']).toBe(1);
    const entry = meta(w).managedFields?.find((f) => f.manager === 'toy-controller' && f.subresource === 'status');
    expect(entry?.operation).toBe('Apply');
    expect(Object.keys((entry?.fieldsV1?.['f:status'] ?? {}) as object).sort()).toEqual(['f:observedGeneration', 'f:reconciles']);

    // Another controller owns status.other (its own apply); our next status write leaves it.
    await client.request({
      method: 'PATCH',
      path: `/apis/test.lading.dev/v1/namespaces/${ns}/widgets/w1/status`,
      query: { fieldManager: 'other-controller', force: 'true' },
      contentType: 'application/apply-patch+yaml',
      body: { apiVersion: 'test.lading.dev/v1', kind: 'Widget', metadata: { name: 'w1', namespace: ns }, status: { other: 'kept' } },
    });
    await mergePatchWidget(client, ns, 'w1', { spec: { size: 2 } });
    w = await eventually('the second status', async () => {
      const o = await getWidget(client, ns, 'w1');
      return statusOf(o)['observedGeneration'] === 2 ? o : undefined;
    });
    expect(statusOf(w)).toEqual({ observedGeneration: 2, reconciles: 2, other: 'kept' });
  });

  it('adds and removes its finalizer without touching another controller\'s', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-final');
    const calls: Call[] = [];
    startManager(ns, toyReconciler(calls));
    await createWidget(client, widget(ns, 'w1', {}, { finalizers: ['example.com/other'] }));
    await eventually('our finalizer', async () => (meta(await getWidget(client, ns, 'w1')).finalizers?.includes(Finalizer) ? true : undefined));
    expect(meta(await getWidget(client, ns, 'w1')).finalizers).toEqual(['example.com/other', Finalizer]);

    await deleteWidget(client, ns, 'w1');
    const w = await eventually('our finalizer removed', async () => {
      const o = await getWidget(client, ns, 'w1');
      return meta(o).finalizers?.includes(Finalizer) ? undefined : o;
    });
    expect(meta(w).finalizers).toEqual(['example.com/other']);
    expect(meta(w).deletionTimestamp).toBeDefined();
    expect(calls.some((c) => c.deleting)).toBe(true);
    await mergePatchWidget(client, ns, 'w1', { metadata: { finalizers: null } });
  });

  it('reconciles on requestedAt and on a spec change, not on a status-only update', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-pred');
    const calls: Call[] = [];
    const { manager } = startManager(ns, toyReconciler(calls));
    await createWidget(client, widget(ns, 'w1'));
    await eventually('the first reconcile settled', async () => (statusOf(await getWidget(client, ns, 'w1'))['reconciles'] === 1 ? true : undefined));
    // Our own status and finalizer writes do not enqueue the object again.
    await eventually('the finalizer in the cache', () => (meta(manager.cache.get(Widget, { namespace: ns, name: 'w1' }) as KubeObject).finalizers?.includes(Finalizer) ? true : undefined));

    // A status-only update by someone else: seen by the cache, not reconciled.
    await mergePatchWidget(client, ns, 'w1', { status: { note: 'status only' } }, { status: true });
    await eventually('the status update in the cache', () => (statusOf(manager.cache.get(Widget, { namespace: ns, name: 'w1' }) as KubeObject)['note'] === 'status only' ? true : undefined));

    await mergePatchWidget(client, ns, 'w1', { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': 'now-1' } } });
    const w = await eventually('lastHandledReconcileAt', async () => {
      const o = await getWidget(client, ns, 'w1');
      return statusOf(o)['lastHandledReconcileAt'] === 'now-1' ? o : undefined;
    });
    expect(statusOf(w)['reconciles']).toBe(2);
    // No reconcile saw the status-only note without the request that followed it.
    expect(calls.filter((c) => c.status['note'] === 'status only').map((c) => c.requestedAt)).toEqual(['now-1']);
    expect(calls.map((c) => [c.generation, c.requestedAt ?? null])).toEqual([
      [1, null],
      [1, 'now-1'],
    ]);
  });

  it('retries an error with per-key exponential backoff, then forgets it', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-retry');
    const calls: Call[] = [];
    const { lines } = startManager(ns, toyReconciler(calls), { minRetryDelayMs: 100 });
    await createWidget(client, widget(ns, 'w1', { failures: 3 }));
    await eventually('success after three failures', async () => (statusOf(await getWidget(client, ns, 'w1'))['reconciles'] === 1 ? true : undefined));
    const errors = lines().filter((l) => l['msg'] === 'Reconciler error');
    expect(errors.map((l) => l['retryInMs'])).toEqual([100, 200, 400]);
    expect(errors.map((l) => l['error'])).toEqual(['toy failure 1', 'toy failure 2', 'toy failure 3']);
    expect(errors[0]).toMatchObject({ level: 'error', controller: 'widget', kind: 'Widget', name: 'w1', namespace: ns });
    expect(calls.length).toBe(4);
    // The success's status replaced the failures' status whole.
    const w = await getWidget(client, ns, 'w1');
    expect(statusOf(w)).toEqual({ observedGeneration: 1, reconciles: 1 });
    expect(meta(w).finalizers).toEqual([Finalizer]);
  });

  it('writes the status and the finalizer a failed reconcile returns', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-failed');
    startManager(ns, toyReconciler([]), { minRetryDelayMs: 60_000 });
    await createWidget(client, widget(ns, 'w1', { failures: 1000 }));
    const w = await eventually('the failure written', async () => {
      const o = await getWidget(client, ns, 'w1');
      return statusOf(o)['failures'] === 1 && meta(o).finalizers?.includes(Finalizer) ? o : undefined;
    });
    expect(meta(w).finalizers).toEqual([Finalizer]);
  });

  it('runs at most `concurrent` reconciles at once', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-conc');
    const calls: Call[] = [];
    const reconciler = toyReconciler(calls);
    const { manager } = startManager(ns, reconciler, { concurrent: 2 });
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    await Promise.all(names.map((n) => createWidget(client, widget(ns, n, { sleepMs: 300 }))));
    await eventually('all reconciled', async () => {
      const list = await client.request<{ items: KubeObject[] }>({ path: `/apis/test.lading.dev/v1/namespaces/${ns}/widgets` });
      return list.items.every((o) => statusOf(o)['reconciles'] === 1) ? true : undefined;
    });
    expect(reconciler.maxInFlight).toBe(2);
    expect(manager.stats('widget')?.maxActive).toBe(2);
  });

  it('enqueues the objects a watched kind maps to when its artifact changes, not on its other status changes', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-watch');
    const calls: string[] = [];
    const gadgetPath = `/apis/test.lading.dev/v1/namespaces/${ns}/gadgets`;
    const revisionOf = (o: KubeObject | undefined) => ((o?.['status'] as { artifact?: { revision?: string } } | undefined)?.artifact?.revision);
    const reconciler: Reconciler = {
      name: 'widget',
      kind: Widget,
      statusManager: 'toy-controller',
      async reconcile(object, ctx) {
        const source = (object['spec'] as { source: string }).source;
        const revision = revisionOf(ctx.cache.get(Gadget, { namespace: ns, name: source })) ?? 'none';
        calls.push(revision);
        return { status: { sourceRevision: revision } };
      },
      watches: [
        {
          kind: Gadget,
          map: (gadget, cache) =>
            cache
              .list(Widget, ns)
              .filter((w) => (w['spec'] as { source?: string }).source === meta(gadget).name)
              .map((w) => ({ namespace: ns, name: meta(w).name })),
        },
      ],
    };
    startManager(ns, reconciler);
    await client.request({ method: 'POST', path: gadgetPath, body: { apiVersion: 'test.lading.dev/v1', kind: 'Gadget', metadata: { name: 'g1', namespace: ns } } });
    await createWidget(client, widget(ns, 'w1', { source: 'g1' }));
    const sourceRevision = async () => statusOf(await getWidget(client, ns, 'w1'))['sourceRevision'];
    await eventually('the first reconcile', async () => ((await sourceRevision()) === 'none' ? true : undefined));

    const setStatus = (status: Record<string, unknown>) =>
      client.request({ method: 'PATCH', path: `${gadgetPath}/g1/status`, contentType: 'application/merge-patch+json', body: { status } });
    await setStatus({ artifact: { revision: 'v1', digest: 'sha256:1' } });
    await eventually('the artifact seen', async () => ((await sourceRevision()) === 'v1' ? true : undefined));
    // Another status change of the source: no reconcile. Then a new revision: one.
    await setStatus({ conditions: [{ type: 'Ready', status: 'True' }] });
    await setStatus({ artifact: { revision: 'v2', digest: 'sha256:2' } });
    await eventually('the new revision seen', async () => ((await sourceRevision()) === 'v2' ? true : undefined));
    expect(calls).toEqual(['none', 'v1', 'v2']);
  });

  it('reconciles only objects matching --watch-label-selector, and still sees the kinds it watches', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-shard');
    const seen: string[] = [];
    const reconciler: Reconciler = {
      name: 'widget',
      kind: Widget,
      statusManager: 'toy-controller',
      async reconcile(object, ctx) {
        seen.push(meta(object).name);
        const gadget = ctx.cache.get(Gadget, { namespace: ns, name: 'g1' });
        return { status: { gadgetSeen: gadget !== undefined } };
      },
      watches: [{ kind: Gadget, map: () => [] }],
    };
    const { manager } = startManager(ns, reconciler, { labelSelector: 'sharding.fluxcd.io/key=shard1' });
    // The source has no shard label: the selector is not applied to watched kinds.
    await client.request({ method: 'POST', path: `/apis/test.lading.dev/v1/namespaces/${ns}/gadgets`, body: { apiVersion: 'test.lading.dev/v1', kind: 'Gadget', metadata: { name: 'g1', namespace: ns } } });
    await eventually('the gadget in the cache', () => manager.cache.get(Gadget, { namespace: ns, name: 'g1' }));
    await createWidget(client, widget(ns, 'other-shard', {}, { labels: { 'sharding.fluxcd.io/key': 'shard2' } }));
    await createWidget(client, widget(ns, 'no-shard'));
    await createWidget(client, widget(ns, 'mine', {}, { labels: { 'sharding.fluxcd.io/key': 'shard1' } }));
    await eventually('the shard1 widget reconciled', async () => (statusOf(await getWidget(client, ns, 'mine'))['gadgetSeen'] === true ? true : undefined));
    expect(seen).toEqual(['mine']);
    expect(statusOf(await getWidget(client, ns, 'no-shard'))).toEqual({});
  });

  it('with --watch-label-selector, a kind one controller reconciles and another reads: only its shard is reconciled, every object is read', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-shard-shared');
    const reconciledGadgets: string[] = [];
    // Gadgets stand for OCIRepositories (reconciled in this shard), Widgets for Kustomizations
    // (which read their source whatever its shard, as Flux's kustomize-controller does).
    const gadgets: Reconciler = {
      name: 'gadget',
      kind: Gadget,
      statusManager: 'toy-gadget-controller',
      async reconcile(object) {
        reconciledGadgets.push(meta(object).name);
        return { status: { reconciled: true } };
      },
    };
    const widgets: Reconciler = {
      name: 'widget',
      kind: Widget,
      statusManager: 'toy-controller',
      async reconcile(object, ctx) {
        const source = (object['spec'] as { source: string }).source;
        return { status: { sourceSeen: ctx.cache.get(Gadget, { namespace: ns, name: source }) !== undefined } };
      },
      watches: [{ kind: Gadget, map: () => [] }],
    };
    const captured = capturedLogger();
    const manager = new Manager({ client, log: captured.log, namespace: ns, labelSelector: 'sharding.fluxcd.io/key=shard1' });
    manager.register(gadgets);
    manager.register(widgets);
    manager.start();
    managers.push(manager);
    const gadgetPath = `/apis/test.lading.dev/v1/namespaces/${ns}/gadgets`;
    const gadget = (name: string, shard?: string) => ({ apiVersion: 'test.lading.dev/v1', kind: 'Gadget', metadata: { name, namespace: ns, ...(shard ? { labels: { 'sharding.fluxcd.io/key': shard } } : {}) } });
    await client.request({ method: 'POST', path: gadgetPath, body: gadget('g-shard2', 'shard2') });
    await client.request({ method: 'POST', path: gadgetPath, body: gadget('g-shard1', 'shard1') });
    await createWidget(client, widget(ns, 'w1', { source: 'g-shard2' }, { labels: { 'sharding.fluxcd.io/key': 'shard1' } }));
    await eventually('the shard1 widget reads the shard2 gadget', async () => (statusOf(await getWidget(client, ns, 'w1'))['sourceSeen'] === true ? true : undefined));
    await eventually('the shard1 gadget reconciled', async () => (reconciledGadgets.includes('g-shard1') ? true : undefined));
    expect(reconciledGadgets).toEqual(['g-shard1']);
    // A gadget labelled into the shard later is reconciled then.
    await client.request({ method: 'PATCH', path: `${gadgetPath}/g-shard2`, contentType: 'application/merge-patch+json', body: { metadata: { labels: { 'sharding.fluxcd.io/key': 'shard1' } } } });
    await eventually('the relabelled gadget reconciled', async () => (reconciledGadgets.includes('g-shard2') ? true : undefined));
  });
});
