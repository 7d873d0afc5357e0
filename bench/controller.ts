// lading's controller against Flux's own source-controller and kustomize-controller (v1.9.5, the
// release of the flux CLI in the test environment), on the same work in the same run, measured as
// Flux's own benchmark measures it (fluxcd/flux-benchmark, "Mean Time To Production": all app
// packages pushed at once, then the time until every one is reconciled).
//
// Method
// - One local registry (distribution, plain http on loopback, so `insecure: true` as in
//   flux-benchmark). N apps pushed once, before anything is timed, with the flux CLI (Flux's own
//   artifact format), tag `latest`, each to its own repository. An app is 4 objects like
//   flux-benchmark's: a Deployment scaled to 0, a ServiceAccount, a Service, and a ConfigMap
//   (flux-benchmark's fourth object is an Ingress; a ConfigMap needs no ingress class here). The
//   manifests carry 3 variables filled by `postBuild.substitute`.
// - For each implementation, a fresh private cluster (startCluster: etcd, kube-apiserver,
//   kube-controller-manager, kube-scheduler, kwok) with Flux's CRDs from the Go modules: lading's
//   controller runs on Flux's CRDs too (that is part of what is measured). The N target
//   namespaces, a namespace `bench` for the Flux objects and a ServiceAccount `flux` in it with
//   cluster-admin (the Kustomizations impersonate it, as flux-benchmark's do) are created before
//   the controller starts.
// - The controller is started and awaited (ready). Then N OCIRepositories (interval 60m,
//   insecure, tag latest) and N Kustomizations (interval 60m, retryInterval 2m, timeout 1m,
//   prune, wait, serviceAccountName flux, targetNamespace app-<i>, 3 substitutions) are created
//   in one kubectl apply, and the clock runs from just before that apply until every
//   Kustomization is Ready=True for its generation with lastAppliedRevision equal to the pushed
//   `latest@sha256:…` (polled once a second with one kubectl get; the time all OCIRepositories
//   were first Ready on the pushed revision is printed too, as flux-benchmark reports both).
//   Afterwards (untimed) the 4N objects must exist with Flux's ownership labels, or the run fails.
// - Concurrency: Flux as in flux-benchmark (source-controller --concurrent=10,
//   kustomize-controller --concurrent=20). lading has one --concurrent for both kinds; it gets 20
//   (BENCH_CONTROLLER_LADING_CONCURRENT), so its Kustomization workers equal Flux's, which is where
//   the time goes (the health wait); its source workers are then 20 against Flux's 10 —
//   pulling N small artifacts from a loopback registry is a small part of the time.
// - Both log at info level (Flux's at info, JSON; lading's at info, JSON).
// - Memory: peak RSS (VmHWM of /proc/<pid>/status, read just before the stop; the kernel keeps
//   the peak, the periodic samples only catch a process that died). Flux's figure is the sum of
//   its two processes' peaks (as the published table lists them side by side). CPU: utime+stime
//   of /proc/<pid>/stat during the timed window, and in total from the start of the process.
// - N from BENCH_CONTROLLER_N (default 100; a comma list runs several sizes, e.g. "20,100").
//   BENCH_CONTROLLER_ROUNDS (default 1) repeats each size with the order of the two implementations
//   alternated (round 1 lading first, round 2 Flux first, …). One row per run, plus the ratio.
// - Not the same as flux-benchmark: processes on a shared 2-core machine, not pods on a 16-core
//   runner; kwok nodes; no CPU/memory limits, no GOMEMLIMIT; /tmp is whatever the machine has.
//   The load average is printed before and after; on a loaded machine the numbers are indicative.
// No assertions: the table is the result. A run that does not converge within its bound fails
// the benchmark with the not-ready objects and the controllers' last log lines.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLadingController } from '../test/controller/controller-process.js';
import { startCluster, type RunningCluster } from '../test/env/cluster.js';
import { FLUX_CONTROLLER_VERSION, installFluxCrds, startFluxControllers } from '../test/env/flux-controllers.js';
import { memoryOf, run, sleep, tailFile } from '../test/env/process.js';
import { startRegistry, type RunningRegistry } from '../test/env/registry.js';
import { toolPath } from '../test/env/tools.js';

