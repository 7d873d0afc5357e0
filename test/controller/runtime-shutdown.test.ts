// Graceful shutdown of the controller process: SIGTERM during a slow reconcile lets it finish
// when it fits in the grace period, aborts it when it does not, and the process exits 0 either
// way. Then `lading controller run` itself (the built CLI): probes, metrics, SIGTERM → exit 0.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/kube/index.js';
import { acceptingConnections, freePorts, spawnLogged, stopProcess, type StartedProcess } from '../env/process.js';
import { repoRoot } from '../env/tools.js';
import { clusterKubeconfig, connect, deferredSetup } from '../kube/helpers.js';
import { crds } from '../../src/controller/crds.js';
import { kubectl } from '../kube/helpers.js';
import { cliPath } from './controller-process.js';
import { createNamespace, createWidget, eventually, getWidget, installWidgetCrd, widget } from './runtime-helpers.js';

const kubeconfig = clusterKubeconfig();
let client: KubeClient;
const setup = deferredSetup();
const logDir = mkdtempSync(join(tmpdir(), 'lading-rt-shutdown-'));
const started: StartedProcess[] = [];

beforeAll(() =>
  setup.run(async () => {
    await installWidgetCrd(kubeconfig);
    client = await connect(kubeconfig);
  }),
);

afterAll(async () => {
  for (const p of started) await stopProcess(p.pid, { graceMs: 1000 });
  await client?.close();
  rmSync(logDir, { recursive: true, force: true });
});

async function startSlow(ns: string, env: Record<string, string>): Promise<StartedProcess> {
  const [port] = (await freePorts(1)) as [number];
  const proc = spawnLogged({
    name: 'slow controller',
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'test/controller/runtime-slow-controller.ts')],
    logFile: join(logDir, `${ns}.log`),
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: kubeconfig, WATCH_NAMESPACE: ns, HEALTH_ADDR: `127.0.0.1:${port}`, ...env },
  });
  started.push(proc);
  let exited: string | undefined;
  void proc.exited.then((c) => (exited = String(c)));
  await acceptingConnections(port, 'the slow controller', () => exited, proc.logFile);
  return proc;
}

const phaseOf = async (ns: string) => ((await getWidget(client, ns, 'w1'))['status'] as { phase?: string } | undefined)?.phase;

describe('graceful shutdown', () => {
  it('lets an in-flight reconcile finish within the grace period, then exits 0', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-shut-finish');
    const proc = await startSlow(ns, { SLOW_MS: '3000', GRACE_MS: '60000' });
    await createWidget(client, widget(ns, 'w1'));
    await eventually('the reconcile to start', async () => ((await phaseOf(ns)) === 'started' ? true : undefined));
    process.kill(proc.pid, 'SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(await phaseOf(ns)).toBe('finished');
    const log = readFileSync(proc.logFile, 'utf8');
    expect(log).toContain('received signal, shutting down');
    expect(log).toContain('slow reconcile finished');
    expect(log).not.toContain('graceful shutdown timed out');
  });

  it('aborts an in-flight reconcile when the grace period ends, then exits 0', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-shut-abort');
    const proc = await startSlow(ns, { SLOW_MS: '600000', GRACE_MS: '1000' });
    await createWidget(client, widget(ns, 'w1'));
    await eventually('the reconcile to start', async () => ((await phaseOf(ns)) === 'started' ? true : undefined));
    process.kill(proc.pid, 'SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(await phaseOf(ns)).toBe('started');
    const log = readFileSync(proc.logFile, 'utf8');
    expect(log).toContain('graceful shutdown timed out');
    expect(log).toContain('slow reconcile aborted');
  });
});

