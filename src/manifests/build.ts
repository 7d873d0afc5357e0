// The kustomize-compatible build: loads kustomizations (resources, components, generators,
// transformers, patches) and produces the same objects, in the same order and the same YAML,
// as `kubectl kustomize`.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ManifestError } from './errors.js';
import { generate, type GeneratorArgs, type GeneratorOptions } from './generators.js';
import { emptyConfig, mergeConfigs, mergeFieldSpecs, sortedConfig } from './config/merge.js';
import { crdConfig } from './crds.js';
import { addVars, mergeVars, parseVars, resolveVars } from './vars.js';
import { normalizeKustomization, normalizePluginConfig } from './kustomization-fields.js';
import { classifyPatch } from './patch/index.js';
import { applyReplacements } from './replacements.js';
import { ResMap, type Selector, type TransformerConfig } from './resmap.js';
import { parseFieldSpec, Resource, str, type FieldSpec, type Gvk, type Origin } from './resource.js';
import {
  addHashSuffixes,
  applyJsonPatchTo,
  defaultNameReferences,
  applySmPatchTo,
  DEFAULT_ORDER_FIRST,
  DEFAULT_ORDER_LAST,
  fixNameReferences,
  legacySort,
  setMapEntries,
  transformImage,
  transformNamespace,
  transformPrefixSuffix,
  transformReplicas,
  type ImageArgs,
  type ParsedPatch,
} from './transformers.js';
import {
  COMMON_ANNOTATION_FIELDS,
  COMMON_LABEL_FIELDS,
  IMAGE_FIELDS,
  NAMESPACE_FIELDS,
  REPLICA_FIELDS,
  TEMPLATE_LABEL_FIELDS,
  VAR_REFERENCE_FIELDS,
} from './config/fieldspecs.js';
import type { BuildOptions, BuildResult, KubeObject } from './types.js';
import { decodeUtf8, formatManifests, formatNumber, formatObject, isPlainObject, MAX_YAML_BYTES, parseYamlDocuments, scalarSource, setOwn } from './yaml.js';

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

const specs = (list: readonly string[]) => list.map(parseFieldSpec);
function defaultConfig(): TransformerConfig {
  return {
    commonLabels: specs(COMMON_LABEL_FIELDS),
    templateLabels: specs(TEMPLATE_LABEL_FIELDS),
    commonAnnotations: specs(COMMON_ANNOTATION_FIELDS),
    namespace: specs(NAMESPACE_FIELDS),
    images: specs(IMAGE_FIELDS),
    replicas: specs(REPLICA_FIELDS),
    namePrefix: [{ path: 'metadata/name', create: false }],
    nameSuffix: [{ path: 'metadata/name', create: false }],
    nameReference: defaultNameReferences(),
    varReference: specs(VAR_REFERENCE_FIELDS),
  };
}

const UNSUPPORTED_FIELDS: Record<string, string> = {
  helmCharts: 'helmCharts are not supported (render the chart first)',
  helmGlobals: 'helmGlobals are not supported',
  helmChartInflationGenerator: 'helmChartInflationGenerator is not supported',
  openapi: 'custom OpenAPI schemas are not supported',
  validators: 'validators are not supported',
};

type Kustomization = Record<string, unknown>;

const EDIT_FIX = "Run 'kustomize edit fix' to update your Kustomization automatically.";
const DEPRECATIONS: Array<[string, string]> = [
  ['bases', `# Warning: 'bases' is deprecated. Please use 'resources' instead. ${EDIT_FIX}`],
  ['commonLabels', `# Warning: 'commonLabels' is deprecated. Please use 'labels' instead. ${EDIT_FIX}`],
  ['imageTags', `# Warning: 'imageTags' is deprecated. Please use 'images' instead. ${EDIT_FIX}`],
  ['patchesJson6902', `# Warning: 'patchesJson6902' is deprecated. Please use 'patches' instead. ${EDIT_FIX}`],
  ['patchesStrategicMerge', `# Warning: 'patchesStrategicMerge' is deprecated. Please use 'patches' instead. ${EDIT_FIX}`],
  ['vars', `# Warning: 'vars' is deprecated. Please use 'replacements' instead. [EXPERIMENTAL] ${EDIT_FIX}`],
];

/** The warnings kustomize prints when a kustomization uses deprecated fields (same text). */
function deprecationWarnings(k: Kustomization): string[] {
  return DEPRECATIONS.filter(([field]) => k[field] !== undefined && k[field] !== null).map(([, message]) => message);
}

interface Ctx {
  signal: AbortSignal | undefined;
  /** Directories on the current build path, to detect cycles between bases. */
  stack: string[];
  /** Set when the top-level kustomization asks for buildMetadata: where objects came from is recorded. */
  origins?: { root: string };
  /** BuildOptions.boundary as a real path: no directory of the build may be outside it. */
  boundary?: string;
}

/**
 * kustomize's IAMPolicyGenerator (GKE workload identity): a ServiceAccount annotated with the
 * Google service account it acts as.
 */
function iamPolicyServiceAccount(cfg: KubeObject, source: string): KubeObject {
  const cloud = str(cfg['cloud']);
  if (cloud !== 'gke') fail('INVALID_KUSTOMIZATION', `${source}: cloud: provider "${cloud}" is not supported (gke only)`);
  const k8s = isPlainObject(cfg['kubernetesService']) ? cfg['kubernetesService'] : {};
  const gsa = isPlainObject(cfg['serviceAccount']) ? cfg['serviceAccount'] : {};
  const metadata: Record<string, unknown> = {
    annotations: { 'iam.gke.io/gcp-service-account': `${str(gsa['name'])}@${str(gsa['projectId'])}.iam.gserviceaccount.com` },
    name: str(k8s['name']),
  };
  if (str(k8s['namespace']) !== '') metadata['namespace'] = str(k8s['namespace']);
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata };
}

interface PluginConfig {
  obj: KubeObject;
  source: string;
  /** The config's origin path (its file, or the kustomization it is inline in). */
  originPath: string;
}

/** kustomize's OriginFromCustomPlugin: configured in the config's file, by the config. */
function pluginOrigin(cfg: PluginConfig): Origin {
  const meta = isPlainObject(cfg.obj['metadata']) ? cfg.obj['metadata'] : {};
  const by: NonNullable<Origin['configuredBy']> = { apiVersion: str(cfg.obj['apiVersion']), kind: str(cfg.obj['kind']) };
  if (str(meta['name']) !== '') by.name = str(meta['name']);
  if (str(meta['namespace']) !== '') by.namespace = str(meta['namespace']);
  return { configuredIn: cfg.originPath, configuredBy: by };
}

/** kustomize's origin annotation text (the Origin as YAML, fields in kustomize's order). */
function originYaml(o: Origin, indent = ''): string {
  const scalar = (v: string) => formatObject({ v }).slice(3, -1);
  const lines: string[] = [];
  if (o.path !== undefined) lines.push(`path: ${scalar(o.path)}`);
  if (o.configuredIn !== undefined) lines.push(`configuredIn: ${scalar(o.configuredIn)}`);
  if (o.configuredBy !== undefined) {
    lines.push('configuredBy:');
    for (const key of ['apiVersion', 'kind', 'name', 'namespace'] as const) {
      const v = o.configuredBy[key];
      if (v !== undefined) lines.push(`  ${key}: ${scalar(v)}`);
    }
  }
  return lines.map((l, i) => (i === 0 ? l : indent + l)).join('\n') + '\n';
}

