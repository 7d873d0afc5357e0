// Where the objects to apply come from: YAML files and directories (`-f`), a kustomization
// (`-k`, built by src/manifests), or a Flux-compatible OCI artifact (`--artifact`, read in
// memory by src/artifact), with optional extra patches applied on top.
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { readArtifactFiles } from '../artifact/index.js';
import { build, parseManifests } from '../manifests/index.js';
import type { RegistryOptions } from '../oci/index.js';
import { KubeError } from './errors.js';
import type { KubeObject } from './objects.js';
import { isRecord } from './util.js';

export interface LoadObjectsOptions {
  /** YAML/JSON files or directories (not recursive, like kubectl -f). */
  files?: string[];
  /** A kustomization directory. */
  kustomize?: string;
  /** `oci://host/repo:tag` or `@digest` of an artifact with manifests. */
  artifact?: string;
  /** Extra kustomization files with patches, applied on top of the build. */
  patches?: string[];
  registry?: RegistryOptions;
  /** Most uncompressed artifact bytes to accept (default 100 MiB). */
  maxArtifactBytes?: number;
  /** Most bytes read from one file (default 64 MiB). */
  maxFileBytes?: number;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface LoadedObjects {
  objects: KubeObject[];
  /** Digest URL of the artifact read, if any. */
  artifacts: string[];
  /** `oci://host/repo` of the artifact, a default for the inventory's source. */
  artifactRepository?: string;
  /** Tag of the artifact, a default for the inventory's revision. */
  artifactTag?: string;
}

const manifestExtensions = new Set(['.yaml', '.yml', '.json']);

/** Expands `kind: List` (and `*List`) documents into their items. */
export function flattenLists(objects: KubeObject[]): KubeObject[] {
  return objects.flatMap((o) => (typeof o['kind'] === 'string' && o['kind'].endsWith('List') && Array.isArray(o['items']) ? flattenLists((o['items'] as unknown[]).filter(isRecord)) : [o]));
}

async function readLimited(file: string, max: number): Promise<string> {
  const st = await stat(file);
  if (st.size > max) throw new KubeError('TOO_LARGE', `reading ${file}: ${st.size} bytes, more than the limit of ${max}`);
  return readFile(file, 'utf8');
}

async function loadFiles(paths: string[], maxBytes: number): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      throw new KubeError('INPUT', `reading ${p}: no such file or directory`, { cause: err });
    }
    const files = st.isDirectory()
      ? (await readdir(p))
          .filter((f) => manifestExtensions.has(extname(f).toLowerCase()))
          .sort()
          .map((f) => join(p, f))
      : [p];
    for (const f of files) out.push(...parseManifests(await readLimited(f, maxBytes), f));
  }
  return out;
}

function buildOptions(patches: string[] | undefined, signal?: AbortSignal): { patches?: string[]; signal?: AbortSignal } {
  return { ...(patches && patches.length > 0 ? { patches } : {}), ...(signal ? { signal } : {}) };
}

/** Reads the objects from exactly one of files, kustomize or artifact. */
export async function loadObjects(opts: LoadObjectsOptions): Promise<LoadedObjects> {
  const given = [opts.files && opts.files.length > 0, opts.kustomize !== undefined, opts.artifact !== undefined].filter(Boolean).length;
  if (given !== 1) throw new KubeError('INPUT', 'give exactly one of files (-f), a kustomization (-k) or an artifact (--artifact)');
  const maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
  const patches = opts.patches;
  if (opts.files && opts.files.length > 0) {
    if (patches && patches.length > 0) {
      if (opts.files.length !== 1) throw new KubeError('INPUT', '--patch goes with one file or directory');
      const result = await build(opts.files[0] as string, buildOptions(patches, opts.signal));
      return { objects: flattenLists(result.resources), artifacts: [] };
    }
    return { objects: flattenLists(await loadFiles(opts.files, maxFileBytes)), artifacts: [] };
  }
  if (opts.kustomize !== undefined) {
    opts.onProgress?.('building manifests...');
    const result = await build(opts.kustomize, buildOptions(patches, opts.signal));
    return { objects: flattenLists(result.resources), artifacts: [] };
  }
  const url = opts.artifact as string;
  opts.onProgress?.(`pulling ${url.replace(/^oci:\/\//, '')}`);
  const art = await readArtifactFiles(url, {
    ...(opts.registry ? { registry: opts.registry } : {}),
    maxBytes: opts.maxArtifactBytes ?? 100 * 1024 * 1024,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const digestUrl = art.url;
  const repository = digestUrl.replace(/@sha256:[0-9a-f]+$/, '');
  const tagMatch = /^oci:\/\/[^@]+\/[^@/:]+:([^@/:]+)$/.exec(url.startsWith('oci://') ? url : `oci://${url}`);
  const loaded: LoadedObjects = { objects: [], artifacts: [digestUrl], artifactRepository: repository, ...(tagMatch?.[1] ? { artifactTag: tagMatch[1] } : {}) };
  const hasKustomization = art.files.some((f) => /^(\.\/)?kustomization\.ya?ml$|^(\.\/)?Kustomization$/.test(f.path));
  if (hasKustomization || (patches && patches.length > 0)) {
    // The build engine reads from disk: unpack to a private temp dir, build, remove.
    const dir = await mkdtemp(join(tmpdir(), 'lading-apply-'));
    try {
      for (const f of art.files) {
        const target = resolve(dir, f.path);
        if (!target.startsWith(dir + sep)) throw new KubeError('INPUT', `${digestUrl}: file ${f.path} points outside the artifact`);
        await mkdir(dirname(target), { recursive: true, mode: 0o700 });
        await writeFile(target, f.content, { mode: 0o600 });
      }
      const result = await build(dir, buildOptions(patches, opts.signal));
      loaded.objects = flattenLists(result.resources);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return loaded;
  }
  const files = art.files.filter((f) => manifestExtensions.has(extname(f.path).toLowerCase())).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of files) loaded.objects.push(...parseManifests(f.content.toString('utf8'), `${digestUrl}:${f.path}`));
  loaded.objects = flattenLists(loaded.objects);
  return loaded;
}
