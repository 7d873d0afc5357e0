// Leader election on a Lease against the real API server: one of two candidates leads, the other
// waits; a graceful release hands the lease over at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../src/controller/runtime/lease.js';
import type { KubeClient } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup } from '../kube/helpers.js';
import { capturedLogger, createNamespace, eventually } from './runtime-helpers.js';

const kubeconfig = clusterKubeconfig();
let client: KubeClient;
const setup = deferredSetup();

beforeAll(() => setup.run(async () => void (client = await connect(kubeconfig))));
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
});