/** Writes the buildMetadata annotations the top-level kustomization asked for. */
function writeBuildMetadata(resources: Resource[], options: string[]): void {
  for (const r of resources) {
    const notes: Record<string, string> = {};
    if (options.includes('originAnnotations') && r.origin) notes['config.kubernetes.io/origin'] = originYaml(r.origin);
    if (options.includes('transformerAnnotations') && r.transformations.length > 0) {
      notes['alpha.config.kubernetes.io/transformations'] = r.transformations.map((t) => `- ${originYaml(t, '  ')}`).join('');
    }
    if (Object.keys(notes).length === 0) continue;
    const meta = (isPlainObject(r.obj['metadata']) ? r.obj['metadata'] : (r.obj['metadata'] = {})) as Record<string, unknown>;
    const annotations = isPlainObject(meta['annotations']) ? meta['annotations'] : (meta['annotations'] = {});
    Object.assign(annotations, notes);
  }
}

function fail(code: ConstructorParameters<typeof ManifestError>[0], msg: string, cause?: unknown): never {
  throw new ManifestError(code, msg, cause === undefined ? undefined : { cause });
}

function isRemote(p: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^(git@|github\.com\/|gitlab\.com\/|bitbucket\.org\/)/.test(p) || /\?ref=/.test(p);
}

async function statOrUndefined(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

async function findKustomizationFile(dir: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const name of KUSTOMIZATION_FILES) {
    const st = await statOrUndefined(path.join(dir, name));
    if (st?.isFile()) found.push(name);
  }
  if (found.length > 1) fail('INVALID_KUSTOMIZATION', `${dir}: found multiple kustomization files: ${found.join(', ')}`);
  return found[0] === undefined ? undefined : path.join(dir, found[0]);
}

