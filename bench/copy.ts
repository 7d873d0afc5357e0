// Copy of a ~200 MiB image with several layers between two local registries (distribution 2.8):
// `lading copy` vs `skopeo copy` and `crane copy` (go-containerregistry, built by the test
// environment), whole processes, in the same run. Each round copies into a freshly started
// destination registry so no tool finds blobs already there (skopeo would otherwise mount blobs
// it remembers from earlier rounds). Prints wall times, the ratios lading/skopeo and lading/crane
// (goals: ≤ 0.8× and ≤ 1.0×) and the peak RSS of each tool (lading's goal: < 150 MiB). A fourth
// run per round does the same copy through the library in a bare Node process, to separate the
// copy engine from the CLI's start-up.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaTypes, descriptorFor, openRepository, pushManifest, type Descriptor } from '../src/oci/index.js';
import { startRegistry } from '../test/env/registry.js';
import { toolPath } from '../test/env/tools.js';
import { median } from './helpers.js';

const ROUNDS = Number(process.env['BENCH_RUNS'] ?? 3);
const LAYERS = 5;
const LAYER_MIB = 40;
// LADING_ROOT: run the CLI and the library of another built checkout (e.g. an older commit, for a
// before/after comparison); the registries and the image come from this one.
const repoRoot = resolve(process.env['LADING_ROOT'] ?? resolve(import.meta.dirname, '..'));
// the CLI as installed: package.json's bin
const ladingMain = join(repoRoot, (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

type Tool = 'lading' | 'skopeo' | 'crane' | 'library';

interface Sample {
  ms: number;
  maxRssKiB: number;
  /** user + system CPU seconds: less sensitive than wall time to a busy machine. */
  cpuS: number;
  /** The library run only: CPU seconds of the copy() call itself, without Node's and the modules' start-up. */
  copyCpuS?: number;
}

function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample & { stdout: string }> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile('/usr/bin/time', ['-f', 'maxrss=%M cpu=%U+%S', cmd, ...args], { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr)}`));
        return;
      }
      const m = /maxrss=(\d+) cpu=([\d.]+)\+([\d.]+)/.exec(String(stderr));
      resolvePromise({ ms, maxRssKiB: m ? Number(m[1]) : NaN, cpuS: m ? Number(m[2]) + Number(m[3]) : NaN, stdout: String(stdout) });
    });
  });
}

function max(values: number[]): number {
  return values.reduce((a, b) => Math.max(a, b), -Infinity);
}

/** Pushes an image of LAYERS gzip layers (incompressible content) and returns its digest. */
async function seedImage(host: string): Promise<{ digest: string; bytes: number }> {
  const repo = openRepository(`${host}/bench/app`);
  const layers: Descriptor[] = [];
  let bytes = 0;
  for (let i = 0; i < LAYERS; i++) {
    const data = gzipSync(randomBytes(LAYER_MIB * 1024 * 1024), { level: 1 });
    const desc = descriptorFor(MediaTypes.ociLayerGzip, data);
    await repo.push(desc, data);
    layers.push(desc);
    bytes += data.length;
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} }));
  const configDesc = descriptorFor(MediaTypes.ociConfig, config);
  await repo.push(configDesc, config);
  const manifest = await pushManifest(repo, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers }, { tag: 'v1' });
  repo.close();
  return { digest: manifest.digest, bytes };
}

export default async function bench(): Promise<void> {
  if (!existsSync(ladingMain)) throw new Error(`${ladingMain} is missing: run \`npm run build\` first (npm run bench does)`);
  if (!existsSync('/usr/bin/skopeo')) throw new Error('/usr/bin/skopeo is missing: `sudo apt-get install -y skopeo` (or `npm run setup`)');
  const crane = toolPath('crane');
  const work = mkdtempSync(join(tmpdir(), 'lading-bench-copy-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work, DOCKER_CONFIG: join(work, '.docker') };
  const source = await startRegistry();
  try {
    const { digest, bytes } = await seedImage(source.host);
    process.stdout.write(`image: ${LAYERS} layers, ${(bytes / 1048576).toFixed(0)} MiB, ${digest}\n`);
    const samples: Record<Tool, Sample[]> = { lading: [], skopeo: [], crane: [], library: [] };
    // The same copy through the library in a bare Node process: lading's copy engine without the
    // CLI's start-up (which loads every command module).
    const libraryScript = (dst: string) =>
      `import { copy, openRepository } from ${JSON.stringify(join(repoRoot, 'dist', 'oci', 'index.js'))};` +
      `const before = process.cpuUsage();` +
      `await copy(openRepository(${JSON.stringify(`${source.host}/bench/app`)}), 'v1', openRepository(${JSON.stringify(`${dst}/bench/app`)}), 'v1');` +
      `const used = process.cpuUsage(before); process.stdout.write(\`copy-cpu=\${(used.user + used.system) / 1e6}\\n\`);`;
    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate which tool goes first so none always gets a warmer page cache.
      const tools: Tool[] = ['lading', 'skopeo', 'crane', 'library'];
      const order = [...tools.slice((round - 1) % tools.length), ...tools.slice(0, (round - 1) % tools.length)];
      for (const tool of order) {
        const dest = await startRegistry();
        try {
          let sample: Sample;
          if (tool === 'lading') {
            sample = await measure(process.execPath, [ladingMain, 'copy', `${source.host}/bench/app:v1`, `${dest.host}/bench/app:v1`], env);
          } else if (tool === 'library') {
            const run = await measure(process.execPath, ['--input-type=module', '-e', libraryScript(dest.host)], env);
            sample = { ...run, copyCpuS: Number(/copy-cpu=([\d.]+)/.exec(run.stdout)?.[1] ?? NaN) };
          } else if (tool === 'crane') {
            sample = await measure(crane, ['copy', '--insecure', `${source.host}/bench/app:v1`, `${dest.host}/bench/app:v1`], env);
          } else {
            sample = await measure('/usr/bin/skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${source.host}/bench/app:v1`, `docker://${dest.host}/bench/app:v1`], env);
          }
          const copied = await openRepository(`${dest.host}/bench/app`).resolve('v1');
          if (copied.digest !== digest) throw new Error(`${tool} copy produced ${copied.digest}, expected ${digest}`);
          samples[tool].push(sample);
          const copyCpu = sample.copyCpuS !== undefined ? ` (copy() alone ${sample.copyCpuS.toFixed(2)} s)` : '';
          process.stdout.write(`round ${round} ${tool.padEnd(7)} ${(sample.ms / 1000).toFixed(2)} s  cpu ${sample.cpuS.toFixed(2)} s${copyCpu}  peak RSS ${(sample.maxRssKiB / 1024).toFixed(0)} MiB\n`);
        } finally {
          await dest.stop();
        }
      }
    }
    // How much of lading's time is Node starting the CLI (loading every command module).
    const startup: number[] = [];
    for (let i = 0; i < 3; i++) startup.push((await measure(process.execPath, [ladingMain, '--version'], env)).ms);
    const wall = (tool: Tool) => median(samples[tool].map((s) => s.ms));
    const cpu = (tool: Tool) => median(samples[tool].map((s) => s.cpuS)).toFixed(2);
    const rss = (tool: Tool) => (max(samples[tool].map((s) => s.maxRssKiB)) / 1024).toFixed(0);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const [lm, sm, cm, libm] = [wall('lading'), wall('skopeo'), wall('crane'), wall('library')];
    process.stdout.write(
      `copy ${(bytes / 1048576).toFixed(0)} MiB registry→registry, median of ${ROUNDS}: lading ${seconds(lm)}, skopeo ${seconds(sm)}, crane ${seconds(cm)}\n` +
        `  ratio lading/skopeo ${(lm / sm).toFixed(2)}× (goal ≤ 0.80×), lading/crane ${(lm / cm).toFixed(2)}× (goal ≤ 1.00×)\n` +
        `  peak RSS lading ${rss('lading')} MiB (goal < 150), skopeo ${rss('skopeo')} MiB, crane ${rss('crane')} MiB\n` +
        `  lading CLI start-up alone (--version) ${seconds(median(startup))}; library copy in a bare node process ${seconds(libm)}, ratio library/skopeo ${(libm / sm).toFixed(2)}×, library/crane ${(libm / cm).toFixed(2)}×, peak RSS ${rss('library')} MiB\n` +
        `  median CPU (user+sys): lading ${cpu('lading')} s, library ${cpu('library')} s (its copy() call alone ${median(samples.library.map((s) => s.copyCpuS ?? NaN)).toFixed(2)} s), skopeo ${cpu('skopeo')} s, crane ${cpu('crane')} s; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs\n`,
    );
  } finally {
    await source.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