describe('lading controller run', () => {
  it('serves probes and metrics, and exits 0 on SIGTERM', async () => {
    setup.ready();
    // The kinds it reconciles must be served for it to be ready (lading's CRDs, as the e2e tests install them).
    await kubectl(kubeconfig, ['apply', '--server-side', '-f', '-'], { input: crds().map((c) => JSON.stringify(c)).join('\n---\n') });
    const ns = await createNamespace(kubeconfig, 'rt-cli');
    const storage = mkdtempSync(join(tmpdir(), 'lading-rt-cli-storage-'));
    const [storagePort, healthPort, metricsPort] = (await freePorts(3)) as [number, number, number];
    const proc = spawnLogged({
      name: 'lading controller',
      command: process.execPath,
      args: [
        cliPath,
        'controller',
        'run',
        '--kubeconfig',
        kubeconfig,
        `--storage-path=${storage}`,
        `--storage-addr=127.0.0.1:${storagePort}`,
        `--health-addr=127.0.0.1:${healthPort}`,
        `--metrics-addr=127.0.0.1:${metricsPort}`,
        '--watch-all-namespaces=false',
        '--log-level=debug',
      ],
      logFile: join(logDir, 'cli.log'),
      env: { ...process.env, RUNTIME_NAMESPACE: ns },
    });
    started.push(proc);
    try {
      let exited: string | undefined;
      void proc.exited.then((c) => (exited = String(c)));
      await acceptingConnections(healthPort, 'lading controller run', () => exited, proc.logFile);
      expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
      await eventually('readiness', async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200 ? true : undefined));
      // Both reconcilers run: their status is written under Flux's field managers, the finalizer added.
      await kubectl(kubeconfig, ['-n', ns, 'apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', metadata: { name: 'app', namespace: ns }, spec: { url: 'oci://127.0.0.1:1/nothing', interval: '10m', ref: { tag: 'latest' } } },
            { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name: 'app', namespace: ns }, spec: { sourceRef: { kind: 'OCIRepository', name: 'app' }, interval: '10m', prune: true } },
          ],
        }),
      });
      for (const [kind, manager] of [['ocirepository', 'source-controller'], ['kustomization', 'gotk-kustomize-controller']] as const) {
        const obj = await eventually(`${kind} status`, async () => {
          const o = JSON.parse((await kubectl(kubeconfig, ['-n', ns, 'get', kind, 'app', '-o', 'json', '--show-managed-fields'])).stdout) as {
            metadata: { finalizers?: string[]; managedFields?: Array<{ manager: string; subresource?: string; operation: string }> };
            status?: { conditions?: unknown[] };
          };
          return (o.status?.conditions?.length ?? 0) > 0 && o.metadata.finalizers?.includes('finalizers.fluxcd.io') ? o : undefined;
        });
        expect(obj.metadata.managedFields?.find((f) => f.subresource === 'status' && f.operation === 'Apply')?.manager).toBe(manager);
      }
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toContain('# TYPE controller_runtime_reconcile_total counter');
      expect(text).toMatch(/controller_runtime_reconcile_total\{controller="ocirepository"\} [1-9]/);
      process.kill(proc.pid, 'SIGTERM');
      expect(await proc.exited).toBe(0);
      const lines = readFileSync(proc.logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l['msg'])).toEqual(expect.arrayContaining(['controller started', 'received signal, shutting down', 'controller stopped']));
      expect(lines.find((l) => l['msg'] === 'controller started')).toMatchObject({ level: 'info', namespace: ns });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- controller log ---\n${readFileSync(proc.logFile, 'utf8').split('\n').slice(-40).join('\n')}`, { cause: err });
    } finally {
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('exits 2 on a bad flag', async () => {
    setup.ready();
    const proc = spawnLogged({
      name: 'lading controller',
      command: process.execPath,
      args: [cliPath, 'controller', 'run', '--watch-all-namespaces=maybe'],
      logFile: join(logDir, 'cli-bad.log'),
    });
    started.push(proc);
    expect(await proc.exited).toBe(2);
    expect(readFileSync(proc.logFile, 'utf8')).toContain('--watch-all-namespaces: invalid boolean "maybe"');
  });

  it('exits 1 when it cannot listen on --health-addr', async () => {
    setup.ready();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const storage = mkdtempSync(join(tmpdir(), 'lading-rt-cli-storage-'));
    try {
      const port = (busy.address() as AddressInfo).port;
      const proc = spawnLogged({
        name: 'lading controller',
        command: process.execPath,
        args: [cliPath, 'controller', 'run', '--kubeconfig', kubeconfig, `--storage-path=${storage}`, '--storage-addr=127.0.0.1:0', `--health-addr=127.0.0.1:${port}`, '--metrics-addr=0'],
        logFile: join(logDir, 'cli-busy.log'),
      });
      started.push(proc);
      expect(await proc.exited).toBe(1);
      expect(readFileSync(proc.logFile, 'utf8')).toContain(`--health-addr: cannot listen on 127.0.0.1:${port}`);
    } finally {
      busy.close();
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('aborts a reconcile stuck on a registry that never answers when the grace period ends, and exits 0', async () => {
    setup.ready();
    const ns = await createNamespace(kubeconfig, 'rt-cli-stuck');
    await kubectl(kubeconfig, ['apply', '--server-side', '-f', '-'], { input: crds().map((c) => JSON.stringify(c)).join('\n---\n') });
    // A "registry" that accepts connections and never says a word.
    let connections = 0;
    const silent = createServer((socket) => {
      connections++;
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const registryPort = (silent.address() as AddressInfo).port;
    const storage = mkdtempSync(join(tmpdir(), 'lading-rt-cli-storage-'));
    const [healthPort] = (await freePorts(1)) as [number];
    try {
      const proc = spawnLogged({
        name: 'lading controller',
        command: process.execPath,
        args: [cliPath, 'controller', 'run', '--kubeconfig', kubeconfig, `--storage-path=${storage}`, '--storage-addr=127.0.0.1:0', `--health-addr=127.0.0.1:${healthPort}`, '--metrics-addr=0', '--watch-all-namespaces=false', '--graceful-shutdown-timeout=1s'],
        logFile: join(logDir, 'cli-stuck.log'),
        env: { ...process.env, RUNTIME_NAMESPACE: ns },
      });
      started.push(proc);
      let exited: string | undefined;
      void proc.exited.then((c) => (exited = String(c)));
      await acceptingConnections(healthPort, 'lading controller run', () => exited, proc.logFile);
      await kubectl(kubeconfig, ['-n', ns, 'apply', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', metadata: { name: 'stuck', namespace: ns }, spec: { url: `oci://127.0.0.1:${registryPort}/app`, interval: '10m', timeout: '10m', insecure: true } }),
      });
      await eventually('the reconcile to reach the registry', () => (connections > 0 ? true : undefined));
      process.kill(proc.pid, 'SIGTERM');
      expect(await proc.exited).toBe(0);
      const log = readFileSync(proc.logFile, 'utf8');
      expect(log).toContain('graceful shutdown timed out; aborting in-flight reconciles');
      expect(log).toContain('controller stopped');
    } finally {
      silent.close();
      rmSync(storage, { recursive: true, force: true });
    }
  });
});