function isWithin(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Reads a file a build needs. With `root` (the real path of the kustomization directory naming
 * the file), the file's real path, every symlink resolved, must be in or below it, as kustomize's
 * default load restrictor requires; a link (or chain of links, or a linked directory on the way)
 * that leads out is refused. Only regular files are read (a FIFO, device or socket is refused
 * before anything blocks on it), at most MAX_YAML_BYTES of them.
 */
async function readFileIn(root: string | undefined, file: string, what: string): Promise<Buffer> {
  let real: string;
  try {
    real = await fs.realpath(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') fail('INVALID_KUSTOMIZATION', `${what}: ${file}: too many levels of symbolic links`, err);
    return fail('NOT_FOUND', `${what}: ${file}: no such file or directory`, err);
  }
  if (root !== undefined && !isWithin(real, root)) {
    fail('INVALID_KUSTOMIZATION', `${what}: security; file '${file}' is not in or below '${root}'${real === file ? '' : ` (it resolves to '${real}')`}`);
  }
  // Sockets cannot be opened at all: refuse every special file before opening it.
  const before = await fs.stat(real);
  if (!before.isFile()) fail('INVALID_KUSTOMIZATION', `${what}: ${file} is ${fileKind(before)}, not a regular file`);
  // O_NONBLOCK: opening a FIFO (swapped in since) must not wait for a writer; O_NOFOLLOW: the real path is not a link
  // (unless it was swapped for one since realpath). Both are 0 where the platform lacks them.
  const flags = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOFOLLOW ?? 0);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(real, flags);
  } catch (err) {
    return fail('NOT_FOUND', `${what}: ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) fail('INVALID_KUSTOMIZATION', `${what}: ${file} is ${fileKind(st)}, not a regular file`);
    if (st.size > MAX_YAML_BYTES) fail('TOO_LARGE', `${what}: ${file} is larger than ${MAX_YAML_BYTES} bytes`);
    // Read to the end, but never more than the limit (the file may grow while it is read).
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_YAML_BYTES) fail('TOO_LARGE', `${what}: ${file} is larger than ${MAX_YAML_BYTES} bytes`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}

/** Kustomize only lets a kustomization read files inside its own directory tree. */
function resolveInRoot(root: string, rel: string, what: string): string {
  if (isRemote(rel)) fail('UNSUPPORTED', `${what}: remote resource "${rel}" is not supported (lading builds from local files only)`);
  const abs = path.resolve(root, rel);
  if (!isWithin(abs, root)) {
    fail('INVALID_KUSTOMIZATION', `${what}: security; file '${abs}' is not in or below '${root}'`);
  }
  return abs;
}

function stringList(k: Kustomization, field: string, file: string): string[] {
  const v = k[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('INVALID_KUSTOMIZATION', `${file}: ${field}: expected a list`);
  return v.map((x, i) => {
    if (typeof x !== 'string') fail('INVALID_KUSTOMIZATION', `${file}: ${field}[${i}]: expected a string`);
    return x;
  });
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) fail('INVALID_KUSTOMIZATION', `${where}: expected a map of strings`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') out[k] = String(x);
    else if (x === null) out[k] = '';
    else fail('INVALID_KUSTOMIZATION', `${where}.${k}: expected a string`);
  }
  return out;
}

function optString(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail('INVALID_KUSTOMIZATION', `${where}: expected a string`);
  return v;
}

function objList(v: unknown, where: string): Record<string, unknown>[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('INVALID_KUSTOMIZATION', `${where}: expected a list`);
  return v.map((x, i) => {
    if (!isPlainObject(x)) fail('INVALID_KUSTOMIZATION', `${where}[${i}]: expected a map`);
    return x;
  });
}

function fieldSpecList(v: unknown, where: string): FieldSpec[] {
  return objList(v, where).map((f, i) => ({
    group: str(f['group']),
    version: str(f['version']),
    kind: str(f['kind']),
    path: optString(f['path'], `${where}[${i}].path`) ?? '',
    create: f['create'] === true,
  }));
}

/** Reads a kustomization file; with `root`, the file must really be inside that directory. */
async function readKustomization(file: string, root?: string): Promise<Kustomization> {
  const text = decodeUtf8(await readFileIn(root, file, 'reading kustomization'), file);
  const docs = parseYamlDocuments(text, file, { uniqueKeys: false }).filter((d) => d.value !== null);
  if (docs.length === 0) return {};
  if (docs.length > 1) fail('INVALID_KUSTOMIZATION', `${file}: a kustomization must be a single YAML document`);
  const raw = docs[0]?.value;
  if (!isPlainObject(raw)) fail('INVALID_KUSTOMIZATION', `${file}: expected a YAML mapping`);
  const k = normalizeKustomization(raw, file);
  for (const key of Object.keys(k)) {
    const unsupported = UNSUPPORTED_FIELDS[key];
    const value = k[key];
    const empty = value === null || (Array.isArray(value) && value.length === 0) || (isPlainObject(value) && Object.keys(value).length === 0);
    if (unsupported && !empty) fail('UNSUPPORTED', `${file}: field "${key}": ${unsupported}`);
  }
  const kind = k['kind'];
  if (kind !== undefined && kind !== 'Kustomization' && kind !== 'Component') fail('INVALID_KUSTOMIZATION', `${file}: kind "${String(kind)}" is not Kustomization or Component`);
  const required = kind === 'Component' ? 'kustomize.config.k8s.io/v1alpha1' : 'kustomize.config.k8s.io/v1beta1';
  const apiVersion = k['apiVersion'];
  if (apiVersion !== undefined && apiVersion !== null && apiVersion !== '' && apiVersion !== required) {
    fail('INVALID_KUSTOMIZATION', `${file}: apiVersion for ${String(kind ?? 'Kustomization')} should be ${required}`);
  }
  return k;
}

/** Reads a YAML file of objects into resources, expanding `kind: List`. */
async function loadResourceFile(file: string, what: string, root?: string): Promise<Resource[]> {
  const text = decodeUtf8(await readFileIn(root, file, what), file);
  return objectsToResources(text, file);
}

function objectsToResources(text: string, source: string): Resource[] {
  const out: Resource[] = [];
  for (const doc of parseYamlDocuments(text, source)) {
    const v = doc.value;
    if (v === null) continue;
    if (!isPlainObject(v)) fail('INVALID_YAML', `${source}:${doc.line}: expected a Kubernetes object (a YAML mapping)`);
    const kind = str(v['kind']);
    if (kind.endsWith('List') && Array.isArray(v['items'])) {
      for (const item of v['items']) {
        if (!isPlainObject(item)) fail('INVALID_YAML', `${source}:${doc.line}: List items must be objects`);
        out.push(new Resource(item, source));
      }
      continue;
    }
    if (Object.keys(v).length === 0) continue;
    if (!kind) fail('INVALID_YAML', `${source}:${doc.line}: missing kind in object`);
    out.push(new Resource(v, source));
  }
  return out;
}

class Target {
  /** Deprecation warnings of this kustomization and those it includes, in kustomize's order. */
  readonly warnings: string[];

  constructor(
    readonly dir: string,
    readonly file: string,
    readonly k: Kustomization,
    readonly ctx: Ctx,
  ) {
    this.warnings = deprecationWarnings(k);
  }

  where(field: string): string {
    return `${this.file}: ${field}`;
  }

  /** A path of this kustomization's, relative to the top-level one's directory (origins). */
  private originPath(rel: string): string {
    const root = this.ctx.origins?.root ?? this.dir;
    return path.posix.join(path.relative(root, this.dir).split(path.sep).join('/'), rel);
  }

  /** kustomize's origin for a built-in generator or transformer of this kustomization. */
  private builtinOrigin(kind: string): Origin {
    return { configuredIn: this.originPath(path.basename(this.file)), configuredBy: { apiVersion: 'builtin', kind } };
  }

  /** After a transformer ran: every object records it (or, if it had no origin, takes it as one). */
  private transformed(ra: ResMap, origin: Origin): void {
    if (!this.ctx.origins) return;
    for (const r of ra.list) {
      if (r.origin === undefined) r.origin = origin;
      else r.transformations.push(origin);
    }
  }

  async readFile(rel: string, field: string): Promise<Buffer> {
    return readFileIn(this.dir, resolveInRoot(this.dir, rel, this.where(field)), this.where(field));
  }

  /** A YAML file the kustomization names, as text (invalid UTF-8 is refused). */
  async readText(rel: string, field: string): Promise<string> {
    return decodeUtf8(await this.readFile(rel, field), path.resolve(this.dir, rel));
  }

  cfg(ra: ResMap): TransformerConfig {
    if (!ra.config) ra.config = emptyConfig();
    return ra.config;
  }

  /**
   * kustomize's MakeTransformerConfig + MergeConfig: the default config merged with the
   * kustomization's `configurations` files, merged into the accumulator's config.
   */
  private async loadConfigurations(ra: ResMap): Promise<void> {
    const files = stringList(this.k, 'configurations', this.file);
    let custom = emptyConfig();
    for (let i = 0; i < files.length; i++) {
      const where = this.where(`configurations[${i}]`);
      const text = await this.readText(files[i] as string, `configurations[${i}]`);
      const doc = parseYamlDocuments(text, files[i] as string).find((d) => d.value !== null)?.value ?? {};
      if (!isPlainObject(doc)) fail('INVALID_KUSTOMIZATION', `${where}: expected a map of field specs`);
      const next = emptyConfig();
      const lists: Array<[keyof Omit<TransformerConfig, 'nameReference'>, string]> = [
        ['namePrefix', 'namePrefix'], ['nameSuffix', 'nameSuffix'], ['namespace', 'namespace'], ['commonLabels', 'commonLabels'],
        ['templateLabels', 'templateLabels'], ['commonAnnotations', 'commonAnnotations'], ['images', 'images'], ['replicas', 'replicas'],
        ['varReference', 'varReference'],
      ];
      for (const key of Object.keys(doc)) {
        if (![...lists.map((l) => l[1]), 'nameReference', 'labels'].includes(key)) fail('INVALID_KUSTOMIZATION', `${where}: unknown field "${key}"`);
      }
      for (const [field, key] of lists) next[field] = mergeFieldSpecs([], fieldSpecList(doc[key], `${where}: ${key}`), where);
      for (const [j, nr] of objList(doc['nameReference'], `${where}: nameReference`).entries()) {
        const target: Partial<Gvk> = {};
        for (const f of ['group', 'version', 'kind'] as const) if (typeof nr[f] === 'string' && nr[f] !== '') target[f] = nr[f];
        for (const fs of fieldSpecList(nr['fieldSpecs'], `${where}: nameReference[${j}].fieldSpecs`)) next.nameReference.push({ ...fs, target });
      }
      custom = mergeConfigs(custom, sortedConfig(next), where);
    }
    const defaults = sortedConfig(defaultConfig());
    const tConfig = files.length === 0 ? defaults : mergeConfigs(defaults, custom, this.where('configurations'));
    ra.config = mergeConfigs(this.cfg(ra), tConfig, this.where('configurations'));
  }

  /** Merges what the kustomization's `crds` files say about custom kinds into the config. */
  private async loadCrds(ra: ResMap): Promise<void> {
    const files = stringList(this.k, 'crds', this.file);
    let crdTc = emptyConfig();
    for (let i = 0; i < files.length; i++) {
      const where = this.where(`crds[${i}]`);
      const text = await this.readText(files[i] as string, `crds[${i}]`);
      crdTc = mergeConfigs(crdTc, { ...emptyConfig(), ...crdConfig(text, `${where} (${files[i] as string})`) }, where);
    }
    ra.config = mergeConfigs(this.cfg(ra), crdTc, this.where('crds'));
  }

  async accumulate(ra: ResMap): Promise<ResMap> {
    const resources = [...stringList(this.k, 'resources', this.file), ...stringList(this.k, 'bases', this.file)];
    await this.accumulateResources(ra, resources, 'resources');
    await this.loadConfigurations(ra);
    await this.loadCrds(ra);
    // kustomize v5.5 runs a kustomization's generators before its components, so a component's
    // generator can merge into the kustomization's own.
    await this.runGenerators(ra);
    for (const comp of stringList(this.k, 'components', this.file)) {
      ra = await this.accumulateDirectory(ra, comp, true, 'components');
    }
    await this.runTransformers(ra);
    mergeVars(ra, parseVars(this.k['vars'], this.where('vars')));
    return ra;
  }

  private async accumulateResources(ra: ResMap, paths: string[], field: string): Promise<void> {
    // Entries are independent until they are added: load them concurrently, add them in order.
    // When several fail, the first in order is reported, as kustomize (which loads them in turn)
    // reports it.
    const settled = await Promise.allSettled(
      paths.map(async (p): Promise<{ list: Resource[]; warnings: string[]; config?: TransformerConfig; vars?: ResMap['vars'] }> => {
        this.ctx.signal?.throwIfAborted();
        if (isRemote(p)) fail('UNSUPPORTED', `${this.where(field)}: remote resource "${p}" is not supported (lading builds from local files only)`);
        const abs = path.resolve(this.dir, p);
        const st = await statOrUndefined(abs);
        if (!st) fail('NOT_FOUND', `${this.where(field)}: accumulating resources from '${p}': ${abs}: no such file or directory`);
        if (st.isDirectory()) {
          const sub = new ResMap();
          const warnings: string[] = [];
          await this.accumulateDirectory(sub, p, false, field, warnings);
          return { list: sub.list, warnings, vars: sub.vars, ...(sub.config ? { config: sub.config } : {}) };
        }
        resolveInRoot(this.dir, p, this.where(field));
        const list = await loadResourceFile(abs, this.where(field), this.dir);
        if (this.ctx.origins) for (const r of list) r.origin ??= { path: this.originPath(p) };
        return { list, warnings: [] };
      }),
    );
    const loaded = settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
    for (const { list, warnings, config, vars } of loaded) {
      ra.appendAll(list);
      if (config) ra.config = mergeConfigs(this.cfg(ra), config, this.where(field));
      if (vars) addVars(ra, vars.values());
      this.warnings.push(...warnings);
    }
  }

  private async accumulateDirectory(ra: ResMap, rel: string, isComponent: boolean, field: string, warnings: string[] = this.warnings): Promise<ResMap> {
    const dir = await fs.realpath(path.resolve(this.dir, rel)).catch((err: unknown) => fail('NOT_FOUND', `${this.where(field)}: '${rel}': no such directory`, err));
    if (this.ctx.boundary !== undefined && !isWithin(dir, this.ctx.boundary)) {
      fail('INVALID_KUSTOMIZATION', `${this.where(field)}: security; directory '${path.resolve(this.dir, rel)}' is not in or below '${this.ctx.boundary}'${dir === path.resolve(this.dir, rel) ? '' : ` (it resolves to '${dir}')`}`);
    }
    for (const visited of this.ctx.stack) {
      if (visited === dir || visited.startsWith(dir + path.sep)) {
        fail('CYCLE', `${this.where(field)}: cycle detected: candidate root '${dir}' contains visited root '${visited}'`);
      }
    }
    const file = await findKustomizationFile(dir);
    if (!file) {
      fail('NOT_FOUND', `${this.where(field)}: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '${dir}'`);
    }
    const k = await readKustomization(file, dir);
    const kind = k['kind'] ?? 'Kustomization';
    if (isComponent && kind !== 'Component') fail('INVALID_KUSTOMIZATION', `${this.where(field)}: expected kind 'Component' for path '${dir}' but got '${String(kind)}'`);
    if (!isComponent && kind === 'Component') fail('INVALID_KUSTOMIZATION', `${this.where(field)}: expected kind != 'Component' for path '${dir}'`);
    const sub = new Target(dir, file, k, { ...this.ctx, stack: [...this.ctx.stack, dir] });
    if (isComponent) {
      const out = await sub.accumulate(ra);
      warnings.push(...sub.warnings);
      return out;
    }
    const subRa = await sub.accumulate(new ResMap());
    warnings.push(...sub.warnings);
    ra.appendAll(subRa.list);
    // What a base learnt from its `configurations` and `crds` holds in the overlay too.
    if (subRa.config) ra.config = mergeConfigs(this.cfg(ra), subRa.config, this.where(field));
    addVars(ra, subRa.vars.values());
    return ra;
  }

  // ---- generators

  private async runGenerators(ra: ResMap): Promise<void> {
    const globalOptions = this.generatorOptions(this.k['generatorOptions'], 'generatorOptions');
    // `field` already names the kustomization file and the generator entry
    const read = (p: string, field: string) => readFileIn(this.dir, resolveInRoot(this.dir, p, field), field);
    for (const [field, kind] of [['configMapGenerator', 'ConfigMap'], ['secretGenerator', 'Secret']] as const) {
      const list = objList(this.k[field], this.where(field));
      for (let i = 0; i < list.length; i++) {
        const args = this.generatorArgs(list[i] as Record<string, unknown>, `${field}[${i}]`);
        const g = await generate(kind, args, globalOptions, read, this.where(`${field}[${i}]`));
        const r = new Resource(g.obj, this.where(`${field}[${i}]`));
        r.needsHash = g.needsHash;
        r.behavior = g.behavior;
        if (this.ctx.origins) r.origin = this.builtinOrigin(`${kind}Generator`);
        ra.absorb(r);
      }
    }
    for (const cfg of await this.pluginConfigs('generators')) {
      const kind = str(cfg.obj['kind']);
      if (kind === 'IAMPolicyGenerator') {
        const r = new Resource(iamPolicyServiceAccount(cfg.obj, cfg.source), cfg.source);
        if (this.ctx.origins) r.origin = pluginOrigin(cfg);
        ra.absorb(r);
        continue;
      }
      if (kind !== 'ConfigMapGenerator' && kind !== 'SecretGenerator') {
        fail('UNSUPPORTED', `${cfg.source}: generator kind "${kind}" is not supported (built-in ConfigMapGenerator, SecretGenerator and IAMPolicyGenerator only; KRM function plugins are not supported)`);
      }
      const meta = isPlainObject(cfg.obj['metadata']) ? cfg.obj['metadata'] : {};
      // the config's own name/namespace fields win; metadata's are the fallback
      const args = this.generatorArgs({ ...cfg.obj, name: str(cfg.obj['name']) || meta['name'], namespace: str(cfg.obj['namespace']) || meta['namespace'] }, cfg.source);
      const g = await generate(kind === 'ConfigMapGenerator' ? 'ConfigMap' : 'Secret', args, undefined, read, cfg.source);
      const r = new Resource(g.obj, cfg.source);
      r.needsHash = g.needsHash;
      r.behavior = g.behavior;
      if (this.ctx.origins) r.origin = pluginOrigin(cfg);
      ra.absorb(r);
    }
  }

  private generatorOptions(v: unknown, where: string): GeneratorOptions | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isPlainObject(v)) fail('INVALID_KUSTOMIZATION', `${this.where(where)}: expected a map`);
    const o: GeneratorOptions = {};
    if (v['labels'] !== undefined) o.labels = stringMap(v['labels'], this.where(`${where}.labels`));
    if (v['annotations'] !== undefined) o.annotations = stringMap(v['annotations'], this.where(`${where}.annotations`));
    if (v['disableNameSuffixHash'] !== undefined) o.disableNameSuffixHash = v['disableNameSuffixHash'] === true;
    if (v['immutable'] !== undefined) o.immutable = v['immutable'] === true;
    return o;
  }

  private generatorArgs(g: Record<string, unknown>, where: string): GeneratorArgs {
    const list = (f: string) => {
      const v = g[f];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v)) fail('INVALID_KUSTOMIZATION', `${this.where(where)}.${f}: expected a list`);
      return v.map((x) => (typeof x === 'string' ? x : String(x)));
    };
    const args: GeneratorArgs = {};
    const name = optString(g['name'], this.where(`${where}.name`));
    if (name !== undefined) args.name = name;
    const ns = optString(g['namespace'], this.where(`${where}.namespace`));
    if (ns !== undefined) args.namespace = ns;
    const behavior = optString(g['behavior'], this.where(`${where}.behavior`));
    if (behavior !== undefined) args.behavior = behavior;
    const files = list('files');
    if (files) args.files = files;
    const literals = list('literals');
    if (literals) args.literals = literals;
    const envs = list('envs');
    if (envs) args.envs = envs;
    const env = optString(g['env'], this.where(`${where}.env`));
    if (env !== undefined) args.env = env;
    const type = optString(g['type'], this.where(`${where}.type`));
    if (type !== undefined) args.type = type;
    const options = this.generatorOptions(g['options'], `${where}.options`);
    if (options) args.options = options;
    return args;
  }

  // ---- transformers

  private async runTransformers(ra: ResMap): Promise<void> {
    const k = this.k;
    // Legacy patchesStrategicMerge.
    const psm = stringList(k, 'patchesStrategicMerge', this.file);
    const psmDocs: Array<{ doc: KubeObject; source: string; i: number }> = [];
    for (let i = 0; i < psm.length; i++) {
      const { text, source } = await this.patchText(psm[i] as string, `patchesStrategicMerge[${i}]`, true);
      for (const doc of this.parseSmDocs(text, source)) psmDocs.push({ doc, source, i });
    }
    if (psm.length > 0 && psmDocs.length === 0) {
      fail('INVALID_KUSTOMIZATION', `${this.where('patchesStrategicMerge')}: patch appears to be empty; files=[${psm.join(' ')}]`);
    }
    for (const { doc, source, i } of psmDocs) {
      const target = ra.getById(patchId(doc), `${this.where(`patchesStrategicMerge[${i}]`)}`);
      applySmPatchTo(ra, new Set([target]), doc, { targeted: true }, source);
    }
    if (psm.length > 0) this.transformed(ra, this.builtinOrigin('PatchStrategicMergeTransformer'));
    // patches
    const patches = objList(k['patches'], this.where('patches'));
    for (let i = 0; i < patches.length; i++) {
      await this.applyPatchEntry(ra, patches[i] as Record<string, unknown>, `patches[${i}]`);
      this.transformed(ra, this.builtinOrigin('PatchTransformer'));
    }
    // namespace
    const ns = optString(k['namespace'], this.where('namespace'));
    if (ns) {
      transformNamespace(ra, { namespace: ns, fieldSpecs: this.cfg(ra).namespace });
      this.transformed(ra, this.builtinOrigin('NamespaceTransformer'));
    }
    // prefix / suffix
    const prefix = optString(k['namePrefix'], this.where('namePrefix'));
    if (prefix !== undefined) transformPrefixSuffix(ra, prefix, 'prefix', this.cfg(ra).namePrefix);
    if (prefix) this.transformed(ra, this.builtinOrigin('PrefixTransformer'));
    const suffix = optString(k['nameSuffix'], this.where('nameSuffix'));
    if (suffix !== undefined) transformPrefixSuffix(ra, suffix, 'suffix', this.cfg(ra).nameSuffix);
    if (suffix) this.transformed(ra, this.builtinOrigin('SuffixTransformer'));
    // labels, then commonLabels
    const labels = objList(k['labels'], this.where('labels'));
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i] as Record<string, unknown>;
      const pairs = stringMap(l['pairs'], this.where(`labels[${i}].pairs`));
      let fss = fieldSpecList(l['fields'], this.where(`labels[${i}].fields`));
      if (l['includeSelectors'] === true) fss = mergeSpecs(fss, this.cfg(ra).commonLabels);
      else {
        fss = mergeSpecs(fss, [{ path: 'metadata/labels', create: true }]);
        if (l['includeTemplates'] === true) fss = mergeSpecs(fss, this.cfg(ra).templateLabels);
      }
      setMapEntries(ra, pairs, fss);
      this.transformed(ra, this.builtinOrigin('LabelTransformer'));
    }
    const commonLabels = stringMap(k['commonLabels'], this.where('commonLabels'));
    setMapEntries(ra, commonLabels, this.cfg(ra).commonLabels);
    // kustomize runs one more LabelTransformer (for commonLabels) whenever there are labels
    if (labels.length > 0 || Object.keys(commonLabels).length > 0) this.transformed(ra, this.builtinOrigin('LabelTransformer'));
    const commonAnnotations = stringMap(k['commonAnnotations'], this.where('commonAnnotations'));
    setMapEntries(ra, commonAnnotations, this.cfg(ra).commonAnnotations);
    if (Object.keys(commonAnnotations).length > 0) this.transformed(ra, this.builtinOrigin('AnnotationsTransformer'));
    // legacy patchesJson6902
    const pj = objList(k['patchesJson6902'], this.where('patchesJson6902'));
    for (let i = 0; i < pj.length; i++) {
      const entry = pj[i] as Record<string, unknown>;
      const where = `patchesJson6902[${i}]`;
      const target = this.selector(entry['target'], where);
      if (!target) fail('INVALID_KUSTOMIZATION', `${this.where(where)}: must specify a target`);
      const { text, source } = await this.patchText(entry, where, false);
      const parsed = this.classifyPatch(text, source, where);
      if (parsed.kind !== 'json') fail('INVALID_KUSTOMIZATION', `${this.where(where)}: expected a JSON 6902 patch`);
      applyJsonPatchTo(ra.select(target, this.where(where)), parsed.ops, source);
      this.transformed(ra, this.builtinOrigin('PatchJson6902Transformer'));
    }
    // replicas
    const replicas = objList(k['replicas'], this.where('replicas'));
    for (let i = 0; i < replicas.length; i++) {
      const r = replicas[i] as Record<string, unknown>;
      const name = optString(r['name'], this.where(`replicas[${i}].name`)) ?? '';
      const count = r['count'];
      if (typeof count !== 'number' || !Number.isInteger(count)) fail('INVALID_KUSTOMIZATION', `${this.where(`replicas[${i}].count`)}: expected an integer`);
      transformReplicas(ra, name, count, this.cfg(ra).replicas);
      this.transformed(ra, this.builtinOrigin('ReplicaCountTransformer'));
    }
    // images
    // kustomize appends the deprecated imageTags to images
    const images = [
      ...objList(k['images'], this.where('images')).map((e, i) => ({ e, where: `images[${i}]` })),
      ...objList(k['imageTags'], this.where('imageTags')).map((e, i) => ({ e, where: `imageTags[${i}]` })),
    ];
    for (const { e, where } of images) {
      transformImage(ra, this.imageArgs(e as Record<string, unknown>, where), this.cfg(ra).images);
      this.transformed(ra, this.builtinOrigin('ImageTagTransformer'));
    }
    // replacements
    const replacements = objList(k['replacements'], this.where('replacements'));
    if (replacements.length > 0) {
      await applyReplacements(ra, await this.loadReplacements(replacements, 'replacements'), this.where('replacements'));
      this.transformed(ra, this.builtinOrigin('ReplacementTransformer'));
    }
    // transformers: built-in transformer configurations
    for (const cfg of await this.pluginConfigs('transformers')) {
      await this.runBuiltinTransformer(ra, cfg.obj, cfg.source);
      this.transformed(ra, pluginOrigin(cfg));
    }
  }

  private async loadReplacements(list: Record<string, unknown>[], field: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < list.length; i++) {
      const r = list[i] as Record<string, unknown>;
      if (typeof r['path'] === 'string') {
        const text = await this.readText(r['path'], `${field}[${i}].path`);
        for (const doc of parseYamlDocuments(text, r['path'])) {
          if (doc.value === null) continue;
          const items = Array.isArray(doc.value) ? doc.value : [doc.value];
          for (const item of items) {
            if (!isPlainObject(item)) fail('INVALID_KUSTOMIZATION', `${r['path']}: expected replacement maps`);
            out.push(item);
          }
        }
      } else out.push(r);
    }
    return out;
  }

  private imageArgs(img: Record<string, unknown>, where: string): ImageArgs {
    const name = optString(img['name'], this.where(`${where}.name`));
    if (!name) fail('INVALID_KUSTOMIZATION', `${this.where(where)}: image name is required`);
    const a: ImageArgs = { name };
    for (const f of ['newName', 'newTag', 'digest', 'tagSuffix'] as const) {
      const v = img[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') fail('INVALID_KUSTOMIZATION', `${this.where(`${where}.${f}`)}: expected a string (quote the value)`);
      a[f] = v;
    }
    return a;
  }

  private selector(v: unknown, where: string): Selector | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isPlainObject(v)) fail('INVALID_KUSTOMIZATION', `${this.where(where)}.target: expected a map`);
    const s: Selector = {};
    for (const f of ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector'] as const) {
      const x = optString(v[f], this.where(`${where}.target.${f}`));
      if (x !== undefined) s[f] = x;
    }
    return s;
  }

  private async patchText(entry: string | Record<string, unknown>, where: string, legacySm: boolean): Promise<{ text: string; source: string }> {
    if (typeof entry === 'string') {
      // patchesStrategicMerge: a file path or an inline patch.
      if (legacySm && (entry.includes('\n') || /^\s*(apiVersion|kind|metadata)\s*:/.test(entry))) return { text: entry, source: `${this.where(where)} (inline)` };
      return { text: await this.readText(entry, where), source: path.resolve(this.dir, entry) };
    }
    const p = optString(entry['path'], this.where(`${where}.path`));
    const inline = optString(entry['patch'], this.where(`${where}.patch`));
    if (p !== undefined && inline !== undefined && inline.trim() !== '') fail('INVALID_KUSTOMIZATION', `${this.where(where)}: patch and path can't be set at the same time`);
    if (inline !== undefined && inline.trim() !== '') return { text: inline, source: `${this.where(where)}.patch` };
    if (p !== undefined && p !== '') {
      return { text: await this.readText(p, `${where}.path`), source: path.resolve(this.dir, p) };
    }
    return fail('INVALID_KUSTOMIZATION', `${this.where(where)}: must specify one of patch and path`);
  }

  private parseSmDocs(text: string, source: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const doc of parseYamlDocuments(text, source)) {
      if (doc.value === null) continue;
      if (!isPlainObject(doc.value)) fail('INVALID_KUSTOMIZATION', `${source}:${doc.line}: a strategic merge patch must be a YAML mapping`);
      out.push(doc.value);
    }
    return out;
  }

  classifyPatch(text: string, source: string, where: string): ParsedPatch {
    try {
      const c = classifyPatch(text, { source, parse: (t, src) => parseYamlDocuments(t, src ?? source).map((d) => d.value) });
      return c.kind === 'json6902' ? { kind: 'json', ops: c.operations } : { kind: 'sm', docs: c.documents };
    } catch (err) {
      if (err instanceof ManifestError && err.code !== 'PATCH_FAILED') throw err;
      return fail('INVALID_KUSTOMIZATION', `${this.where(where)}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }

  async applyPatchEntry(ra: ResMap, entry: Record<string, unknown>, where: string): Promise<void> {
    const { text, source } = await this.patchText(entry, where, false);
    // kustomize's PatchTransformer trims an inline patch (not one read from a file): a block
    // scalar that ends it then has no final line break.
    const inline = typeof entry['patch'] === 'string' && entry['patch'].trim() !== '';
    const parsed = this.classifyPatch(inline ? text.trim() : text, source, where);
    const target = this.selector(entry['target'], where);
    const options = isPlainObject(entry['options']) ? entry['options'] : {};
    const opts = { allowNameChange: options['allowNameChange'] === true, allowKindChange: options['allowKindChange'] === true };
    if (parsed.kind === 'json') {
      if (!target) fail('INVALID_KUSTOMIZATION', `${this.where(where)}: must specify a target for JSON patch ${source}`);
      applyJsonPatchTo(ra.select(target, this.where(where)), parsed.ops, source);
      return;
    }
    if (target) {
      if (parsed.docs.length > 1) fail('INVALID_KUSTOMIZATION', `${this.where(where)}: Multiple Strategic-Merge Patches in one \`patches\` entry is not allowed to set \`patches.target\` field: ${source}`);
      const selected = ra.select(target, this.where(where));
      applySmPatchTo(ra, new Set(selected), parsed.docs[0] as KubeObject, { ...opts, targeted: true }, source);
      return;
    }
    for (const doc of parsed.docs) {
      const t = ra.getById(patchId(doc), `${this.where(where)}: no resource matches strategic merge patch`);
      applySmPatchTo(ra, new Set([t]), doc, opts, source);
    }
  }

  // ---- external (built-in) plugins given as files or inline

  private async pluginConfigs(field: 'generators' | 'transformers'): Promise<PluginConfig[]> {
    const out: PluginConfig[] = [];
    const entries = stringList(this.k, field, this.file);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as string;
      // An entry is either inline YAML of a plugin config or a path.
      if (entry.includes('\n')) {
        for (const r of objectsToResources(entry, `${this.where(`${field}[${i}]`)} (inline)`)) {
          out.push({ obj: normalizePluginConfig(r.obj), source: r.source, originPath: this.originPath(path.basename(this.file)) });
        }
        continue;
      }
      const ra = new ResMap();
      await this.accumulateResources(ra, [entry], field);
      for (const r of ra.list) out.push({ obj: normalizePluginConfig(r.obj), source: r.source, originPath: r.origin?.path ?? this.originPath(entry) });
    }
    return out;
  }

  private async runBuiltinTransformer(ra: ResMap, cfg: KubeObject, source: string): Promise<void> {
    const kind = str(cfg['kind']);
    const apiVersion = str(cfg['apiVersion']);
    const meta = isPlainObject(cfg['metadata']) ? cfg['metadata'] : {};
    if (apiVersion !== 'builtin' && !apiVersion.startsWith('builtin/')) {
      const annotations = isPlainObject(meta['annotations']) ? meta['annotations'] : {};
      if ('config.kubernetes.io/function' in annotations || 'config.k8s.io/function' in annotations) {
        fail('UNSUPPORTED', `${source}: transformer ${kind}/${str(meta['name'])}: KRM function plugins are not supported`);
      }
      fail('UNSUPPORTED', `${source}: transformer ${apiVersion}/${kind}: only built-in transformers (apiVersion: builtin) are supported`);
    }
    const fss = fieldSpecList(cfg['fieldSpecs'], `${source}: fieldSpecs`);
    switch (kind) {
      case 'LabelTransformer':
        setMapEntries(ra, stringMap(cfg['labels'], `${source}: labels`), fss);
        return;
      case 'AnnotationsTransformer':
        setMapEntries(ra, stringMap(cfg['annotations'], `${source}: annotations`), fss);
        return;
      case 'NamespaceTransformer': {
        const o: Parameters<typeof transformNamespace>[1] = { namespace: str(meta['namespace']), fieldSpecs: fss, unsetOnly: cfg['unsetOnly'] === true };
        if (typeof cfg['setRoleBindingSubjects'] === 'string') o.setRoleBindingSubjects = cfg['setRoleBindingSubjects'];
        transformNamespace(ra, o);
        return;
      }
      case 'PrefixSuffixTransformer':
      case 'PrefixTransformer':
      case 'SuffixTransformer': {
        const prefix = str(cfg['prefix']);
        const suffix = str(cfg['suffix']);
        if (kind !== 'SuffixTransformer' && (kind === 'PrefixTransformer' || prefix)) transformPrefixSuffix(ra, prefix, 'prefix', fss);
        if (kind !== 'PrefixTransformer' && (kind === 'SuffixTransformer' || suffix)) transformPrefixSuffix(ra, suffix, 'suffix', fss);
        return;
      }
      case 'ImageTagTransformer': {
        const it = isPlainObject(cfg['imageTag']) ? cfg['imageTag'] : {};
        transformImage(ra, this.imageArgs(it, `${source}: imageTag`), fss.length > 0 ? fss : this.cfg(ra).images);
        return;
      }
      case 'ReplicaCountTransformer': {
        const rep = isPlainObject(cfg['replica']) ? cfg['replica'] : {};
        const count = rep['count'];
        if (typeof count !== 'number') fail('INVALID_KUSTOMIZATION', `${source}: replica.count: expected an integer`);
        transformReplicas(ra, str(rep['name']), count, fss);
        return;
      }
      case 'PatchTransformer':
        await this.applyPatchEntry(ra, cfg, source);
        return;
      case 'PatchStrategicMergeTransformer': {
        const paths = Array.isArray(cfg['paths']) ? cfg['paths'].map(String) : [];
        const texts: Array<{ text: string; source: string }> = [];
        for (const p of paths) texts.push(await this.patchText(p, `${source}: paths`, false));
        if (typeof cfg['patches'] === 'string' && cfg['patches'] !== '') texts.push({ text: cfg['patches'], source: `${source}: patches` });
        if (texts.length === 0) fail('INVALID_KUSTOMIZATION', `${source}: empty file path and empty patch content`);
        const docs = texts.flatMap((t) => this.parseSmDocs(t.text, t.source).map((doc) => ({ doc, source: t.source })));
        if (docs.length === 0) fail('INVALID_KUSTOMIZATION', `${source}: patch appears to be empty; files=[${paths.join(' ')}]`);
        for (const { doc, source: from } of docs) {
          const target = ra.getById(patchId(doc), source);
          applySmPatchTo(ra, new Set([target]), doc, { targeted: true }, from);
        }
        return;
      }
      case 'PatchJson6902Transformer': {
        const target = this.selector(cfg['target'], source);
        if (!target) fail('INVALID_KUSTOMIZATION', `${source}: must specify a target`);
        const hasPath = typeof cfg['path'] === 'string' && cfg['path'] !== '';
        const hasOp = typeof cfg['jsonOp'] === 'string' && cfg['jsonOp'] !== '';
        if (hasPath && hasOp) fail('INVALID_KUSTOMIZATION', `${source}: must specify a file path or jsonOp, not both`);
        if (!hasPath && !hasOp) fail('INVALID_KUSTOMIZATION', `${source}: empty file path and empty jsonOp`);
        const t = typeof cfg['jsonOp'] === 'string' ? { text: cfg['jsonOp'], source } : await this.patchText(cfg, source, false);
        const parsed = this.classifyPatch(t.text, t.source, source);
        if (parsed.kind !== 'json') fail('INVALID_KUSTOMIZATION', `${source}: expected a JSON 6902 patch`);
        applyJsonPatchTo(ra.select(target, source), parsed.ops, t.source);
        return;
      }
      case 'ReplacementTransformer': {
        const list = objList(cfg['replacements'], `${source}: replacements`);
        await applyReplacements(ra, await this.loadReplacements(list, 'transformers'), source);
        return;
      }
      case 'HelmChartInflationGenerator':
        fail('UNSUPPORTED', `${source}: helm charts are not supported`);
      default:
        fail('UNSUPPORTED', `${source}: built-in transformer kind "${kind}" is not supported`);
    }
  }
}

