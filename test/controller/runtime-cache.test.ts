// The per-kind cache against the real API server: the first list, adds, updates and deletes seen
// by handlers, a label selector, a namespace restriction, managedFields left out, objects frozen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache, Informer } from '../../src/controller/runtime/cache.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup, kubectl } from '../kube/helpers.js';
import { capturedLogger, createNamespace, createWidget, deleteWidget, eventually, installWidgetCrd, mergePatchWidget, Widget, widget } from './runtime-helpers.js';

const kubeconfig = clusterKubeconfig();
let client: KubeClient;
const setup = deferredSetup();
const stops: AbortController[] = [];

beforeAll(() =>
  setup.run(async () => {
    await installWidgetCrd(kubeconfig);
    client = await connect(kubeconfig);
  }),
);

afterAll(async () => {
  for (const s of stops) s.abort();
  await client?.close();
});

function started(informer: Informer | Cache): AbortController {
  const stop = new AbortController();
  stops.push(stop);
  void informer.start(stop.signal);
  return stop;
}

const nameOf = (o: KubeObject) => (o['metadata'] as { name: string }).name;

describe('Informer', () => {
  it('syncs the first list, then sees adds, updates and deletes', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-cache');
    await createWidget(client, widget(ns, 'before', { size: 1 }));
    const { log } = capturedLogger();
    const informer = new Informer({ client, kind: Widget, namespace: ns, log });
    const seen: string[] = [];
    informer.addHandlers({
      add: (o) => seen.push(`add ${nameOf(o)}`),
      update: (old, o) => seen.push(`update ${nameOf(o)} ${(old['spec'] as { size: number }).size}->${(o['spec'] as { size: number }).size}`),
      delete: (o) => seen.push(`delete ${nameOf(o)}`),
    });
    started(informer);
    expect(await informer.waitForSync()).toBe(true);
    expect(informer.list().map(nameOf)).toEqual(['before']);
    expect(seen).toEqual(['add before']);

    await createWidget(client, widget(ns, 'after', { size: 1 }));
    await eventually('the add', () => informer.get({ namespace: ns, name: 'after' }));
    await mergePatchWidget(client, ns, 'after', { spec: { size: 2 } });
    await eventually('the update', () => ((informer.get({ namespace: ns, name: 'after' })?.['spec'] as { size: number }).size === 2 ? true : undefined));
    await deleteWidget(client, ns, 'before');
    await eventually('the delete', () => (informer.get({ namespace: ns, name: 'before' }) === undefined ? true : undefined));
    expect(seen).toEqual(['add before', 'add after', 'update after 1->2', 'delete before']);

    // Cached objects carry no managedFields and are read-only.
    const cached = informer.get({ namespace: ns, name: 'after' }) as KubeObject;
    expect(cached['metadata']).not.toHaveProperty('managedFields');
    expect(Object.isFrozen(cached['spec'])).toBe(true);
  });

  it('keeps only objects matching the label selector, in the namespace it is restricted to', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-sel');
    const other = await createNamespace(kubeconfig, 'rt-sel-other');
    await createWidget(client, widget(ns, 'shard1', {}, { labels: { 'sharding.fluxcd.io/key': 'shard1' } }));
    await createWidget(client, widget(ns, 'plain'));
    await createWidget(client, widget(other, 'shard1-elsewhere', {}, { labels: { 'sharding.fluxcd.io/key': 'shard1' } }));
    const { log } = capturedLogger();
    const cache = new Cache({ client, log, namespace: ns });
    const informer = cache.informerFor(Widget, { labelSelector: 'sharding.fluxcd.io/key=shard1' });
    started(cache);
    expect(await cache.waitForSync()).toBe(true);
    expect(cache.list(Widget).map(nameOf)).toEqual(['shard1']);
    expect(cache.get(Widget, { namespace: ns, name: 'plain' })).toBeUndefined();
    // A label added later brings the object in; removing it takes it out again.
    await mergePatchWidget(client, ns, 'plain', { metadata: { labels: { 'sharding.fluxcd.io/key': 'shard1' } } });
    await eventually('the labelled object', () => informer.get({ namespace: ns, name: 'plain' }));
    await mergePatchWidget(client, ns, 'plain', { metadata: { labels: { 'sharding.fluxcd.io/key': null } } });
    await eventually('the object to leave the cache', () => (informer.get({ namespace: ns, name: 'plain' }) === undefined ? true : undefined));
    expect(cache.list(Widget, other)).toEqual([]);
  });

  it('a kind the API server does not serve counts as synced and empty; the failure is logged and the watch keeps trying', async () => {
    setup.ready();
    const { log, lines } = capturedLogger();
    const missing = { ...Widget, plural: 'nosuchwidgets', kind: 'NoSuchWidget' };
    const informer = new Informer({ client, kind: missing, log, restartMinMs: 50, restartMaxMs: 100 });
    started(informer);
    await eventually('two restarts', () => (informer.restarts >= 2 ? true : undefined));
    // Readers waiting for it (a Kustomization's GitRepository cache where Flux's CRDs are absent) start.
    expect(informer.hasSynced).toBe(true);
    expect(informer.list()).toEqual([]);
    const failures = lines().filter((l) => l['msg'] === 'watch failed, restarting');
    // Logged at error level once, then at debug level while it stays the same failure.
    expect(failures.map((l) => l['level']).slice(0, 2)).toEqual(['error', 'debug']);
    expect(String(failures[0]?.['error'])).toContain('nosuchwidgets');
  });

  it('says so when the API server refuses the watch, and syncs once access is granted', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-rbac');
    await createWidget(client, widget(ns, 'w1'));
    const { log, lines } = capturedLogger();
    const user = `system:serviceaccount:${ns}:nobody`;
    const informer = new Informer({ client: client.impersonate({ user }), kind: Widget, namespace: ns, log });
    started(informer);
    const refused = await eventually('the refusal logged', () => lines().find((l) => l['level'] === 'error'));
    expect(refused['error']).toMatch(/forbidden/i);
    expect(informer.hasSynced).toBe(false);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'role', 'widgets', '--verb=get,list,watch', '--resource=widgets.test.lading.dev']);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'rolebinding', 'widgets', '--role=widgets', `--user=${user}`]);
    expect(await informer.waitForSync()).toBe(true);
    expect(informer.list().map(nameOf)).toEqual(['w1']);
  }, 120_000);
});
