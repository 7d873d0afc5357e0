// Crash safety: the API server is stopped in the middle of an apply (after the Namespace stage,
// before the rest) and started again; a re-run converges and nothing is orphaned. Runs on its
// own control plane (startCluster) because it stops the API server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeError, applyInventory, readInventory, type KubeClient, type KubeObject } from '../../src/kube/index.js';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { spawnLogged, stopProcess, type StartedProcess } from '../env/process.js';
import { connect, deferredSetup, kubectlJson } from './helpers.js';

const ns = 'crash';
const cm = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { name } });
const nsObject: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };

describe('API server stopped mid-apply', () => {
  let cluster: RunningCluster;
  let restarted: StartedProcess | undefined;

  const setup = deferredSetup();
  beforeAll(() => setup.run(async () => void (cluster = await startCluster({ nodes: 1 }))), 300_000);

  afterAll(async () => {
    if (restarted) await stopProcess(restarted.pid);
    await cluster?.stop();
  });

  it('converges on a re-run and orphans nothing', async () => {
    setup.ready();
    const apiserver = cluster.processes.find((p) => p.name === 'kube-apiserver');
    if (!apiserver) throw new Error('startCluster did not report a kube-apiserver process');
    const cmdline = readFileSync(`/proc/${apiserver.pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
    const [command, ...args] = cmdline as [string, ...string[]];

    let client: KubeClient = await connect(cluster.kubeconfig, 'default');
    const first = [nsObject, cm('a'), cm('b'), cm('c'), cm('d')];
    await applyInventory({ client, name: 'crash', objects: first });

    // The new set drops c and d and adds e and f; the API server dies once the Namespace stage is done.
    const second = [nsObject, cm('a'), cm('b'), cm('e'), cm('f')];
    let killed = false;
    const err = await applyInventory({
      client,
      name: 'crash',
      objects: second,
      prune: true,
      onEvent: (e) => {
        if (!killed && e.type === 'change' && e.change.ref.kind === 'Namespace') {
          killed = true;
          process.kill(apiserver.pid, 'SIGKILL');
        }
      },
    }).catch((e: unknown) => e);
    expect(killed).toBe(true);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe('NETWORK');
    client.close();

    restarted = spawnLogged({ name: 'kube-apiserver', command, args, logFile: join(cluster.dataDir, 'logs', 'kube-apiserver-restarted.log') });
    client = await connect(cluster.kubeconfig, 'default');
    for (let i = 0; ; i++) {
      try {
        await client.request({ path: '/api/v1/namespaces/default' });
        break;
      } catch (e) {
        if (i > 600) throw new Error(`kube-apiserver did not come back: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    // Before the re-run the inventory still tracks everything (old ∪ new): nothing is lost.
    const during = await readInventory(client, 'crash', 'default');
    expect(during?.entries.map((e) => e.name).sort()).toEqual(['a', 'b', 'c', 'crash', 'd', 'e', 'f']);

    const rerun = await applyInventory({ client, name: 'crash', objects: second, prune: true, wait: true, timeoutMs: 120_000 });
    const byId = Object.fromEntries(rerun.changes.map((c) => [c.id, c.action]));
    expect(byId).toEqual({
      'Namespace/crash': 'unchanged',
      'ConfigMap/crash/a': 'unchanged',
      'ConfigMap/crash/b': 'unchanged',
      'ConfigMap/crash/e': 'created',
      'ConfigMap/crash/f': 'created',
      'ConfigMap/crash/c': 'deleted',
      'ConfigMap/crash/d': 'deleted',
    });
    const after = await readInventory(client, 'crash', 'default');
    expect(after?.entries.map((e) => e.name)).toEqual(['crash', 'a', 'b', 'e', 'f']);
    // Nothing labelled as ours is left outside the inventory.
    const labelled = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(cluster.kubeconfig, ['get', 'configmaps', '-A', '-l', 'inventory.lading.dev/name=crash']);
    expect(labelled.items.map((i) => i.metadata.name).sort()).toEqual(['a', 'b', 'e', 'f']);
    client.close();
  }, 300_000);
});
