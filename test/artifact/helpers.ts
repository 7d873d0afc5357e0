import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll } from 'vitest';
import { MediaTypes, descriptorFor, openRepository, pushManifest, type ImageManifest } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry, type StartRegistryOptions } from '../env/registry.js';
import { demoAppDir } from '../fixtures.js';

export const demoApp = demoAppDir;

/** A registry for the tests of one file, stopped (by pid) after them. */
export async function registryForSuite(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const reg = await startRegistry(opts);
  afterAll(async () => {
    await reg.stop();
  });
  return reg;
}

const dirs: string[] = [];
/** A temporary directory removed after the suite. */
export function tempDir(prefix = 'lading-artifact-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes a tree of files: `{ 'a/b.yaml': 'content' }`. */
export function writeTree(root: string, files: Record<string, string | Buffer>): string {
  for (const [p, content] of Object.entries(files)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  return root;
}

/** Every regular file below `root`, as relative path → content. */
export function readTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const abs = join(d, name);
      const st = statSync(abs);
      if (st.isDirectory()) walk(abs);
      else out[relative(root, abs)] = readFileSync(abs, 'utf8');
    }
  };
  walk(root);
  return out;
}

let counter = 0;
/** A repository name unique within the run. */
export function repoName(prefix = 'app'): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/**
 * Pushes an artifact with the given layers (content, media type) straight through the OCI client,
 * with an empty config of `configMediaType` (default: the OCI image config's).
 */
export async function pushLayers(
  host: string,
  repo: string,
  tag: string,
  layers: Array<{ data: Buffer; mediaType: string }>,
  configMediaType = 'application/vnd.oci.image.config.v1+json',
): Promise<string> {
  const storage = openRepository(`${host}/${repo}`);
  try {
    const config = Buffer.from('{}');
    const configDesc = descriptorFor(configMediaType, config);
    await storage.push(configDesc, config);
    const descs = [];
    for (const l of layers) {
      const d = descriptorFor(l.mediaType, l.data);
      await storage.push(d, l.data);
      descs.push(d);
    }
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: descs, annotations: { 'org.opencontainers.image.source': 'other-tool' } };
    await pushManifest(storage, manifest, { tag });
    return `oci://${host}/${repo}:${tag}`;
  } finally {
    storage.close();
  }
}
