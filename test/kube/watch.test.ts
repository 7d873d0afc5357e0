// Streaming watch against the real API server: list then watch, events in order, relisting when
// the resourceVersion is gone (410), pages, the event size bound, stopping with a signal, and a
// kube-apiserver restart in the middle of a watch (on a cluster of this test's own, so that the
// shared one is not disturbed).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, KubeError, type KubeObject, type WatchEvent } from '../../src/kube/index.js';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { clusterKubeconfig, deferredSetup, kubectl } from './helpers.js';

const nameOf = (o: KubeObject): string => (o['metadata'] as { name: string }).name;

/** Reads events from a watch until `until` says stop (then aborts the watch). */
async function collect(events: AsyncGenerator<WatchEvent>, until: (seen: WatchEvent[]) => boolean): Promise<WatchEvent[]> {
  const seen: WatchEvent[] = [];
  for await (const e of events) {
    seen.push(e);
    if (until(seen)) break;
  }
  return seen;
}

/** The events of `seen` as short strings, bookmarks left out: `SYNC a,b`, `ADDED c`. */
function summary(seen: WatchEvent[]): string[] {
  return seen
    .filter((e) => e.type !== 'BOOKMARK')
    .map((e) => (e.type === 'SYNC' ? `SYNC ${e.objects.map(nameOf).filter((n) => n !== 'kube-root-ca.crt').sort().join(',')}` : `${e.type} ${nameOf(e.object)}`));
}

async function namespace(kubeconfig: string, name: string): Promise<void> {
  await kubectl(kubeconfig, ['apply', '-f', '-'], { input: `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n` });
}

describe('watch on the shared cluster', () => {
  const setup = deferredSetup();
  let kubeconfig: string;
  let client: KubeClient;
  beforeAll(() =>
    setup.run(async () => {
      kubeconfig = clusterKubeconfig();
      client = await KubeClient.connect({ kubeconfig });
    }),
  );
  afterAll(async () => {
    await client?.close();
  });

  it('lists, then streams additions, changes and deletions in order; a signal ends it', async () => {
    setup.ready();
    const ns = 'lading-watch-events';
    await namespace(kubeconfig, ns);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'first', '--from-literal=v=1']);
    const controller = new AbortController();
    const events = client.watch({ path: `/api/v1/namespaces/${ns}/configmaps`, signal: controller.signal });
    const seen: WatchEvent[] = [];
    let changed = false;
    for await (const e of events) {
      seen.push(e);
      if (e.type === 'SYNC' && !changed) {
        changed = true;
        await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'second', '--from-literal=v=1']);
        await kubectl(kubeconfig, ['-n', ns, 'patch', 'configmap', 'first', '-p', '{"data":{"v":"2"}}']);
        await kubectl(kubeconfig, ['-n', ns, 'delete', 'configmap', 'first']);
      }
      if (e.type === 'DELETED') controller.abort();
    }
    expect(summary(seen)).toEqual(['SYNC first', 'ADDED second', 'MODIFIED first', 'DELETED first']);
    const sync = seen[0] as Extract<WatchEvent, { type: 'SYNC' }>;
    // List items get the kind and apiVersion the API server leaves out of them.
    expect(sync.objects.every((o) => o['kind'] === 'ConfigMap' && o['apiVersion'] === 'v1')).toBe(true);
    const modified = seen.find((e) => e.type === 'MODIFIED') as Extract<WatchEvent, { object: KubeObject }>;
    expect((modified.object['data'] as { v: string }).v).toBe('2');
    expect(modified.resourceVersion).toBe((modified.object['metadata'] as { resourceVersion: string }).resourceVersion);
  });

  it('lists again when the resourceVersion to resume from is gone (410), and pages through a long list', async () => {
    setup.ready();
    const ns = 'lading-watch-relist';
    await namespace(kubeconfig, ns);
    for (let i = 0; i < 5; i++) await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', `cm-${i}`]);
    const controller = new AbortController();
    // resourceVersion 1 is older than anything the API server still has.
    const seen = await collect(client.watch({ path: `/api/v1/namespaces/${ns}/configmaps`, resourceVersion: '1', pageSize: 2, signal: controller.signal }), (s) => s.some((e) => e.type === 'SYNC'));
    controller.abort();
    expect(summary(seen).at(-1)).toBe('SYNC cm-0,cm-1,cm-2,cm-3,cm-4');
  });

  it('resumes from a resourceVersion without listing', async () => {
    setup.ready();
    const ns = 'lading-watch-resume';
    await namespace(kubeconfig, ns);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'before']);
    const list = await client.request<{ metadata: { resourceVersion: string } }>({ path: `/api/v1/namespaces/${ns}/configmaps` });
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'after']);
    const controller = new AbortController();
    const seen = await collect(client.watch({ path: `/api/v1/namespaces/${ns}/configmaps`, resourceVersion: list.metadata.resourceVersion, signal: controller.signal }), (s) => s.some((e) => e.type === 'ADDED'));
    controller.abort();
    expect(summary(seen)).toEqual(['ADDED after']);
  });

  it('refuses an event larger than maxEventBytes, and ends on errors it cannot wait out', async () => {
    setup.ready();
    const ns = 'lading-watch-limits';
    await namespace(kubeconfig, ns);
    await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'small']);
    const controller = new AbortController();
    const events = client.watch({ path: `/api/v1/namespaces/${ns}/configmaps`, maxEventBytes: 4096, signal: controller.signal });
    const err = await (async () => {
      for await (const e of events) {
        if (e.type === 'SYNC') await kubectl(kubeconfig, ['-n', ns, 'create', 'configmap', 'big', `--from-literal=v=${'x'.repeat(10_000)}`]);
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).code).toBe('TOO_LARGE');
    const notFound = await collect(client.watch({ path: '/apis/example.invalid/v1/things' }), () => true).catch((e: unknown) => e);
    expect((notFound as KubeError).code).toBe('NOT_FOUND');
  });
});

