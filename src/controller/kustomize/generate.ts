// The kustomization file kustomize-controller builds from (fluxcd/pkg kustomize Generator):
// the path's own kustomization.yaml (or .yml, or Kustomization), or one generated listing the
// path's manifests when it has none, with the Kustomization's overlays set on it: targetNamespace
// (namespace), namePrefix, nameSuffix, patches, images (merged into entries of the same name),
// components (ignoreMissingComponents) and buildMetadata.
//
// Generated resources, as Flux lists them: every *.yaml / *.yml file below the path (hidden
// directories included, names in byte order), except that a sub-directory holding a
// kustomization file is listed itself and not entered; a YAML file that is not Kubernetes
// objects is an error (Flux fails too; it does not skip it).
//
// Flux builds without reordering (krusty's zero-value Reorder option): objects come out in the
// order the resources list them, unless the kustomization sets sortOptions. The generated file
// therefore carries `sortOptions: {order: fifo}` when the kustomization has none.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LadingError } from '../../errors.js';
import type { KustomizationSpec } from '../api.js';
import { parseAllDocuments } from 'yaml';
import { formatManifests, ManifestError, parseManifests } from '../../manifests/index.js';

export type FluxBuildErrorCode =
  /** spec.path (or a component) is not inside the artifact, or does not exist. */
  | 'PATH_INVALID'
  /** The kustomization could not be generated or built. */
  | 'BUILD_FAILED'
  /** postBuild substitution failed (the message names the object and variable, never a value). */
  | 'SUBSTITUTE_FAILED'
  /** A substituteFrom ConfigMap or Secret could not be read. */
  | 'VARIABLES_FAILED';

/** A Kustomization's manifests could not be generated, built or substituted. */
export class FluxBuildError extends LadingError<FluxBuildErrorCode> {}

/** Kustomization file names kustomize recognises, in the order Flux looks for them. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** Largest file read (as lading's build reads: 64 MiB). */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Most files one generated kustomization may list. */
export const MAX_GENERATED_RESOURCES = 10_000;