const SIZES = (process.env['BENCH_CONTROLLER_N'] ?? '100')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const ROUNDS = Math.max(1, Number(process.env['BENCH_CONTROLLER_ROUNDS'] ?? 1));
const LADING_CONCURRENT = Number(process.env['BENCH_CONTROLLER_LADING_CONCURRENT'] ?? 20);
const FLUX_SOURCE_CONCURRENT = 10;
const FLUX_KUSTOMIZE_CONCURRENT = 20;
const NS = 'bench';
const CLK_TCK = 100; // Linux USER_HZ

type Impl = 'lading' | 'flux';

interface RunResult {
  impl: Impl;
  n: number;
  /** Creation → every Kustomization Ready on the pushed revision. */
  ms: number;
  /** Creation → every OCIRepository Ready on the pushed revision. */
  sourcesMs: number;
  /** Peak RSS per process, bytes. */
  peaks: Array<{ name: string; peak: number }>;
  /** CPU seconds in the timed window / since the process started, summed over processes. */
  cpuWindow: number;
  cpuTotal: number;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface FluxObject {
  kind: string;
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[]; artifact?: { revision?: string }; lastAppliedRevision?: string };
}

function loadLine(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/** utime+stime of a process in seconds, from /proc/<pid>/stat (undefined once it is gone). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function appFiles(i: number): Record<string, string> {
  const app = `app-${i}`;
  return {
    'serviceaccount.yaml': `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${app}\n  labels:\n    app: ${app}\n    team: \${team}\n`,
    'configmap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${app}\n  labels:\n    app: ${app}\ndata:\n  app: ${app}\n  team: \${team}\n  environment: \${environment}\n  version: \${version}\n`,
    'service.yaml':
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${app}\n  labels:\n    app: ${app}\nspec:\n  selector:\n    app: ${app}\n  ports:\n` +
      `    - name: http\n      port: 80\n      targetPort: http\n`,
    'deployment.yaml':
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${app}\n  labels:\n    app: ${app}\n    version: \${version}\nspec:\n  replicas: 0\n` +
      `  selector:\n    matchLabels:\n      app: ${app}\n  template:\n    metadata:\n      labels:\n        app: ${app}\n    spec:\n      serviceAccountName: ${app}\n` +
      `      containers:\n        - name: app\n          image: registry.example/podinfo:6.7.0\n          ports:\n            - name: http\n              containerPort: 9898\n`,
  };
}

/** Pushes app-0 … app-(n-1) with `flux push artifact`, a few at a time; returns each app's `latest@sha256:…`. */
async function pushApps(registry: RunningRegistry, n: number, dir: string): Promise<string[]> {
  const flux = toolPath('flux');
  const revisions: string[] = new Array<string>(n).fill('');
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const path = join(dir, 'apps', `app-${i}`);
      mkdirSync(path, { recursive: true });
      for (const [file, text] of Object.entries(appFiles(i))) writeFileSync(join(path, file), text);
      const out = await run(
        flux,
        [
          'push',
          'artifact',
          `oci://${registry.host}/apps/app-${i}:latest`,
          `--path=${path}`,
          '--source=https://example.invalid/lading/bench',
          `--revision=main@sha1:${'a'.repeat(40)}`,
          '--insecure-registry',
          '--output',
          'json',
        ],
        { env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker'), HOME: dir } },
      );
      revisions[i] = `latest@${(JSON.parse(out.stdout) as { digest: string }).digest}`;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return revisions;
}

function kubectl(cluster: RunningCluster, args: string[], input?: string): Promise<string> {
  return run('kubectl', ['--kubeconfig', cluster.kubeconfig, ...args], { timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) }).then((r) => r.stdout);
}

/** Namespaces, the impersonated ServiceAccount and its binding: before the controller starts. */
async function prepareCluster(cluster: RunningCluster, n: number): Promise<void> {
  const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }];
  for (let i = 0; i < n; i++) items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `app-${i}` } });
  items.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'flux', namespace: NS } });
  items.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'bench-flux' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ kind: 'ServiceAccount', name: 'flux', namespace: NS }],
  });
  await kubectl(cluster, ['apply', '--server-side', '--field-manager=lading-bench', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
}

function fluxObjects(registry: RunningRegistry, n: number): string {
  const items: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const app = `app-${i}`;
    items.push({
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'OCIRepository',
      metadata: { name: app, namespace: NS },
      spec: { interval: '60m', url: `oci://${registry.host}/apps/${app}`, ref: { tag: 'latest' }, insecure: true },
    });
    items.push({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: app, namespace: NS },
      spec: {
        interval: '60m',
        retryInterval: '2m',
        timeout: '1m',
        prune: true,
        wait: true,
        serviceAccountName: 'flux',
        sourceRef: { kind: 'OCIRepository', name: app },
        path: './',
        targetNamespace: app,
        postBuild: { substitute: { team: 'bench', environment: 'production', version: '1.0.0' } },
      },
    });
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

function readyOn(o: FluxObject, revision: string | undefined): boolean {
  const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True' || o.status?.observedGeneration !== o.metadata.generation) return false;
  const got = o.kind === 'Kustomization' ? o.status?.lastAppliedRevision : o.status?.artifact?.revision;
  return got === revision;
}

/** Creates the objects and polls until every Kustomization is Ready on its pushed revision. */
async function measure(
  cluster: RunningCluster,
  registry: RunningRegistry,
  revisions: string[],
  pids: Array<{ name: string; pid: number }>,
  logs: () => string,
): Promise<{ ms: number; sourcesMs: number; cpuWindow: number }> {
  const n = revisions.length;
  const expected = new Map(revisions.map((r, i) => [`app-${i}`, r]));
  const objects = fluxObjects(registry, n);
  const bound = Math.max(300_000, n * 5_000);
  const cpu0 = pids.map((p) => cpuSeconds(p.pid) ?? 0);
  const t0 = performance.now();
  await kubectl(cluster, ['apply', '--server-side', '--field-manager=lading-bench', '-f', '-'], objects);
  let sourcesMs: number | undefined;
  let last: FluxObject[] = [];
  for (;;) {
    const list = JSON.parse(await kubectl(cluster, ['get', 'ocirepositories.source.toolkit.fluxcd.io,kustomizations.kustomize.toolkit.fluxcd.io', '-n', NS, '-o', 'json'])) as {
      items: FluxObject[];
    };
    const now = performance.now() - t0;
    last = list.items;
    const sources = list.items.filter((o) => o.kind === 'OCIRepository');
    const kss = list.items.filter((o) => o.kind === 'Kustomization');
    if (sourcesMs === undefined && sources.length === n && sources.every((o) => readyOn(o, expected.get(o.metadata.name)))) sourcesMs = now;
    if (kss.length === n && kss.every((o) => readyOn(o, expected.get(o.metadata.name)))) {
      const cpuWindow = pids.reduce((sum, p, k) => sum + ((cpuSeconds(p.pid) ?? 0) - (cpu0[k] ?? 0)), 0);
      // Untimed: every app's 4 objects exist, labelled as applied by a Kustomization in NS.
      const applied = (
        await kubectl(cluster, ['get', 'deployments,serviceaccounts,services,configmaps', '-A', '-l', `kustomize.toolkit.fluxcd.io/namespace=${NS}`, '-o', 'name'])
      )
        .split('\n')
        .filter((l) => l.trim() !== '').length;
      if (applied !== 4 * n) throw new Error(`all ${n} Kustomizations Ready but ${applied} objects applied, expected ${4 * n}\n${logs()}`);
      return { ms: now, sourcesMs: sourcesMs ?? now, cpuWindow };
    }
    for (const p of pids) {
      if (memoryOf(p.pid) === undefined) throw new Error(`${p.name} (pid ${p.pid}) exited during the run\n${logs()}`);
    }
    if (now > bound) {
      const notReady = last
        .filter((o) => !readyOn(o, expected.get(o.metadata.name)))
        .slice(0, 5)
        .map((o) => `${o.kind}/${o.metadata.name}: ${JSON.stringify(o.status?.conditions?.find((c) => c.type === 'Ready') ?? 'no Ready condition')}`);
      throw new Error(`not all ${n} Kustomizations Ready within ${bound / 1000} s; e.g.\n${notReady.join('\n')}\n${logs()}`);
    }
    await sleep(1_000);
  }
}

async function runLading(registry: RunningRegistry, revisions: string[]): Promise<RunResult> {
  const n = revisions.length;
  const cluster = await startCluster({ nodes: 1 });
  try {
    await installFluxCrds(cluster.kubeconfig);
    await prepareCluster(cluster, n);
    const controller = await startLadingController({
      kubeconfig: cluster.kubeconfig,
      args: [`--concurrent=${LADING_CONCURRENT}`, '--log-level=info', '--log-encoding=json'],
    });
    try {
      const pids = [{ name: 'lading controller', pid: controller.pid }];
      const m = await measure(cluster, registry, revisions, pids, () => `--- lading controller ---\n${tailFile(controller.logFile, 30)}`);
      const peak = memoryOf(controller.pid)?.peak ?? 0;
      const cpuTotal = cpuSeconds(controller.pid) ?? 0;
      return { impl: 'lading', n, ...m, peaks: [{ name: 'lading-controller', peak }], cpuTotal };
    } finally {
      await controller.stop();
    }
  } finally {
    await cluster.stop();
  }
}

async function runFlux(registry: RunningRegistry, revisions: string[]): Promise<RunResult> {
  const n = revisions.length;
  const cluster = await startCluster({ nodes: 1 });
  try {
    await installFluxCrds(cluster.kubeconfig);
    await prepareCluster(cluster, n);
    const flux = await startFluxControllers({
      kubeconfig: cluster.kubeconfig,
      installCrds: false,
      logLevel: 'info',
      args: { source: [`--concurrent=${FLUX_SOURCE_CONCURRENT}`], kustomize: [`--concurrent=${FLUX_KUSTOMIZE_CONCURRENT}`] },
    });
    try {
      const pids = flux.controllers.map((c) => ({ name: `${c.name}-controller`, pid: c.pid }));
      const m = await measure(cluster, registry, revisions, pids, () =>
        flux.controllers.map((c) => `--- ${c.name}-controller ---\n${tailFile(c.logFile, 30)}`).join('\n'),
      );
      const peaks = pids.map((p) => ({ name: p.name, peak: memoryOf(p.pid)?.peak ?? 0 }));
      const cpuTotal = pids.reduce((sum, p) => sum + (cpuSeconds(p.pid) ?? 0), 0);
      return { impl: 'flux', n, ...m, peaks, cpuTotal };
    } finally {
      await flux.stop();
    }
  } finally {
    await cluster.stop();
  }
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function row(r: RunResult): string {
  const total = r.peaks.reduce((s, p) => s + p.peak, 0);
  const parts = r.peaks.length > 1 ? ` (${r.peaks.map((p) => `${p.name} ${mib(p.peak)}`).join(' + ')})` : '';
  return (
    `  ${r.impl.padEnd(6)} N=${String(r.n).padEnd(5)} all Ready ${secs(r.ms).padStart(8)} (sources ${secs(r.sourcesMs)}), ` +
    `peak RSS ${mib(total)}${parts}, CPU ${r.cpuWindow.toFixed(1)} s in the window, ${r.cpuTotal.toFixed(1)} s since start`
  );
}

export default async function bench(): Promise<void> {
  if (SIZES.length === 0) throw new Error(`BENCH_CONTROLLER_N=${process.env['BENCH_CONTROLLER_N'] ?? ''}: expected positive integers, comma-separated`);
  const dir = mkdtempSync(join(tmpdir(), 'lading-bench-controller-'));
  const registry = await startRegistry();
  const results: RunResult[] = [];
  try {
    process.stdout.write(
      `MTTP: N OCIRepository + Kustomization pairs (4 objects each, wait, prune, impersonation, 3 substitutions) created at once → all Ready; ` +
        `Flux ${FLUX_CONTROLLER_VERSION} (source --concurrent=${FLUX_SOURCE_CONCURRENT}, kustomize --concurrent=${FLUX_KUSTOMIZE_CONCURRENT}) vs lading controller ` +
        `(--concurrent=${LADING_CONCURRENT}); a fresh cluster per run; ${loadLine()}\n`,
    );
    const maxN = Math.max(...SIZES);
    const started = performance.now();
    const revisions = await pushApps(registry, maxN, dir);
    process.stdout.write(`pushed ${maxN} apps with the flux CLI in ${secs(performance.now() - started)}\n`);
    let round = 0;
    for (const n of SIZES) {
      for (let r = 0; r < ROUNDS; r++, round++) {
        const order: Impl[] = round % 2 === 0 ? ['lading', 'flux'] : ['flux', 'lading'];
        const pair: Partial<Record<Impl, RunResult>> = {};
        for (const impl of order) {
          process.stdout.write(`run N=${n} ${impl} (${loadLine()})\n`);
          const res = impl === 'lading' ? await runLading(registry, revisions.slice(0, n)) : await runFlux(registry, revisions.slice(0, n));
          pair[impl] = res;
          results.push(res);
          process.stdout.write(`${row(res)}\n`);
        }
        const l = pair.lading;
        const f = pair.flux;
        if (l !== undefined && f !== undefined) {
          const lPeak = l.peaks.reduce((s, p) => s + p.peak, 0);
          const fPeak = f.peaks.reduce((s, p) => s + p.peak, 0);
          process.stdout.write(
            `N=${n}: lading ${secs(l.ms)}, Flux ${secs(f.ms)} → time ratio ${(l.ms / f.ms).toFixed(2)}× (goal ≤ 0.50×${l.ms / f.ms <= 0.5 ? ', met' : ', NOT met'}); ` +
              `peak RSS lading ${mib(lPeak)} vs Flux ${mib(fPeak)} (${(lPeak / fPeak).toFixed(2)}×); ` +
              `CPU in the window lading ${l.cpuWindow.toFixed(1)} s vs Flux ${f.cpuWindow.toFixed(1)} s (${(l.cpuWindow / f.cpuWindow).toFixed(2)}×)\n`,
          );
        }
      }
    }
    process.stdout.write(`\n| N | lading | Flux | ratio | lading peak RSS | Flux peak RSS (source + kustomize) | lading CPU | Flux CPU |\n|---|---|---|---|---|---|---|---|\n`);
    for (let k = 0; k + 1 < results.length; k += 2) {
      const a = results[k] as RunResult;
      const b = results[k + 1] as RunResult;
      const l = a.impl === 'lading' ? a : b;
      const f = a.impl === 'lading' ? b : a;
      const fPeak = f.peaks.reduce((s, p) => s + p.peak, 0);
      process.stdout.write(
        `| ${l.n} | ${secs(l.ms)} | ${secs(f.ms)} | ${(l.ms / f.ms).toFixed(2)}× | ${mib(l.peaks[0]?.peak ?? 0)} | ${mib(fPeak)} (${f.peaks.map((p) => mib(p.peak)).join(' + ')}) | ` +
          `${l.cpuWindow.toFixed(1)} s | ${f.cpuWindow.toFixed(1)} s |\n`,
      );
    }
    process.stdout.write(`${loadLine()}\n`);
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