describe('watch across a kube-apiserver restart', () => {
  let cluster: RunningCluster | undefined;
  let client: KubeClient | undefined;
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('waits the restart out, backing off, and carries on with what changed', async () => {
    cluster = await startCluster({ nodes: 0 });
    const c = cluster;
    client = await KubeClient.connect({ kubeconfig: c.kubeconfig });
    await kubectl(c.kubeconfig, ['-n', 'default', 'create', 'configmap', 'before-restart']);
    const controller = new AbortController();
    const retries: KubeError[] = [];
    const seen: WatchEvent[] = [];
    let restart: Promise<void> | undefined;
    for await (const e of client.watch({ path: '/api/v1/namespaces/default/configmaps', signal: controller.signal, onRetry: (err) => retries.push(err) })) {
      seen.push(e);
      // Restarted while the watch goes on: it sees the stream break and the API server gone.
      restart ??= c.restartApiServer().then(async () => {
        await kubectl(c.kubeconfig, ['-n', 'default', 'create', 'configmap', 'after-restart']);
      });
      const names = seen.flatMap((x) => (x.type === 'SYNC' ? x.objects.map(nameOf) : x.type === 'BOOKMARK' ? [] : [nameOf(x.object)]));
      if (names.includes('after-restart')) controller.abort();
    }
    await restart;
    // The stream broke with the restart; the watch came back by itself, either resuming from its
    // resourceVersion or listing again, and saw the ConfigMap created afterwards.
    expect(summary(seen)[0]).toBe('SYNC before-restart');
    expect(summary(seen).at(-1)).toMatch(/^(ADDED after-restart|SYNC after-restart,before-restart)$/);
    expect(retries.length).toBeGreaterThan(0);
  });
});

describe('watch against a misbehaving API server (a server of the test own)', () => {
  it('refuses a list whose continue token comes back after it was followed, instead of paging forever', async () => {
    let requests = 0;
    const server = createHttpServer((req, res) => {
      requests += 1;
      // Every page hands back the same token: a loop a real API server never makes.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '7', continue: 'again' }, items: [{ metadata: { name: `page-${requests}` } }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'lading-watch-loop-'));
    try {
      const port = (server.address() as AddressInfo).port;
      const file = join(dir, 'config');
      writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
      const client = await KubeClient.connect({ kubeconfig: file });
      try {
        const err = await collect(client.watch({ path: '/api/v1/namespaces/default/configmaps' }), () => true).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(KubeError);
        expect((err as KubeError).message).toMatch(/continue token already followed/);
        // The first page and the one that repeated its token: then it stopped.
        expect(requests).toBe(2);
      } finally {
        await client.close();
      }
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
