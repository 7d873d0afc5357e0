// `lading apply inventory` vs `kubectl apply --server-side` on the same control plane in the same
// run: 1,000 objects (ConfigMaps, Services, Deployments) over 10 namespaces; first apply,
// unchanged re-apply, then prune of half. Each tool gets its own 10 namespaces (created before
// timing) so that both do the same work. Whole processes are timed (Node and kubectl start-up
// included); peak RSS comes from /usr/bin/time. Goals: first apply ≤ 0.2×, unchanged re-apply
// ≤ 0.15×.
//
// Before the applies, on the still empty cluster: the start-up of a kube command, `lading get
// inventories` (read the kubeconfig, connect, one list request), median of interleaved runs,
// with kubectl's `get` of the same ConfigMaps for reference. Goal: under 300 ms.
//
// kubectl cannot prune server-side applied objects with the label-selector prune, and its
// ApplySet prune (KUBECTL_APPLYSET=true, --applyset) needs a namespaced parent and refuses
// objects outside its -n namespace; so kubectl runs once per namespace with one ApplySet
// (ConfigMap parent) per namespace, in all three phases, and its time is the sum.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { startCluster } from '../test/env/cluster.js';

const NAMESPACES = 10;
const PER_NAMESPACE = 100; // 34 ConfigMaps, 33 Services, 33 Deployments
const repoRoot = resolve(import.meta.dirname, '..');
// LADING_MAIN lets a developer point at another build of the CLI.
// the CLI as installed: package.json's bin (the bundled launcher)
const ladingMain = process.env['LADING_MAIN'] ?? join(repoRoot, (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

interface Timed {
  ms: number;
  peakRssKiB: number;
  stdout: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile('/usr/bin/time', ['-f', 'LADING_BENCH_RSS=%M', cmd, ...args], { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr).slice(-3000)}`));
        return;
      }
      const rss = /LADING_BENCH_RSS=(\d+)/.exec(String(stderr));
      resolvePromise({ ms, peakRssKiB: Number(rss?.[1] ?? 0), stdout: String(stdout) });
    });
  });
}

const STARTUP_RUNS = 9;
const STARTUP_GOAL_MS = 300;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/**
 * `lading get inventories` on an empty cluster vs kubectl's get of the same ConfigMaps, with
 * Node's own start-up (`node -e 0`) and `lading --version` beside them to show where the time
 * goes: medians of interleaved runs after one warm-up each.
 */
async function startUp(env: NodeJS.ProcessEnv): Promise<void> {
  const commands: Array<{ name: string; file: string; args: string[] }> = [
    { name: 'lading get inventories', file: process.execPath, args: [ladingMain, 'get', 'inventories', '-n', 'default'] },
    { name: 'kubectl get configmaps', file: 'kubectl', args: ['get', 'configmaps', '-n', 'default', '-l', 'app.kubernetes.io/managed-by=lading,app.kubernetes.io/component=inventory'] },
    { name: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
    { name: 'lading --version', file: process.execPath, args: [ladingMain, '--version'] },
  ];
  const times = commands.map((): number[] => []);
  for (const c of commands) await timed(c.file, c.args, env);
  for (let i = 0; i < STARTUP_RUNS; i++) {
    for (const [n, c] of commands.entries()) times[n]?.push((await timed(c.file, c.args, env)).ms);
  }
  const [lading, kubectl, node, version] = times.map(median) as [number, number, number, number];
  process.stdout.write(
    `start-up of a kube command on an empty cluster (median of ${STARTUP_RUNS}): lading get inventories ${lading.toFixed(0)} ms ` +
      `(goal < ${STARTUP_GOAL_MS} ms${lading < STARTUP_GOAL_MS ? ', met' : ', NOT met'}), kubectl get configmaps ${kubectl.toFixed(0)} ms (reference) → ratio ${(lading / kubectl).toFixed(2)}×; ` +
      `node -e 0 ${node.toFixed(0)} ms, lading --version ${version.toFixed(0)} ms\n`,
  );
}

function objects(prefix: string, tool: string, count: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `${prefix}-${n}`;
    for (let i = 0; i < count; i++) {
      const name = `obj-${i}`;
      const labels = { bench: tool, app: name };
      if (i % 3 === 0) out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data: { index: String(i), payload: 'x'.repeat(200) } });
      else if (i % 3 === 1) out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
      else
        out.push({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, namespace: ns, labels },
          // No replicas: the benchmark measures the apply engines, not the scheduler.
          spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1.0.0', ports: [{ containerPort: 8080 }] }] } } },
        });
    }
  }
  return out;
}

function writeSet(file: string, objs: Record<string, unknown>[]): void {
  writeFileSync(file, objs.map((o) => stringify(o)).join('---\n'));
}

export default async function bench(): Promise<void> {
  if (!existsSync(ladingMain)) throw new Error(`${ladingMain} is missing: run \`npm run build\` first (npm run bench does)`);
  const cluster = await startCluster({ nodes: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'lading-bench-apply-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: cluster.kubeconfig };
  try {
    const ladingFull = join(dir, 'lading-full.yaml');
    const ladingHalf = join(dir, 'lading-half.yaml');
    writeSet(ladingFull, objects('bench-lading', 'lading', PER_NAMESPACE));
    writeSet(ladingHalf, objects('bench-lading', 'lading', PER_NAMESPACE / 2));
    const kubectlFull: string[] = [];
    const kubectlHalf: string[] = [];
    const all = objects('bench-kubectl', 'kubectl', PER_NAMESPACE);
    const half = objects('bench-kubectl', 'kubectl', PER_NAMESPACE / 2);
    for (let n = 0; n < NAMESPACES; n++) {
      const inNs = (o: Record<string, unknown>): boolean => (o['metadata'] as { namespace: string }).namespace === `bench-kubectl-${n}`;
      kubectlFull.push(join(dir, `kubectl-full-${n}.yaml`));
      kubectlHalf.push(join(dir, `kubectl-half-${n}.yaml`));
      writeSet(kubectlFull[n] as string, all.filter(inNs));
      writeSet(kubectlHalf[n] as string, half.filter(inNs));
    }
    for (const tool of ['lading', 'kubectl']) {
      for (let n = 0; n < NAMESPACES; n++) await timed('kubectl', ['create', 'namespace', `bench-${tool}-${n}`], env);
    }
    const ladingApply = (file: string, prune: boolean): string[] => [ladingMain, 'apply', 'inventory', 'bench', '-n', 'default', '-f', file, ...(prune ? ['--prune'] : [])];
    const kubectlApply = (files: string[]): string[][] =>
      files.map((f, n) => ['apply', '--server-side', '-n', `bench-kubectl-${n}`, '--prune', '--applyset=configmaps/bench', '-f', f]);
    const phases: Array<{ name: string; lading: string[]; kubectl: string[][]; goal?: number }> = [
      { name: 'first apply', lading: ladingApply(ladingFull, true), kubectl: kubectlApply(kubectlFull), goal: 0.2 },
      { name: 'unchanged re-apply', lading: ladingApply(ladingFull, true), kubectl: kubectlApply(kubectlFull), goal: 0.15 },
      { name: 'prune of half', lading: ladingApply(ladingHalf, true), kubectl: kubectlApply(kubectlHalf) },
    ];
    await startUp(env);
    const total = NAMESPACES * PER_NAMESPACE;
    process.stdout.write(`apply ${total} objects (ConfigMaps, Services, Deployments) over ${NAMESPACES} namespaces, whole processes, one run each\n`);
    for (const phase of phases) {
      const l = await timed(process.execPath, phase.lading, env);
      const k: Timed = { ms: 0, peakRssKiB: 0, stdout: '' };
      for (const args of phase.kubectl) {
        const r = await timed('kubectl', args, { ...env, KUBECTL_APPLYSET: 'true' });
        k.ms += r.ms;
        k.peakRssKiB = Math.max(k.peakRssKiB, r.peakRssKiB);
        k.stdout += r.stdout;
      }
      const ratio = l.ms / k.ms;
      const lCount = l.stdout.split('\n').filter((s) => s.trim() !== '').length;
      const kCount = k.stdout.split('\n').filter((s) => s.trim() !== '').length;
      process.stdout.write(
        `${phase.name.padEnd(19)} lading ${l.ms.toFixed(0).padStart(6)} ms (peak RSS ${(l.peakRssKiB / 1024).toFixed(0)} MiB, ${lCount} lines), ` +
          `kubectl ${k.ms.toFixed(0).padStart(6)} ms (${phase.kubectl.length} processes, peak RSS ${(k.peakRssKiB / 1024).toFixed(0)} MiB, ${kCount} lines) → ratio ${ratio.toFixed(2)}×` +
          `${phase.goal !== undefined ? ` (goal ≤ ${phase.goal.toFixed(2)}×${ratio <= phase.goal ? ', met' : ', NOT met'})` : ''}\n`,
      );
    }
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
