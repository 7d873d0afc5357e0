// Leader election on a Lease against the real API server: one of two candidates leads, the other
// waits; a graceful release hands the lease over at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../src/controller/runtime/lease.js';
import { Manager } from '../../src/controller/runtime/manager.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup } from '../kube/helpers.js';
import { capturedLogger, createNamespace, createWidget, eventually, getWidget, installWidgetCrd, Widget, widget } from './runtime-helpers.js';

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

describe('LeaderElector', () => {
  it('elects one candidate and hands over on release', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-lease');
    const { log } = capturedLogger();
    const timings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 200 };
    const a = new LeaderElector({ client, namespace: ns, identity: 'a', log, ...timings });
    const b = new LeaderElector({ client, namespace: ns, identity: 'b', log, ...timings });
    const stopA = new AbortController();
    const stopB = new AbortController();
    try {
      expect(await a.acquire(stopA.signal, () => undefined)).toBe(true);
      const bElected = b.acquire(stopB.signal, () => undefined);
      // b keeps trying while a renews (15 s lease: b cannot take it in this test's time unless released).
      await new Promise((r) => setTimeout(r, 1000));
      expect(b.isLeader).toBe(false);
      const lease = await client.request<{ spec: { holderIdentity: string; leaseDurationSeconds: number } }>({
        path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/lading-controller-leader-election`,
      });
      expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15 });

      stopA.abort();
      await a.release();
      expect(await bElected).toBe(true);
      const after = await eventually('b to hold the lease', async () => {
        const l = await client.request<{ spec: { holderIdentity: string; leaseTransitions: number } }>({
          path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/lading-controller-leader-election`,
        });
        return l.spec.holderIdentity === 'b' ? l : undefined;
      });
      expect(after.spec.leaseTransitions).toBe(1);
    } finally {
      stopA.abort();
      stopB.abort();
    }
  });

  it('reconciles only in the manager that leads; the next one takes over when the leader stops', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-lease-mgr');
    const reconciledBy: string[] = [];
    const managerFor = (identity: string) => {
      const m = new Manager({
        client,
        log: capturedLogger().log,
        namespace: ns,
        leaderElection: { namespace: ns, identity, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 200 },
      });
      m.register({
        name: 'widget',
        kind: Widget,
        statusManager: 'toy-controller',
        async reconcile(object: KubeObject) {
          reconciledBy.push(identity);
          return { status: { reconciledBy: identity, generation: (object['metadata'] as { generation: number }).generation } };
        },
      });
      return m;
    };
    const a = managerFor('a');
    const b = managerFor('b');
    try {
      a.start();
      await eventually('a to lead', () => (a.isLeader ? true : undefined));
      b.start();
      await createWidget(client, widget(ns, 'w1'));
      await eventually('a to reconcile', async () => (((await getWidget(client, ns, 'w1'))['status'] as { reconciledBy?: string } | undefined)?.reconciledBy === 'a' ? true : undefined));
      expect(b.isLeader).toBe(false);
      expect(reconciledBy).toEqual(['a']);

      await a.stop();
      await eventually('b to take over and reconcile', async () => (((await getWidget(client, ns, 'w1'))['status'] as { reconciledBy?: string } | undefined)?.reconciledBy === 'b' ? true : undefined));
      expect(b.isLeader).toBe(true);
      expect(reconciledBy).toEqual(['a', 'b']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('stops the manager with an error when the lease is lost', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-lease-lost');
    const manager = new Manager({
      client,
      log: capturedLogger().log,
      namespace: ns,
      leaderElection: { namespace: ns, identity: 'me', leaseDurationMs: 15_000, renewDeadlineMs: 1_000, retryPeriodMs: 200 },
    });
    manager.register({ name: 'widget', kind: Widget, statusManager: 'toy-controller', reconcile: async () => ({}) });
    manager.start();
    try {
      await eventually('leadership', () => (manager.isLeader ? true : undefined));
      // Another holder takes the lease over (as after a long pause of this process).
      const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/lading-controller-leader-election`;
      const lease = await client.request<{ spec: Record<string, unknown> }>({ path });
      const now = new Date().toISOString().replace('Z', '000Z');
      await client.request({ method: 'PUT', path, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 3600, renewTime: now, acquireTime: now } } });
      const err = await manager.done.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'LEADER_ELECTION_LOST' });
      expect(manager.isLeader).toBe(false);
    } finally {
      await manager.stop();
    }
  });
});
