// What kustomize-controller does between "artifact extracted" and "objects to apply":
// resolve spec.path inside the artifact (securejoin), generate or overlay the kustomization
// (generate.ts), build it with lading's kustomize-compatible build confined to the artifact,
// run postBuild substitution (substitute.ts), compute the history checksum, and set
// commonMetadata on every object.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { KustomizationSpec } from '../api.js';
import { KubeError, type KubeClient } from '../../kube/index.js';
import { build, formatManifests, ManifestError, type KubeObject } from '../../manifests/index.js';
import { deletePath, FluxBuildError, generateKustomization, isPlainObject, writeKustomization, type GeneratedKustomization } from './generate.js';
import { normaliseVariables, substitute, substitutionDisabled } from './substitute.js';

export { FluxBuildError, type FluxBuildErrorCode, generateKustomization, type GeneratedKustomization, isLocalRelativePath } from './generate.js';
export { substitute, envsubst, substitutionDisabled, readSubstitutedYaml, resolvePlainV2, type SubstituteOptions } from './substitute.js';

export interface BuildKustomizationOptions {
  /** The extracted artifact: the boundary, nothing outside it is read. Written to (the kustomization file) and restored. */
  dir: string;
  /** spec.path, joined to dir as securejoin does (`..` and absolute paths and symlinks stay inside dir). */
  path: string;
  spec: KustomizationSpec;
  /** The Kustomization's namespace (where substituteFrom objects are read). */
  namespace: string;
  /** The Kustomization's name (for errors). */
  name: string;
  /** Reads substituteFrom ConfigMaps and Secrets; without it a substituteFrom entry is an error. */
  client?: KubeClient;
  signal?: AbortSignal;
  /** StrictPostBuildSubstitutions (default true, as kustomize-controller). */
  strictSubstitutions?: boolean;
}

export interface BuildKustomizationResult {
  /** The objects to apply: built, substituted, with commonMetadata set. */
  objects: KubeObject[];
  /** `sha256:<hex>` of the built YAML (before commonMetadata), as Flux's history digest. */
  checksum: string;
  /** The built YAML the checksum is taken of. */
  yaml: string;
}

const MAX_SYMLINKS = 255;

/**
 * filepath-securejoin's SecureJoin: `unsafe` joined to `root` with every `..` and symlink
 * resolved as if `root` were the filesystem root, so the result is always inside root.
 */
export async function secureJoin(root: string, unsafe: string): Promise<string> {
  const parts = unsafe.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    if (part === '.') continue;
    const candidate = path.join(root, ...done, part);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch {
      done.push(part);
      continue;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new FluxBuildError('PATH_INVALID', `path '${unsafe}': too many levels of symbolic links`);
    const target = await fs.readlink(candidate);
    const tparts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (path.isAbsolute(target)) done.length = 0;
    parts.unshift(...tparts);
  }
  return path.join(root, ...done);
}