function mergeSpecs(a: FieldSpec[], b: FieldSpec[]): FieldSpec[] {
  const out = [...a];
  for (const f of b) {
    if (!out.some((x) => x.path === f.path && (x.group ?? '') === (f.group ?? '') && (x.version ?? '') === (f.version ?? '') && (x.kind ?? '') === (f.kind ?? ''))) out.push(f);
  }
  return out;
}

function patchId(doc: KubeObject) {
  const r = new Resource(doc, 'patch');
  return r.curId();
}

/** Files a directory without a kustomization contributes, as Flux's generated kustomization does. */
async function scanPlainDirectory(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = (await fs.readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name.startsWith('.')) continue;
        if (await findKustomizationFile(p)) out.push(p);
        else await walk(p);
      } else if (e.isFile() && /\.ya?ml$/i.test(e.name)) {
        out.push(p);
      }
    }
  };
  await walk(dir);
  return out.map((p) => path.relative(dir, p));
}

function sortOptionsOf(k: Kustomization, file: string): { order: 'legacy' | 'fifo'; first: string[]; last: string[] } {
  const so = k['sortOptions'];
  if (so === undefined || so === null) return { order: 'legacy', first: DEFAULT_ORDER_FIRST, last: DEFAULT_ORDER_LAST };
  if (!isPlainObject(so)) fail('INVALID_KUSTOMIZATION', `${file}: sortOptions: expected a map`);
  const order = so['order'];
  if (order === 'fifo') {
    if (so['legacySortOptions'] !== undefined) fail('INVALID_KUSTOMIZATION', `${file}: sortOptions: legacySortOptions can only be used with order: legacy`);
    return { order: 'fifo', first: [], last: [] };
  }
  if (order !== 'legacy' && order !== undefined) fail('INVALID_KUSTOMIZATION', `${file}: sortOptions.order: "${String(order)}" is not legacy or fifo`);
  const lso = isPlainObject(so['legacySortOptions']) ? so['legacySortOptions'] : undefined;
  if (!lso) return { order: 'legacy', first: DEFAULT_ORDER_FIRST, last: DEFAULT_ORDER_LAST };
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return { order: 'legacy', first: list(lso['orderFirst']), last: list(lso['orderLast']) };
}

