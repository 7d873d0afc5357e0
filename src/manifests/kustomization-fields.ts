// The fields a kustomization file may hold, at every level, as kustomize v5.5 reads it: its
// Kustomization type decoded from JSON with unknown fields refused (so a misspelt field
// anywhere, e.g. in a `labels` entry, fails) and field names matched without regard to case,
// as Go's JSON decoding does (`nameprefix:` sets namePrefix). Duplicate keys are allowed; the
// last one wins, and of two spellings of one field the one later in byte order.
import { ManifestError } from './errors.js';
import { isPlainObject, setOwn } from './yaml.js';

type Shape = 'value' | { list: Shape } | { fields: Record<string, Shape> };

const fields = (f: Record<string, Shape>): Shape => ({ fields: f });
const list = (s: Shape): Shape => ({ list: s });
const V: Shape = 'value';

const GVK = { group: V, version: V, kind: V };
const FIELD_SPEC = fields({ ...GVK, path: V, create: V });
const SELECTOR = fields({ ...GVK, name: V, namespace: V, annotationSelector: V, labelSelector: V });
const PATCH = fields({ path: V, patch: V, target: SELECTOR, options: V });
const GENERATOR_OPTIONS = fields({ labels: V, annotations: V, disableNameSuffixHash: V, immutable: V });
const GENERATOR = { namespace: V, name: V, behavior: V, literals: V, files: V, envs: V, env: V, options: GENERATOR_OPTIONS };
const IMAGE = fields({ name: V, newName: V, tagSuffix: V, newTag: V, digest: V });
const FIELD_OPTIONS = fields({ delimiter: V, index: V, encoding: V, create: V });

const REPLACEMENT = fields({
  path: V,
  source: fields({ ...GVK, name: V, namespace: V, fieldPath: V, options: FIELD_OPTIONS }),
  targets: list(fields({ select: SELECTOR, reject: list(SELECTOR), fieldPaths: V, options: FIELD_OPTIONS })),
});
const KUSTOMIZATION: Shape = fields({
  apiVersion: V,
  kind: V,
  metadata: fields({ name: V, namespace: V, labels: V, annotations: V }),
  openapi: V,
  namePrefix: V,
  nameSuffix: V,
  namespace: V,
  commonLabels: V,
  labels: list(fields({ pairs: V, includeSelectors: V, includeTemplates: V, fields: list(FIELD_SPEC) })),
  commonAnnotations: V,
  patchesStrategicMerge: V,
  patchesJson6902: list(PATCH),
  patches: list(PATCH),
  images: list(IMAGE),
  imageTags: list(IMAGE),
  replacements: list(REPLACEMENT),
  replicas: list(fields({ name: V, count: V })),
  vars: list(fields({ name: V, objref: fields({ apiVersion: V, ...GVK, name: V, namespace: V }), fieldref: fields({ fieldPath: V }) })),
  sortOptions: fields({ order: V, legacySortOptions: fields({ orderFirst: V, orderLast: V }) }),
  resources: V,
  components: V,
  crds: V,
  bases: V,
  configMapGenerator: list(fields(GENERATOR)),
  secretGenerator: list(fields({ ...GENERATOR, type: V })),
  helmGlobals: V,
  helmCharts: V,
  helmChartInflationGenerator: V,
  generatorOptions: GENERATOR_OPTIONS,
  configurations: V,
  generators: V,
  transformers: V,
  validators: V,
  buildMetadata: V,
});

const PLUGIN_BASE = { apiVersion: V, kind: V, metadata: V };
const FIELD_SPECS = list(FIELD_SPEC);
const PLUGINS: Record<string, Record<string, Shape>> = {
  LabelTransformer: { labels: V, fieldSpecs: FIELD_SPECS },
  AnnotationsTransformer: { annotations: V, fieldSpecs: FIELD_SPECS },
  NamespaceTransformer: { fieldSpecs: FIELD_SPECS, unsetOnly: V, setRoleBindingSubjects: V },
  PrefixSuffixTransformer: { prefix: V, suffix: V, fieldSpecs: FIELD_SPECS },
  PrefixTransformer: { prefix: V, fieldSpecs: FIELD_SPECS },
  SuffixTransformer: { suffix: V, fieldSpecs: FIELD_SPECS },
  ImageTagTransformer: { imageTag: IMAGE, fieldSpecs: FIELD_SPECS },
  ReplicaCountTransformer: { replica: fields({ name: V, count: V }), fieldSpecs: FIELD_SPECS },
  PatchTransformer: { path: V, patch: V, target: SELECTOR, options: V },
  PatchJson6902Transformer: { target: SELECTOR, path: V, jsonOp: V },
  PatchStrategicMergeTransformer: { paths: V, patches: V },
  ReplacementTransformer: { replacements: list(REPLACEMENT) },
  SortOrderTransformer: { sortOptions: fields({ order: V, legacySortOptions: fields({ orderFirst: V, orderLast: V }) }) },
  ConfigMapGenerator: GENERATOR,
  IAMPolicyGenerator: { cloud: V, kubernetesService: fields({ name: V, namespace: V }), serviceAccount: fields({ name: V, projectId: V }) },
  SecretGenerator: { ...GENERATOR, type: V },
};

/**
 * A built-in plugin's configuration with field names as kustomize spells them: kustomize reads
 * these through Go's JSON decoding too (field names without regard to case), but leniently —
 * fields it does not know are ignored, and kept here as they are.
 */
export function normalizePluginConfig(config: Record<string, unknown>): Record<string, unknown> {
  const known = PLUGINS[String(config['kind'])];
  if (known === undefined) return config;
  return normalize(config, { fields: { ...PLUGIN_BASE, ...known } }, '', '', false) as Record<string, unknown>;
}

/**
 * Checks a kustomization's fields at every level and returns it with field names as kustomize
 * spells them. Throws INVALID_KUSTOMIZATION naming the file and the unknown field's path.
 */
export function normalizeKustomization(k: Record<string, unknown>, file: string): Record<string, unknown> {
  return normalize(k, KUSTOMIZATION, file, '', true) as Record<string, unknown>;
}

function normalize(value: unknown, shape: Shape, file: string, path: string, strict: boolean): unknown {
  if (shape === 'value') return value;
  if ('list' in shape) {
    if (!Array.isArray(value)) return value;
    return value.map((e, i) => normalize(e, shape.list, file, `${path}[${i}]`, strict));
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  // kustomize turns the YAML into JSON through a Go map, so keys come in byte order, and a later
  // key for the same field (another spelling) wins.
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, v] of entries) {
    const name = Object.prototype.hasOwnProperty.call(shape.fields, key) ? key : Object.keys(shape.fields).find((f) => f.toLowerCase() === key.toLowerCase());
    const where = path === '' ? key : `${path}.${key}`;
    if (name === undefined) {
      if (strict) throw new ManifestError('INVALID_KUSTOMIZATION', `${file}: invalid Kustomization: unknown field "${where}"`);
      setOwn(out, key, v);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(out, name)) delete out[name];
    setOwn(out, name, normalize(v, shape.fields[name] as Shape, file, path === '' ? name : `${path}.${name}`, strict));
  }
  return out;
}
