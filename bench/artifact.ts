// Push + pull of a config artifact of 500 YAML files: `lading push/pull artifact` vs
// `flux push/pull artifact` on the same tree, against the same local registry, in the same run,
// whole processes (Node start-up included). Each run pushes to a fresh repository so neither tool
// finds blobs already there. Prints medians, the lading/flux ratios and peak RSS.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pullArtifact, pushArtifact } from '../src/artifact/index.js';
import { startRegistry } from '../test/env/registry.js';
import { toolPath } from '../test/env/tools.js';
import { median } from './helpers.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const FILES = 500;
const repoRoot = resolve(import.meta.dirname, '..');
// The CLI as installed: package.json's bin. LADING_MAIN runs another build of it (e.g. a private
// out dir while others rebuild dist/).
const ladingMain = process.env['LADING_MAIN'] ?? join(repoRoot, (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

interface Sample {
  ms: number;
  /** User + system CPU time of the process (all threads), ms: less sensitive to a busy machine than wall time. */
  cpuMs: number;
  maxRssKiB: number;
}

/** Runs a process under /usr/bin/time for its peak RSS; wall time measured here. */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile('/usr/bin/time', ['-f', 'maxrss=%M cpu=%U+%S', cmd, ...args], { env, maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr)}`));
        return;
      }
      const m = /maxrss=(\d+) cpu=([\d.]+)\+([\d.]+)/.exec(String(stderr));
      resolvePromise({ ms, maxRssKiB: m ? Number(m[1]) : NaN, cpuMs: m ? (Number(m[2]) + Number(m[3])) * 1000 : NaN });
    });
  });
}

/** 500 YAML files of realistic size (Deployments, Services, ConfigMaps) in 50 directories. */
function writeTree(root: string): number {
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `app-${String(Math.floor(i / 10)).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    const name = `svc-${i}`;
    const kind = i % 3;
    const doc =
      kind === 0
        ? `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: bench\n  labels:\n    app: ${name}\nspec:\n  replicas: ${1 + (i % 4)}\n  selector:\n    matchLabels:\n      app: ${name}\n  template:\n    metadata:\n      labels:\n        app: ${name}\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/example/${name}:1.${i}.0\n          ports:\n            - containerPort: 8080\n          resources:\n            requests:\n              cpu: 100m\n              memory: 64Mi\n          env:\n${Array.from({ length: 20 }, (_, k) => `            - name: VAR_${k}\n              value: "value-${i}-${k}"\n`).join('')}`
        : kind === 1
          ? `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: bench\nspec:\n  selector:\n    app: ${name}\n  ports:\n    - port: 80\n      targetPort: 8080\n`
          : `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: bench\ndata:\n${Array.from({ length: 40 }, (_, k) => `  key-${k}: "${'x'.repeat(30)}-${i}-${k}"\n`).join('')}`;
    writeFileSync(join(dir, `${name}.yaml`), doc);
    bytes += doc.length;
  }
  return bytes;
}

export default async function bench(): Promise<void> {
  if (!existsSync(ladingMain)) throw new Error(`${ladingMain} is missing: run \`npm run build\` first (npm run bench does)`);
  const flux = toolPath('flux');
  const registry = await startRegistry({ flavor: 'distribution2' });
  const work = mkdtempSync(join(tmpdir(), 'lading-bench-artifact-'));
  try {
    const src = join(work, 'src');
    const bytes = writeTree(src);
    mkdirSync(join(work, '.docker'));
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work, DOCKER_CONFIG: join(work, '.docker') };
    const url = (tool: string, i: number) => `oci://${registry.host}/bench-${tool}-${i}:1.0.0`;
    const ladingPush = (i: number) => [ladingMain, 'push', 'artifact', url('lading', i), '--path', src, '--source', 'bench', '--revision', 'r1'];
    const fluxPush = (i: number) => ['push', 'artifact', url('flux', i), '--path', src, '--source', 'bench', '--revision', 'r1', '--insecure-registry'];
    const out = (tool: string, i: number) => {
      const d = join(work, `out-${tool}-${i}`);
      mkdirSync(d); // flux requires the output directory to exist; lading accepts an empty one
      return d;
    };
    const ladingPull = (i: number) => [ladingMain, 'pull', 'artifact', url('lading', i), '--output', out('lading', i)];
    const fluxPull = (i: number) => ['pull', 'artifact', url('flux', i), '--output', out('flux', i), '--insecure-registry'];

    // Warm-up (file cache, registry, both binaries) on run -1.
    await measure(process.execPath, ladingPush(-1), env);
    await measure(flux, fluxPush(-1), env);
    await measure(process.execPath, ladingPull(-1), env);
    await measure(flux, fluxPull(-1), env);

    const s = { ladingPush: [] as Sample[], fluxPush: [] as Sample[], ladingPull: [] as Sample[], fluxPull: [] as Sample[] };
    for (let i = 0; i < RUNS; i++) {
      s.ladingPush.push(await measure(process.execPath, ladingPush(i), env));
      s.fluxPush.push(await measure(flux, fluxPush(i), env));
      s.ladingPull.push(await measure(process.execPath, ladingPull(i), env));
      s.fluxPull.push(await measure(flux, fluxPull(i), env));
    }
    const ms = (xs: Sample[]) => median(xs.map((x) => x.ms));
    const cpu = (xs: Sample[]) => median(xs.map((x) => x.cpuMs));
    const rss = (xs: Sample[]) => Math.max(...xs.map((x) => x.maxRssKiB)) / 1024;
    const startup = await measure(process.execPath, [ladingMain, '--version'], env);
    process.stdout.write(`lading start-up alone (--version): ${startup.ms.toFixed(0)} ms wall, ${startup.cpuMs.toFixed(0)} ms CPU\n`);
    process.stdout.write(`artifact: ${FILES} YAML files, ${(bytes / 1024).toFixed(0)} KiB, ${RUNS} runs each (medians, whole processes)\n`);
    for (const op of ['push', 'pull'] as const) {
      const l = op === 'push' ? s.ladingPush : s.ladingPull;
      const f = op === 'push' ? s.fluxPush : s.fluxPull;
      process.stdout.write(
        `${op} artifact: lading ${ms(l).toFixed(0)} ms wall, ${cpu(l).toFixed(0)} ms CPU, peak RSS ${rss(l).toFixed(0)} MiB; ` +
          `flux ${ms(f).toFixed(0)} ms wall, ${cpu(f).toFixed(0)} ms CPU, peak RSS ${rss(f).toFixed(0)} MiB → wall ratio ${(ms(l) / ms(f)).toFixed(2)}×, CPU ratio ${(cpu(l) / cpu(f)).toFixed(2)}×\n`,
      );
    }
    // The same work through the library in this (warm) process: what an embedding program pays,
    // and how much of the CLI's time is Node start-up and cold code.
    const inProcess: Array<{ push: number; pull: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      let t = process.hrtime.bigint();
      await pushArtifact({ url: url('lib', i), path: src, source: 'bench', revision: 'r1' });
      const push = Number(process.hrtime.bigint() - t) / 1e6;
      t = process.hrtime.bigint();
      await pullArtifact({ url: url('lib', i), output: join(work, `out-lib-${i}`) });
      inProcess.push({ push, pull: Number(process.hrtime.bigint() - t) / 1e6 });
    }
    const libPush = median(inProcess.map((x) => x.push));
    const libPull = median(inProcess.map((x) => x.pull));
    process.stdout.write(
      `library in-process (warm): push ${libPush.toFixed(0)} ms, pull ${libPull.toFixed(0)} ms → vs flux CLI: push ${(libPush / ms(s.fluxPush)).toFixed(2)}×, pull ${(libPull / ms(s.fluxPull)).toFixed(2)}×\n`,
    );
    const total = (xs: Sample[], ys: Sample[]) => ms(xs) + ms(ys);
    process.stdout.write(`push+pull: lading ${total(s.ladingPush, s.ladingPull).toFixed(0)} ms, flux ${total(s.fluxPush, s.fluxPull).toFixed(0)} ms → ratio ${(total(s.ladingPush, s.ladingPull) / total(s.fluxPush, s.fluxPull)).toFixed(2)}×\n`);
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