/**
 * Objects annotated `config.kubernetes.io/local-config` (with any value but "false") take part
 * in the build — as sources of replacements and name references — and are left out of its
 * output, as kustomize does at the very end.
 */
function isLocalConfig(r: Resource): boolean {
  const meta = r.obj['metadata'];
  const annotations = isPlainObject(meta) ? meta['annotations'] : undefined;
  if (!isPlainObject(annotations) || !Object.prototype.hasOwnProperty.call(annotations, LOCAL_CONFIG)) return false;
  return annotationText(annotations, LOCAL_CONFIG, annotations[LOCAL_CONFIG]) !== 'false';
}

const LOCAL_CONFIG = 'config.kubernetes.io/local-config';

/**
 * The objects as kustomize prints them: at the end of a build kustomize re-sets each object's
 * annotations (removing its build annotations), which writes every value as a string made from
 * its YAML text (1.50 → "1.50", null → "null", a map or list → "") and drops an empty or null
 * annotations map.
 */
function finalize(resources: Resource[]): KubeObject[] {
  return resources.map((r) => {
    const meta = r.obj['metadata'];
    if (!isPlainObject(meta) || !Object.prototype.hasOwnProperty.call(meta, 'annotations')) return r.obj;
    const annotations = meta['annotations'];
    if (annotations === null || (isPlainObject(annotations) && Object.keys(annotations).length === 0)) {
      delete meta['annotations'];
    } else if (isPlainObject(annotations)) {
      for (const [key, value] of Object.entries(annotations)) {
        const text = annotationText(annotations, key, value);
        if (text !== value) setOwn(annotations, key, text);
      }
    }
    return r.obj;
  });
}