export interface GeneratedKustomization {
  /** The kustomization to build from, as data. */
  kustomization: Record<string, unknown>;
  /** Absolute path of the kustomization file (the existing one, or kustomization.yaml). */
  file: string;
  /** created: the path had no kustomization file; unchanged: it had one (now overlaid). */
  action: 'created' | 'unchanged';
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(buf: Uint8Array, rel: string): string {
  try {
    return utf8.decode(buf);
  } catch (err) {
    throw new FluxBuildError('BUILD_FAILED', `${rel}: invalid UTF-8`, { cause: err });
  }
}

async function lstatOrUndefined(p: string) {
  try {
    return await fs.lstat(p);
  } catch {
    return undefined;
  }
}

async function statOrUndefined(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

async function findKustomizationFile(dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    const p = path.join(dir, name);
    const st = await statOrUndefined(p);
    if (st && !st.isDirectory()) return p;
  }
  return undefined;
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Whether a YAML text holds Kubernetes objects only (each with apiVersion/kind/metadata), as kustomize's resource factory requires. */
function checkObjects(text: string, file: string, rel: string): void {
  let docs;
  try {
    docs = parseManifests(text, rel);
  } catch (err) {
    throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: failed to decode Kubernetes YAML from ${rel}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  for (const v of docs) {
    if (v['kind'] === 'List' && Array.isArray(v['items'])) continue;
    const empty = (x: unknown) => x === undefined || x === null || x === '' || (isPlainObject(x) && Object.keys(x).length === 0) || (Array.isArray(x) && x.length === 0);
    if (empty(v['metadata']) && empty(v['kind']) && empty(v['apiVersion'])) {
      throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: failed to decode Kubernetes YAML from ${rel}: missing Resource metadata`);
    }
  }
  void file;
}

/** Lists the resources of a generated kustomization (paths relative to `dir`, "./"-prefixed). */
async function scanManifests(dir: string, root: string, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = (await fs.readdir(d)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const p = path.join(d, name);
      const st = await fs.lstat(p);
      if (st.isDirectory()) {
        if (await findKustomizationFile(p)) out.push(p);
        else await walk(p);
      } else {
        const ext = path.extname(name);
        if (ext !== '.yaml' && ext !== '.yml') continue;
        const rel = './' + path.relative(dir, p).split(path.sep).join('/');
        // Read as the build will read it: within the artifact only, regular files only, bounded.
        const real = await fs.realpath(p).catch(() => p);
        if (!within(real, root)) throw new FluxBuildError('PATH_INVALID', `failed to generate kustomization.yaml: ${rel} leads out of the artifact (security)`);
        const rst = await fs.stat(real);
        if (!rst.isFile()) throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: ${rel} is not a regular file`);
        if (rst.size > MAX_FILE_BYTES) throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: ${rel} is larger than ${MAX_FILE_BYTES} bytes`);
        checkObjects(decodeUtf8(await fs.readFile(real), rel), real, rel);
        out.push(p);
      }
      if (out.length > MAX_GENERATED_RESOURCES) throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: more than ${MAX_GENERATED_RESOURCES} files`);
    }
  };
  await walk(dir);
  return out.map((p) => './' + path.relative(dir, p).split(path.sep).join('/'));
}

/**
 * Reads the path's kustomization as Flux does (sigs.k8s.io/yaml: the first document; a key
 * given twice is allowed, the last one wins).
 */
function readKustomizationText(text: string, rel: string): Record<string, unknown> {
  let first: unknown;
  try {
    first = parseManifests(text, rel)[0];
  } catch (err) {
    if (!(err instanceof ManifestError) || !/unique/i.test(err.message)) throw err;
    const docs = parseAllDocuments(text, { uniqueKeys: false, merge: true, prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [];
    const doc = list.find((d) => d.contents !== null);
    if (doc && doc.errors[0]) throw new ManifestError('INVALID_YAML', `${rel}: invalid YAML: ${doc.errors[0].code}`);
    first = doc?.toJS({ maxAliasCount: 100 });
  }
  if (first === undefined || first === null) return {};
  if (!isPlainObject(first)) throw new ManifestError('INVALID_KUSTOMIZATION', `${rel}: expected a YAML mapping`);
  return first;
}

/** The keys of `k` that Go's JSON decoding takes for field `name` (any case), in byte order: the last one wins. */
function spellings(k: Record<string, unknown>, name: string): string[] {
  return Object.keys(k)
    .filter((key) => key.toLowerCase() === name.toLowerCase())
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function getField(k: Record<string, unknown>, name: string): unknown {
  const keys = spellings(k, name);
  const exact = Object.prototype.hasOwnProperty.call(k, name);
  return exact ? k[name] : keys.length > 0 ? k[keys[keys.length - 1] as string] : undefined;
}

/** Sets a field as the Go type would after decoding: one spelling, the given value. */
function setField(k: Record<string, unknown>, name: string, value: unknown): void {
  for (const key of spellings(k, name)) delete k[key];
  Object.defineProperty(k, name, { value, enumerable: true, writable: true, configurable: true });
}

/** Deletes the field at a path such as `patches[0].bogus`; false when it is not there. */
export function deletePath(obj: Record<string, unknown>, where: string): boolean {
  const segments: Array<string | number> = [];
  for (const part of where.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return false;
    if (m[1] !== '') segments.push(m[1] as string);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) segments.push(Number(idx[1]));
  }
  let cur: unknown = obj;
  for (let i = 0; i < segments.length - 1; i++) {
    const s = segments[i] as string | number;
    if (typeof s === 'number') cur = Array.isArray(cur) ? cur[s] : undefined;
    else cur = isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, s) ? cur[s] : undefined;
    if (cur === undefined) return false;
  }
  const last = segments[segments.length - 1];
  if (typeof last !== 'string' || !isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, last)) return false;
  delete cur[last];
  return true;
}

/** Flux's IsLocalRelativePath: no remote scheme, not absolute. */
export function isLocalRelativePath(p: string): boolean {
  const lower = p.toLowerCase();
  for (const prefix of ['git::', 'gh:', 'ssh://', 'https://', 'http://', 'git@', 'github.com:', 'github.com/']) {
    if (prefix.length < p.length && lower.startsWith(prefix)) return false;
  }
  if (path.isAbsolute(p) || path.isAbsolute(lower.replace(/^file:\/\//, ''))) return false;
  return true;
}

function selector(t: NonNullable<NonNullable<KustomizationSpec['patches']>[number]['target']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector'] as const) {
    const v = t[key];
    if (typeof v === 'string' && v !== '') out[key] = v;
  }
  return out;
}

/**
 * Finds or generates the kustomization at `dirPath` (already inside `root`) and sets the
 * Kustomization's overlays on it. Reads only; see writeKustomization.
 */
export async function generateKustomization(opts: { root: string; dirPath: string; spec: KustomizationSpec; signal?: AbortSignal }): Promise<GeneratedKustomization> {
  try {
    return await generate(opts);
  } catch (err) {
    if (err instanceof FluxBuildError || (err instanceof Error && err.name === 'AbortError')) throw err;
    const msg = err instanceof Error ? err.message.split(opts.root + path.sep).join('') : String(err);
    throw new FluxBuildError('BUILD_FAILED', `failed to generate kustomization.yaml: ${msg}`, { cause: err });
  }
}

async function generate(opts: { root: string; dirPath: string; spec: KustomizationSpec; signal?: AbortSignal }): Promise<GeneratedKustomization> {
  const { dirPath, spec } = opts;
  const root = await fs.realpath(opts.root);
  let k: Record<string, unknown>;
  let file = await findKustomizationFile(dirPath);
  let action: GeneratedKustomization['action'];
  if (file !== undefined) {
    action = 'unchanged';
    const real = await fs.realpath(file);
    const rel = path.relative(root, file);
    if (!within(real, root)) throw new FluxBuildError('PATH_INVALID', `${rel}: the kustomization file leads out of the artifact (security)`);
    const st = await fs.stat(real);
    if (!st.isFile()) throw new FluxBuildError('BUILD_FAILED', `${rel}: not a regular file`);
    if (st.size > MAX_FILE_BYTES) throw new FluxBuildError('BUILD_FAILED', `${rel}: larger than ${MAX_FILE_BYTES} bytes`);
    try {
      k = readKustomizationText(decodeUtf8(await fs.readFile(real), rel), rel);
    } catch (err) {
      throw new FluxBuildError('BUILD_FAILED', `${rel}: ${err instanceof Error ? err.message.replace(`${rel}: `, '') : String(err)}`, { cause: err });
    }
    const resources = getField(k, 'resources');
    if (!Array.isArray(resources) || resources.length === 0) setField(k, 'buildMetadata', ['originAnnotations']);
  } else {
    action = 'created';
    file = path.join(dirPath, 'kustomization.yaml');
    const resources = await scanManifests(dirPath, root, opts.signal);
    k = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' };
    if (resources.length === 0) k['namespace'] = '_placeholder';
    else k['resources'] = resources;
  }
  if (getField(k, 'apiVersion') === undefined) setField(k, 'apiVersion', 'kustomize.config.k8s.io/v1beta1');
  if (getField(k, 'kind') === undefined) setField(k, 'kind', 'Kustomization');

  if (spec.targetNamespace !== undefined) setField(k, 'namespace', spec.targetNamespace);
  if (spec.namePrefix !== undefined) setField(k, 'namePrefix', spec.namePrefix);
  if (spec.nameSuffix !== undefined) setField(k, 'nameSuffix', spec.nameSuffix);

  if (spec.patches && spec.patches.length > 0) {
    const current = getField(k, 'patches');
    const patches = Array.isArray(current) ? [...(current as unknown[])] : [];
    for (const p of spec.patches) {
      const entry: Record<string, unknown> = { patch: p.patch };
      if (p.target) entry['target'] = selector(p.target);
      patches.push(entry);
    }
    setField(k, 'patches', patches);
  }

  if (spec.components && spec.components.length > 0) {
    const current = getField(k, 'components');
    const components = Array.isArray(current) ? [...(current as unknown[])] : [];
    for (const c of spec.components) {
      if (!isLocalRelativePath(c)) throw new FluxBuildError('PATH_INVALID', `component path '${c}' must be local and relative`);
      if (spec.ignoreMissingComponents && (await lstatOrUndefined(path.join(dirPath, c))) === undefined) continue;
      components.push(c);
    }
    setField(k, 'components', components);
  }

  if (spec.images && spec.images.length > 0) {
    const current = getField(k, 'images');
    const images = Array.isArray(current) ? (current as unknown[]).map((i) => (isPlainObject(i) ? { ...i } : i)) : [];
    for (const img of spec.images) {
      const existing = images.find((i): i is Record<string, unknown> => isPlainObject(i) && i['name'] === img.name);
      if (existing) {
        if (img.newName) existing['newName'] = img.newName;
        if (img.newTag || img.digest) {
          if (img.newTag) existing['newTag'] = img.newTag;
          else delete existing['newTag'];
          if (img.digest) existing['digest'] = img.digest;
          else delete existing['digest'];
        }
      } else {
        const entry: Record<string, unknown> = { name: img.name };
        if (img.newName) entry['newName'] = img.newName;
        if (img.newTag) entry['newTag'] = img.newTag;
        if (img.digest) entry['digest'] = img.digest;
        images.push(entry);
      }
    }
    setField(k, 'images', images);
  }

  if (spec.buildMetadata && spec.buildMetadata.length > 0) setField(k, 'buildMetadata', [...spec.buildMetadata]);
  const sortOptions = getField(k, 'sortOptions');
  if (sortOptions === undefined || sortOptions === null) setField(k, 'sortOptions', { order: 'fifo' });
  return { kustomization: k, file, action };
}

/**
 * Writes the kustomization where kustomize will read it, and returns a function that puts the
 * directory back as it was (the original file, a symlink included, is moved aside and restored,
 * never written through).
 */
export async function writeKustomization(g: GeneratedKustomization): Promise<() => Promise<void>> {
  const dir = path.dirname(g.file);
  let aside: string | undefined;
  if (g.action === 'unchanged') {
    aside = path.join(dir, `.${path.basename(g.file)}.lading-original-${process.pid}-${Date.now()}`);
    await fs.rename(g.file, aside);
  }
  try {
    // 'wx': created new, never through an existing file or symlink.
    await fs.writeFile(g.file, formatManifests([g.kustomization]), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if (aside) await fs.rename(aside, g.file).catch(() => undefined);
    throw new FluxBuildError('BUILD_FAILED', `writing ${path.basename(g.file)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return async () => {
    await fs.rm(g.file, { force: true });
    if (aside) await fs.rename(aside, g.file);
  };
}