async function readVariablesObject(client: KubeClient, kind: 'ConfigMap' | 'Secret', namespace: string, name: string, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
  const plural = kind === 'ConfigMap' ? 'configmaps' : 'secrets';
  try {
    return await client.request({
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`,
      what: `reading ${kind}/${namespace}/${name} for postBuild.substituteFrom`,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

/**
 * The variables of postBuild: substituteFrom ConfigMaps (data) and Secrets (data, decoded) in
 * list order, later keys overriding earlier ones, then substitute on top; newlines removed.
 */
export async function loadVariables(opts: { spec: KustomizationSpec; namespace: string; client?: KubeClient; signal?: AbortSignal }): Promise<Map<string, string>> {
  const vars: Record<string, string> = {};
  const pb = opts.spec.postBuild;
  for (const ref of pb?.substituteFrom ?? []) {
    const what = `${ref.kind}/${ref.name}`;
    if (ref.kind !== 'ConfigMap' && ref.kind !== 'Secret') throw new FluxBuildError('VARIABLES_FAILED', `substitute from '${what}': kind must be ConfigMap or Secret`);
    if (!opts.client) throw new FluxBuildError('VARIABLES_FAILED', `substitute from '${what}': no cluster client to read it with`);
    let obj: Record<string, unknown> | undefined;
    try {
      obj = await readVariablesObject(opts.client, ref.kind, opts.namespace, ref.name, opts.signal);
    } catch (err) {
      throw new FluxBuildError('VARIABLES_FAILED', `substitute from '${what}' error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (obj === undefined) {
      if (ref.optional) continue;
      throw new FluxBuildError('VARIABLES_FAILED', `substitute from '${what}' error: ${ref.kind.toLowerCase()} "${ref.name}" not found in namespace ${opts.namespace}`);
    }
    const data = obj['data'];
    if (!isPlainObject(data)) continue;
    const from: Record<string, string> = {};
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string') continue;
      from[k] = ref.kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
    }
    for (const [k, v] of normaliseVariables(from, `postBuild.substituteFrom ${what}`)) Object.defineProperty(vars, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const inline = normaliseVariables(pb?.substitute ?? {}, 'postBuild.substitute');
  for (const [k, v] of inline) Object.defineProperty(vars, k, { value: v, enumerable: true, writable: true, configurable: true });
  return new Map(Object.entries(vars));
}

const UNKNOWN_FIELD = /^(.*): invalid Kustomization: unknown field "([^"]*)"$/;

/**
 * Writes the kustomization, builds, and puts the directory back. Flux decodes the path's
 * kustomization into kustomize's Go type and writes it back, which drops fields the type does
 * not have; lading's build refuses them, naming each: such a field of this (root) kustomization
 * is removed and the build run again. Those of bases stay errors, as in Flux.
 */
async function buildDropping(g: GeneratedKustomization, dirPath: string, root: string, signal?: AbortSignal): Promise<KubeObject[]> {
  const file = path.join(await fs.realpath(path.dirname(g.file)), path.basename(g.file));
  for (let attempt = 0; ; attempt++) {
    const restore = await writeKustomization(g);
    try {
      return (await build(dirPath, { boundary: root, ...(signal ? { signal } : {}) })).resources;
    } catch (err) {
      const m = err instanceof ManifestError && err.code === 'INVALID_KUSTOMIZATION' ? UNKNOWN_FIELD.exec(err.message) : null;
      if (!m || m[1] !== file || attempt >= 100 || !deletePath(g.kustomization, m[2] ?? '')) throw err;
    } finally {
      await restore();
    }
  }
}

function describeObject(obj: KubeObject): string {
  const meta = isPlainObject(obj['metadata']) ? obj['metadata'] : {};
  return `${String(obj['kind'] ?? '?')}/${meta['namespace'] ? String(meta['namespace']) + '/' : ''}${String(meta['name'] ?? '?')}`;
}

/** ssautil.SetCommonMetadata: the labels and annotations set on every object (overriding same keys). */
export function setCommonMetadata(objects: KubeObject[], labels: Record<string, string> = {}, annotations: Record<string, string> = {}): void {
  if (Object.keys(labels).length === 0 && Object.keys(annotations).length === 0) return;
  for (const obj of objects) {
    if (!isPlainObject(obj['metadata'])) obj['metadata'] = {};
    const meta = obj['metadata'] as Record<string, unknown>;
    for (const [field, add] of [['labels', labels] as const, ['annotations', annotations] as const]) {
      const current = isPlainObject(meta[field]) ? { ...(meta[field] as Record<string, unknown>) } : {};
      for (const [k, v] of Object.entries(add)) Object.defineProperty(current, k, { value: v, enumerable: true, writable: true, configurable: true });
      if (Object.keys(current).length > 0) meta[field] = current;
    }
  }
}

/**
 * Builds a Kustomization's manifests from an extracted artifact as kustomize-controller does.
 * Errors are FluxBuildError: PATH_INVALID (the path does not exist in the artifact),
 * BUILD_FAILED (generation or kustomize build), SUBSTITUTE_FAILED, VARIABLES_FAILED.
 */
export async function buildKustomization(opts: BuildKustomizationOptions): Promise<BuildKustomizationResult> {
  let root: string;
  try {
    root = await fs.realpath(opts.dir);
  } catch (err) {
    throw new FluxBuildError('PATH_INVALID', `artifact directory ${opts.dir} does not exist`, { cause: err });
  }
  const specPath = opts.path === '' ? './' : opts.path;
  const dirPath = await secureJoin(root, specPath);
  const st = await fs.stat(dirPath).catch(() => undefined);
  if (!st) throw new FluxBuildError('PATH_INVALID', `kustomization path not found: ${specPath}`);
  if (!st.isDirectory()) throw new FluxBuildError('PATH_INVALID', `kustomization path is not a directory: ${specPath}`);
  opts.signal?.throwIfAborted();

  const generated = await generateKustomization({ root, dirPath, spec: opts.spec, ...(opts.signal ? { signal: opts.signal } : {}) });
  let objects: KubeObject[];
  try {
    objects = await buildDropping(generated, dirPath, root, opts.signal);
  } catch (err) {
    if (err instanceof FluxBuildError || opts.signal?.aborted) throw err;
    if (err instanceof Error) {
      // Paths relative to the artifact: the temporary directory means nothing to the user.
      const msg = err.message.split(root + path.sep).join('').split(root).join('.');
      const remote = err instanceof ManifestError && err.code === 'UNSUPPORTED' && /remote resource/.test(msg);
      throw new FluxBuildError('BUILD_FAILED', `kustomize build failed: ${remote ? 'remote bases are refused: ' : ''}${msg}`, { cause: err });
    }
    throw err;
  }

  for (const obj of objects) {
    const meta = isPlainObject(obj['metadata']) ? obj['metadata'] : {};
    if (!obj['apiVersion'] || !obj['kind'] || !meta['name']) {
      throw new FluxBuildError('BUILD_FAILED', `failed to decode Kubernetes apiVersion, kind and name from ${describeObject(obj)}`);
    }
  }

  if (opts.spec.postBuild) {
    const pb = opts.spec.postBuild;
    const always = pb.substituteStrategy === 'Always';
    // Flux reads the variables once per object that is not opted out: no object, no read.
    if (objects.some((o) => !substitutionDisabled(o))) {
      const vars = await loadVariables({ spec: opts.spec, namespace: opts.namespace, ...(opts.client ? { client: opts.client } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      objects = substitute(objects, vars, { strict: opts.strictSubstitutions ?? true, always });
    }
  }

  const yaml = formatManifests(objects);
  const checksum = 'sha256:' + createHash('sha256').update(yaml, 'utf8').digest('hex');
  const cm = opts.spec.commonMetadata;
  if (cm) setCommonMetadata(objects, cm.labels, cm.annotations);
  return { objects, checksum, yaml };
}