function annotationText(owner: Record<string, unknown>, key: string, value: unknown): string {
  const text = scalarSource(owner, key);
  if (text !== undefined) return text;
  if (typeof value === 'string') return value;
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' || typeof value === 'bigint') return formatNumber(value);
  return '';
}

/**
 * Builds a kustomization directory, a directory of plain YAML (all files, recursively), or a
 * single YAML file, and returns kustomize's output: the YAML text and the objects.
 */
export async function build(target: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const ctx: Ctx = { signal: opts.signal, stack: [] };
  const abs = path.resolve(target);
  const st = await statOrUndefined(abs);
  if (!st) fail('NOT_FOUND', `building ${target}: no such file or directory`);
  if (opts.boundary !== undefined) {
    ctx.boundary = await fs.realpath(opts.boundary).catch((err: unknown) => fail('NOT_FOUND', `building ${target}: boundary ${opts.boundary ?? ''}: no such directory`, err));
    const real = await fs.realpath(abs);
    if (!isWithin(real, ctx.boundary)) fail('INVALID_KUSTOMIZATION', `building ${target}: security; '${abs}' is not in or below the boundary '${ctx.boundary}'`);
  }
  let resources: Resource[];
  let buildMetadata: string[] = [];
  const warnings: string[] = [];
  let sort: ReturnType<typeof sortOptionsOf> = { order: 'legacy', first: DEFAULT_ORDER_FIRST, last: DEFAULT_ORDER_LAST };
  if (st.isDirectory()) {
    const dir = await fs.realpath(abs);
    const file = await findKustomizationFile(dir);
    let t: Target;
    if (file) {
      const k = await readKustomization(file, dir);
      // A Component at the root builds like a Kustomization (kustomize starts it on an empty set of
      // resources, as it does a component without a parent); only its apiVersion differs.
      buildMetadata = Array.isArray(k['buildMetadata']) ? k['buildMetadata'].map(String) : [];
      if (buildMetadata.includes('managedByLabel')) {
        fail('UNSUPPORTED', `${file}: field "buildMetadata": managedByLabel is not supported (originAnnotations and transformerAnnotations are)`);
      }
      if (buildMetadata.length > 0) ctx.origins = { root: dir };
      t = new Target(dir, file, k, { ...ctx, stack: [dir] });
      sort = sortOptionsOf(k, file);
    } else {
      const files = await scanPlainDirectory(dir);
      t = new Target(dir, path.join(dir, '(generated kustomization)'), { resources: files }, { ...ctx, stack: [dir] });
    }
    const ra = await t.accumulate(new ResMap());
    addHashSuffixes(ra);
    fixNameReferences(ra, t.cfg(ra).nameReference);
    resolveVars(ra, t.cfg(ra).varReference);
    warnings.push(...t.warnings);
    resources = ra.list.filter((r) => !isLocalConfig(r));
    if (buildMetadata.length > 0) writeBuildMetadata(resources, buildMetadata);
    delete ctx.origins;
  } else {
    const ra = new ResMap();
    ra.appendAll(await loadResourceFile(abs, `building ${target}`, ctx.boundary));
    resources = ra.list.filter((r) => !isLocalConfig(r));
  }
  if (sort.order === 'legacy') resources = legacySort(resources, sort.first, sort.last);

  if (opts.patches && opts.patches.length > 0) {
    // Extra patches apply on top of the build, as a kustomization whose resources are its output.
    let ra = new ResMap();
    for (const obj of finalize(resources)) ra.append(new Resource(obj, `building ${target}`));
    for (const patchFile of opts.patches) {
      ctx.signal?.throwIfAborted();
      const pf = path.resolve(patchFile);
      const k = await readKustomization(pf);
      for (const key of Object.keys(k)) {
        if (!['apiVersion', 'kind', 'metadata', 'patches', 'patchesStrategicMerge', 'patchesJson6902'].includes(key)) {
          fail('INVALID_KUSTOMIZATION', `${pf}: field "${key}" is not allowed in a --patch file (only patches, patchesStrategicMerge and patchesJson6902)`);
        }
      }
      const t = new Target(await fs.realpath(path.dirname(pf)), pf, k, ctx);
      const next = new ResMap();
      next.list = ra.list;
      await t.accumulate(next);
      warnings.push(...t.warnings);
      ra = next;
    }
    resources = legacySort(ra.list);
  }
  const objects = finalize(resources);
  return { yaml: formatManifests(objects), resources: objects, warnings };
}
