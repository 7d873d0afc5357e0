// What the start-up benchmarks (bench/startup.ts, bench/verify.ts) share: timing whole processes,
// each command run in turn, interleaved, so that a change in the machine's load hits them all
// alike; and a small image to work on. copy.ts and artifact.ts take its median.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { descriptorFor, MediaTypes, openRepository, pushManifest, type ImageManifest, type RegistryOptions } from '../src/oci/index.js';

/** How many timed rounds (BENCH_RUNS, default 21). */
export const RUNS = Number(process.env['BENCH_RUNS'] ?? 21);

/** A command to time: file, arguments, environment. */
export type Timed = readonly [file: string, args: string[], env: NodeJS.ProcessEnv];

const repoRoot = resolve(import.meta.dirname, '..');
/**
 * The CLI as installed: package.json's bin (the esbuild bundle); LADING_BIN runs another build of
 * it (e.g. a private out dir while others rebuild dist/).
 */
export const ladingBin = process.env['LADING_BIN'] ?? join(repoRoot, (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

/** Fails the benchmark unless the CLI has been built. */
export function requireLadingBin(): void {
  if (!existsSync(ladingBin)) throw new Error(`${ladingBin} is missing: run \`npm run build\` first (npm run bench does)`);
}

/**
 * The minimal environment the timed commands run in (PATH with this Node first; HOME, the docker
 * config and cosign's TUF root inside `dir`), and the lading command to time with it.
 */
export function benchEnv(dir: string): { env: NodeJS.ProcessEnv; lading: (args: string[]) => Timed } {
  const env: NodeJS.ProcessEnv = { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: dir, DOCKER_CONFIG: join(dir, '.docker'), TUF_ROOT: join(dir, '.sigstore') };
  return { env, lading: (args) => [process.execPath, [ladingBin, ...args], env] };
}

/** Wall time of one run of `cmd` in ms; a failing run fails the benchmark with its stderr. */
export function timeProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr)}`));
      else resolvePromise(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function loadLine(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/**
 * Runs each command once (warm-up: file cache, registry, the binaries), then RUNS rounds with
 * one run of each, in turn. Returns each command's median in ms.
 */
export async function interleavedMedians<T extends { [name: string]: Timed }>(commands: T): Promise<{ [P in keyof T]: number }> {
  const entries = Object.entries(commands);
  for (const [, [file, args, env]] of entries) await timeProcess(file, args, env);
  const times = entries.map((): number[] => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [n, [, [file, args, env]]] of entries.entries()) times[n]?.push(await timeProcess(file, args, env));
  }
  return Object.fromEntries(entries.map(([name], n) => [name, median(times[n] ?? [])])) as { [P in keyof T]: number };
}

/** Pushes a one-layer image (1 KiB of random bytes) as `host/name:1.0.0` and returns that reference. */
export async function pushSmallImage(host: string, name: string, registry: RegistryOptions = {}): Promise<string> {
  const storage = openRepository(`${host}/${name}`, registry);
  const layer = randomBytes(1024);
  const layerDesc = descriptorFor(MediaTypes.ociLayer, layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDesc.digest] } }));
  const configDesc = descriptorFor(MediaTypes.ociConfig, config);
  await storage.push(layerDesc, layer);
  await storage.push(configDesc, config);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: [layerDesc] };
  await pushManifest(storage, manifest, { tag: '1.0.0' });
  return `${host}/${name}:1.0.0`;
}
