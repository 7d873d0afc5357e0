// Shared helpers for the signing tests: a random image pushed to a real registry, the CLI run
// in-process with captured streams, and the real cosign binary from the test environment.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCaptured, type CliRun } from '../cli/captured-io.js';
import { descriptorFor, MediaTypes, openRepository, pushManifest, type Descriptor, type ImageIndex, type ImageManifest, type RemoteRepository } from '../../src/oci/index.js';
import { generateKeyPair } from '../../src/sign/index.js';
import { afterAll } from 'vitest';
import { toolPath } from '../env/tools.js';

// Every temporary directory these helpers make is removed after the test file that made it (a
// root-level hook of the importing file: vitest gives each file its own module instance).
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'lading-sign-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function repo(host: string, name: string): RemoteRepository {
  return openRepository(`${host}/${name}`);
}

/** Pushes a small random image (one layer) and tags it; returns its manifest descriptor. */
export async function pushRandomImage(host: string, name: string, tag: string): Promise<Descriptor> {
  const storage = repo(host, name);
  const layer = randomBytes(256);
  const layerDesc = descriptorFor(MediaTypes.ociLayer, layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDesc.digest] } }));
  const configDesc = descriptorFor(MediaTypes.ociConfig, config);
  await storage.push(layerDesc, layer);
  await storage.push(configDesc, config);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: [layerDesc] };
  return pushManifest(storage, manifest, { tag });
}

/** Pushes an index of two random images; returns the index and its children. */
export async function pushRandomIndex(host: string, name: string, tag: string): Promise<{ index: Descriptor; children: Descriptor[] }> {
  const children = [await pushRandomImage(host, name, `${tag}-amd64`), await pushRandomImage(host, name, `${tag}-arm64`)];
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: children.map((c, i) => ({ ...c, platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' } })),
  };
  return { index: await pushManifest(repo(host, name), index, { tag }), children };
}

export type { CliRun };

/** Runs the lading CLI in-process with captured streams. */
export function lading(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: NodeJS.ReadableStream } = {}): Promise<CliRun> {
  return runCaptured(argv, {
    ...(opts.stdin ? { stdin: opts.stdin } : { stdin: new PassThrough() }),
    env: opts.env ?? { PATH: process.env['PATH'] ?? '', HOME: tempDir('lading-home-') },
    cwd: opts.cwd ?? process.cwd(),
  });
}

/** The real cosign v3 from the test environment; fails with how to build it when missing. */
export function cosignPath(): string {
  return toolPath('cosign');
}

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs cosign offline: no TUF, no Rekor; an isolated HOME and docker config. `tool` picks the
 * binary: cosign v3 (default) or cosign2 (v2).
 */
export function cosign(args: string[], opts: { cwd?: string; password?: string; home?: string; env?: NodeJS.ProcessEnv; tool?: 'cosign' | 'cosign2' } = {}): Promise<ProcessRun> {
  const bin = toolPath(opts.tool ?? 'cosign');
  // A home of its own for this run (removed when cosign exits) unless the caller keeps one.
  const ownHome = opts.home === undefined;
  const home = opts.home ?? tempDir('lading-cosign-home-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    DOCKER_CONFIG: join(home, '.docker'),
    TUF_ROOT: join(home, '.sigstore'),
    COSIGN_PASSWORD: opts.password ?? '',
    COSIGN_EXPERIMENTAL: '0',
    ...(opts.env ?? {}),
  };
  return new Promise((resolvePromise) => {
    const child = execFile(bin, args, { cwd: opts.cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (error, stdout, stderr) => {
      if (ownHome) rmSync(home, { recursive: true, force: true });
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    // cosign never gets to wait for an answer on stdin (e.g. "overwrite?").
    child.stdin?.end();
  });
}

/** Fails the test with everything cosign said when it did not exit 0. */
export function expectOk(r: ProcessRun | CliRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
}

export interface KeyFiles {
  key: string;
  pub: string;
}

/**
 * The interop tests' set-up in `dir`: a key pair made by lading (lading.key/.pub), one made by
 * cosign (cosign.key/.pub, by `tool`), and a CycloneDX predicate (sbom.json).
 */
export async function interopKeys(dir: string, passwords: { lading: string; cosign: string }, tool: 'cosign' | 'cosign2' = 'cosign'): Promise<{ lading: KeyFiles; cosign: KeyFiles }> {
  await generateKeyPair({ dir, outputKeyPrefix: 'lading', password: passwords.lading });
  expectOk(await cosign(['generate-key-pair'], { cwd: dir, password: passwords.cosign, tool }), `${tool} generate-key-pair`);
  writeFileSync(join(dir, 'sbom.json'), JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [{ type: 'library', name: 'left-pad', version: '1.3.0' }] }));
  return { lading: { key: join(dir, 'lading.key'), pub: join(dir, 'lading.pub') }, cosign: { key: join(dir, 'cosign.key'), pub: join(dir, 'cosign.pub') } };
}
