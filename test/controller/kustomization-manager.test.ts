// The Kustomization reconciler under the real runtime (Manager: caches, queue, status writes,
// finalizer, events) against the API server with Flux's CRDs: a new artifact revision of the
// source is applied through the source watch (the interval is ten minutes), Kubernetes events
// carry Flux's reasons, and deleting the Kustomization prunes what it applied.
import { rmSync } from 'node:fs';
import { installLadingCrds } from './crd-install.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Finalizer } from '../../src/controller/api.js';
import { findCondition } from '../../src/controller/runtime/conditions.js';
import { Manager } from '../../src/controller/runtime/manager.js';
import { createKustomizationReconciler } from '../../src/controller/kustomize/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { clusterKubeconfig, connect, deferredSetup, kubectl, kubectlJson } from '../kube/helpers.js';
import { ArtifactServer, Harness, applyKustomization, configMap, createSource, deleteKustomization, writeTree } from './kustomization-harness.js';
import { capturedLogger, eventually } from './runtime-helpers.js';

const setup = deferredSetup();
let kubeconfig: string;
let client: KubeClient;
let server: ArtifactServer;
let manager: Manager | undefined;
const ns = `ks-manager-${process.pid}`;
const dirs: string[] = [];

beforeAll(async () => {
  await setup.run(async () => {
    kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig, 'default');
    await installLadingCrds(kubeconfig);
    server = new ArtifactServer();
    await server.start();
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
  });
});

afterAll(async () => {
  await manager?.stop();
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  await client?.close();
});

async function publish(files: Record<string, string>, rev: string): Promise<string> {
  const dir = writeTree(files);
  dirs.push(dir);
  const art = server.add(`ocirepository/${ns}/app/${rev}.tar.gz`, dir);
  const revision = `${rev}@sha256:${createRevisionDigest(rev)}`;
  await createSource(client, ns, 'app', { ...art, revision });
  return revision;
}

function createRevisionDigest(rev: string): string {
  return Buffer.from(rev).toString('hex').padEnd(64, '0').slice(0, 64);
}

describe('Kustomization reconciler under the runtime', () => {
  it('applies, follows new source revisions through the watch, records events, prunes on deletion', async () => {
    setup.ready();
    const v1 = await publish({ 'a.yaml': configMap(ns, 'a', { k: '1' }) }, 'v1');
    await applyKustomization(client, ns, 'ks', { interval: '10m', prune: true, sourceRef: { kind: 'OCIRepository', name: 'app' }, path: './' });

    const { log } = capturedLogger();
    manager = new Manager({ client, log, namespace: ns, minRetryDelayMs: 100, maxRetryDelayMs: 2000 });
    manager.register(createKustomizationReconciler({ requeueDependencyMs: 1000, httpRetry: 1 }), { reportingController: 'kustomize-controller' });
    manager.start();
    const reader = new Harness(client, createKustomizationReconciler());

    const first = await eventually('the first revision applied', async () => {
      const k = await reader.get(ns, 'ks');
      return findCondition(k?.status?.conditions, 'Ready')?.message === `Applied revision: ${v1}` ? k : undefined;
    });
    expect(first.metadata.finalizers).toContain(Finalizer);
    expect(first.status?.observedGeneration).toBe(first.metadata.generation);
    expect(first.status?.inventory?.entries).toEqual([{ id: `${ns}_a__ConfigMap`, v: 'v1' }]);

    const v2 = await publish({ 'a.yaml': configMap(ns, 'a', { k: '2' }), 'b.yaml': configMap(ns, 'b', { k: '1' }) }, 'v2');
    const second = await eventually('the new revision applied through the source watch', async () => {
      const k = await reader.get(ns, 'ks');
      return findCondition(k?.status?.conditions, 'Ready')?.message === `Applied revision: ${v2}` ? k : undefined;
    });
    expect(second.status?.inventory?.entries.map((e) => e.id).sort()).toEqual([`${ns}_a__ConfigMap`, `${ns}_b__ConfigMap`]);
    expect(second.status?.history?.map((h) => h.metadata?.['revision'])).toEqual([v2, v1]);

    const events = await eventually('the events of both revisions', async () => {
      const list = await kubectlJson<{ items: Array<{ reason: string; type: string; message: string; involvedObject: { kind: string; name: string }; metadata: { annotations?: Record<string, string> } }> }>(kubeconfig, ['-n', ns, 'get', 'events']);
      const ours = list.items.filter((e) => e.involvedObject.kind === 'Kustomization');
      return ours.some((e) => e.message.includes(`ConfigMap/${ns}/b created`)) ? ours : undefined;
    });
    const created = events.find((e) => e.message.includes(`ConfigMap/${ns}/b created`));
    expect(created).toMatchObject({ type: 'Normal', reason: 'Progressing' });
    expect(created?.metadata.annotations?.['kustomize.toolkit.fluxcd.io/revision']).toBe(v2);
    const finished = events.find((e) => e.message.startsWith('Reconciliation finished in '));
    expect(finished).toMatchObject({ type: 'Normal', reason: 'ReconciliationSucceeded' });

    await deleteKustomization(client, ns, 'ks');
    await eventually('the Kustomization gone', async () => ((await reader.get(ns, 'ks')) === undefined ? true : undefined));
    await eventually('its objects pruned', async () => {
      const list = await kubectlJson<{ items: Array<{ metadata: { name: string; deletionTimestamp?: string } }> }>(kubeconfig, ['-n', ns, 'get', 'configmaps']);
      return list.items.filter((c) => c.metadata.name !== 'kube-root-ca.crt' && !c.metadata.deletionTimestamp).length === 0 ? true : undefined;
    });
  });
});
