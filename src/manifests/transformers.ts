// kustomize's built-in transformers, operating on a ResMap.
import { ManifestError } from './errors.js';
import { contentHash } from './generators.js';
import { applyJson6902, applyKustomizeSmPatch } from './patch/index.js';
import type { ResMap, Selector } from './resmap.js';
import {
  effectiveNamespace,
  FieldPathError,
  fieldSpecMatches,
  gvkOf,
  gvkSelected,
  idKey,
  idString,
  isClusterScoped,
  metadataOf,
  parseApiVersion,
  Resource,
  splitPath,
  str,
  visitField,
  type FieldSpec,
  type Gvk,
  type ResId,
} from './resource.js';
import { NAME_REFERENCES } from './config/namereference.js';
import type { KubeObject } from './types.js';
import { carryScalarSources, isPlainObject, isQuotedString, scalarSource, wasWrittenEmpty } from './yaml.js';

function describeFieldError(err: unknown, fs: FieldSpec, r: Resource): never {
  if (err instanceof FieldPathError) {
    throw new ManifestError('INVALID_KUSTOMIZATION', `considering field '${fs.path}' of object ${idString(r.curId())}: ${err.message}`);
  }
  throw err;
}

/** Sets string entries into the map at each field spec (labels, annotations, selectors). */
export function setMapEntries(m: ResMap, entries: Record<string, string>, specs: FieldSpec[]): void {
  if (Object.keys(entries).length === 0) return;
  for (const r of m.list) {
    for (const fs of specs) {
      if (!fieldSpecMatches(fs, r.obj)) continue;
      try {
        visitField(r.obj, splitPath(fs.path), fs.create, (parent, key) => {
          let target = parent[key];
          if (target === null || target === undefined) {
            if (!fs.create) return;
            target = {};
            parent[key] = target;
          }
          if (!isPlainObject(target)) throw new FieldPathError(`expected a map at ${fs.path}`);
          for (const [k, v] of Object.entries(entries)) target[k] = v;
        }, () => ({}));
      } catch (err) {
        describeFieldError(err, fs, r);
      }
    }
  }
}

export interface NamespaceOptions {
  namespace: string;
  fieldSpecs: FieldSpec[];
  unsetOnly?: boolean;
  setRoleBindingSubjects?: string;
}

export function transformNamespace(m: ResMap, o: NamespaceOptions): void {
  if (!o.namespace) return;
  const mode = o.setRoleBindingSubjects || 'defaultOnly';
  if (!['defaultOnly', 'none', 'allServiceAccounts'].includes(mode)) {
    throw new ManifestError('INVALID_KUSTOMIZATION', `invalid value "${mode}" for setRoleBindingSubjects: must be one of "defaultOnly", "none" or "allServiceAccounts"`);
  }
  const setIn = (parent: Record<string, unknown>, key: string) => {
    if (o.unsetOnly && str(parent[key]) !== '') return;
    parent[key] = o.namespace;
  };
  for (const r of m.list) {
    if (Object.keys(r.obj).length === 0) continue;
    r.storePreviousId();
    const gvk = r.gvk;
    if (!isClusterScoped(gvk)) {
      const meta = (isPlainObject(r.obj['metadata']) ? r.obj['metadata'] : (r.obj['metadata'] = {})) as Record<string, unknown>;
      setIn(meta, 'namespace');
    }
    const apiVersion = str(r.obj['apiVersion']);
    if (gvk.kind === 'RoleBinding' || gvk.kind === 'ClusterRoleBinding') {
      const subjects = r.obj['subjects'];
      if (Array.isArray(subjects) && mode !== 'none') {
        for (const s of subjects) {
          if (!isPlainObject(s)) continue;
          if (mode === 'defaultOnly' && s['name'] !== 'default') continue;
          if (mode === 'allServiceAccounts' && s['kind'] !== 'ServiceAccount') continue;
          setIn(s, 'namespace');
        }
      }
    }
    for (const fs of o.fieldSpecs) {
      if (fs.path === 'metadata/namespace') continue;
      if (fs.path === 'metadata/name' && apiVersion !== 'v1') continue;
      if ((gvk.kind === 'RoleBinding' || gvk.kind === 'ClusterRoleBinding') && fs.path === 'subjects/namespace') continue;
      if (!fieldSpecMatches(fs, r.obj)) continue;
      try {
        visitField(r.obj, splitPath(fs.path), fs.create, (parent, key) => {
          const current = parent[key];
          if (typeof current === 'object' && current !== null) {
            throw new ManifestError('INVALID_KUSTOMIZATION', `${r.source}: namespace field specs must target scalar nodes: considering field '${fs.path}' of object ${idString(r.curId())}: expected a scalar but got a ${Array.isArray(current) ? 'list' : 'map'}`);
          }
          setIn(parent, key);
        }, () => '');
      } catch (err) {
        describeFieldError(err, fs, r);
      }
    }
  }
  const seen = new Set<string>();
  for (const r of m.list) {
    const id = r.curId();
    const key = idKey(id);
    if (seen.has(key)) throw new ManifestError('CONFLICT', `namespace transformation produces ID conflict: ${idString(id)}`);
    seen.add(key);
  }
}

const PREFIX_SKIP: Partial<Gvk>[] = [{ kind: 'CustomResourceDefinition' }, { group: 'apiregistration.k8s.io', kind: 'APIService' }, { kind: 'Namespace' }];

export function transformPrefixSuffix(m: ResMap, affix: string, where: 'prefix' | 'suffix', specs: FieldSpec[]): void {
  for (const r of m.list) {
    const org = r.orgId();
    if (PREFIX_SKIP.some((s) => gvkSelected(org, s))) continue;
    for (const fs of specs) {
      if (!gvkSelected(org, fs)) continue;
      if (fs.path === 'metadata/name') {
        if (affix !== '') {
          if (where === 'prefix') r.prefixes.push(affix);
          else r.suffixes.push(affix);
          r.storePreviousId();
        }
      }
      if (!fieldSpecMatches(fs, r.obj)) continue;
      try {
        visitField(r.obj, splitPath(fs.path), fs.create, (parent, key) => {
          const v = parent[key];
          if (v === null || v === undefined) return;
          parent[key] = where === 'prefix' ? affix + str(v) : str(v) + affix;
        }, () => '');
      } catch (err) {
        describeFieldError(err, fs, r);
      }
    }
  }
}

export interface ImageArgs {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
  tagSuffix?: string;
}

/** Splits an image reference into name, tag and digest as kustomize does. */
export function splitImage(image: string): { name: string; tag: string; digest: string } {
  let search = image;
  let slash = image.indexOf('/');
  if (slash > 0) search = image.slice(slash);
  else slash = 0;
  let id = search.indexOf('@');
  let ic = search.indexOf(':');
  if (ic < 0 && id < 0) return { name: image, tag: '', digest: '' };
  if (id >= 0 && (id < ic || ic < 0)) {
    id += slash;
    return { name: image.slice(0, id), tag: '', digest: image.slice(id + 1) };
  }
  if (id >= 0 && ic >= 0) {
    id += slash;
    ic += slash;
    return { name: image.slice(0, ic), tag: image.slice(ic + 1, id), digest: image.slice(id + 1) };
  }
  ic += slash;
  return { name: image.slice(0, ic), tag: image.slice(ic + 1), digest: '' };
}

function updateImage(value: string, img: ImageArgs, pattern: RegExp): string {
  if (!pattern.test(value)) return value;
  let { name, tag, digest } = splitImage(value);
  if (img.newName) name = img.newName;
  if (img.newTag && img.digest) {
    tag = img.newTag;
    digest = img.digest;
  } else if (img.newTag) {
    tag = img.newTag;
    digest = '';
  } else if (img.digest) {
    tag = '';
    digest = img.digest;
  } else if (img.tagSuffix) {
    tag += img.tagSuffix;
    digest = '';
  }
  if (tag) name += ':' + tag;
  if (digest) name += '@' + digest;
  return name;
}

export function transformImage(m: ResMap, img: ImageArgs, specs: FieldSpec[]): void {
  let pattern: RegExp;
  try {
    pattern = new RegExp('^' + img.name + '(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$');
  } catch (err) {
    throw new ManifestError('INVALID_KUSTOMIZATION', `images: invalid image name "${img.name}"`, { cause: err });
  }
  const setContainerImages = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const c of list) {
      if (!isPlainObject(c)) continue;
      if (typeof c['image'] === 'string') c['image'] = updateImage(c['image'], img, pattern);
    }
  };
  for (const r of m.list) {
    if (r.kind === 'CustomResourceDefinition') continue;
    // Legacy pass: every "containers"/"initContainers" list anywhere in the object.
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const x of node) walk(x);
        return;
      }
      if (!isPlainObject(node)) return;
      for (const [k, v] of Object.entries(node)) {
        walk(v);
        if (k === 'containers' || k === 'initContainers') setContainerImages(v);
      }
    };
    walk(r.obj);
    for (const fs of specs) {
      if (!fieldSpecMatches(fs, r.obj)) continue;
      try {
        visitField(r.obj, splitPath(fs.path), false, (parent, key) => {
          const v = parent[key];
          if (typeof v === 'string') parent[key] = updateImage(v, img, pattern);
        });
      } catch (err) {
        describeFieldError(err, fs, r);
      }
    }
  }
}

export function transformReplicas(m: ResMap, name: string, count: number, specs: FieldSpec[]): void {
  let found = false;
  for (const fs of specs) {
    const matches = m.list.filter((r) => r.allIds().some((id) => id.name === name && gvkSelected(id, fs)));
    if (matches.length === 0) continue;
    found = true;
    for (const r of matches) {
      if (!fieldSpecMatches(fs, r.obj)) continue;
      visitField(r.obj, splitPath(fs.path), fs.create, (parent, key) => {
        parent[key] = count;
      }, () => count);
    }
  }
  if (!found) {
    const gvks = specs.map((s) => `${s.kind || '~K'}.${s.version || '~V'}.${s.group || '~G'}`);
    throw new ManifestError('NO_MATCH', `replicas: resource with name ${name} does not match a config with the following GVK [${gvks.join(' ')}]`);
  }
}

// ---------------------------------------------------------------------------------------------
// Patches

export type ParsedPatch =
  | { kind: 'sm'; docs: KubeObject[] }
  | { kind: 'json'; ops: unknown[] };

function isEmptyResult(obj: unknown): boolean {
  return obj === null || obj === undefined || (isPlainObject(obj) && Object.keys(obj).length === 0);
}

/**
 * Applies one strategic merge patch document to the selected resources (kustomize's
 * ApplySmPatch). `targeted` is true for a `patches:` entry with a `target:` and for every legacy
 * `patchesStrategicMerge` entry: kustomize then patches with a copy carrying the target's
 * apiVersion, name and namespace and the patch's labels and annotations as strings.
 */
export function applySmPatchTo(m: ResMap, selected: Set<Resource>, patch: KubeObject, options: { allowNameChange?: boolean; allowKindChange?: boolean; targeted?: boolean }, source: string): void {
  const kept: Resource[] = [];
  for (const r of m.list) {
    if (selected.has(r)) {
      if (options.allowNameChange || options.allowKindChange) r.storePreviousId();
      let p = patch;
      if (!options.targeted) {
        // The patch takes the target's group/version, keeping its own kind.
        p = { ...patch, apiVersion: r.obj['apiVersion'] };
      }
      let result: Record<string, unknown>;
      try {
        result = applyKustomizeSmPatch(r.obj, p, {
          source,
          targeted: options.targeted === true,
          allowNameChange: options.allowNameChange === true,
          allowKindChange: options.allowKindChange === true,
          emptyNull: wasWrittenEmpty,
          carry: carryScalarSources,
          scalarText: scalarSource,
          quoted: isQuotedString,
        });
      } catch (err) {
        throw new ManifestError('PATCH_FAILED', `applying patch ${source} to ${idString(r.curId())}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (isEmptyResult(result)) continue; // $patch: delete
      r.obj = result;
    }
    kept.push(r);
  }
  m.list = kept;
}

export function applyJsonPatchTo(resources: Resource[], ops: unknown[], source: string): void {
  for (const r of resources) {
    r.storePreviousId();
    try {
      r.obj = applyJson6902(r.obj, ops, { source });
    } catch (err) {
      throw new ManifestError('PATCH_FAILED', `applying JSON patch ${source} to ${idString(r.curId())}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Name references

export interface Referrer extends FieldSpec {
  target: Partial<Gvk>;
}

let referrerCache: Referrer[] | undefined;
function referrers(): Referrer[] {
  if (referrerCache) return referrerCache;
  const out: Referrer[] = [];
  for (const [target, specs] of NAME_REFERENCES) {
    const [group = '', version = '', kind = ''] = target.split('/');
    for (const s of specs) {
      const colon = s.indexOf(':');
      const [g = '', v = '', k = ''] = s.slice(0, colon).split('/');
      out.push({ group: g, version: v, kind: k, path: s.slice(colon + 1), create: false, target: { group, version, kind } });
    }
  }
  referrerCache = out;
  return out;
}

function sameEndingSubSlice(a: string[], b: string[]): boolean {
  let shortest = a;
  let longest = b;
  if (shortest.length > longest.length) [shortest, longest] = [longest, shortest];
  const diff = longest.length - shortest.length;
  if (shortest.length === 0) return diff === 0;
  for (let i = shortest.length - 1; i >= 0; i--) if (longest[i + diff] !== shortest[i]) return false;
  return true;
}

function prefixesSuffixesEqual(r: Resource, o: Resource, allowEmpty: boolean): boolean {
  if (allowEmpty) {
    const eitherPrefixEmpty = r.prefixes.length === 0 || o.prefixes.length === 0;
    const eitherSuffixEmpty = r.suffixes.length === 0 || o.suffixes.length === 0;
    return (eitherPrefixEmpty || sameEndingSubSlice(r.prefixes, o.prefixes)) && (eitherSuffixEmpty || sameEndingSubSlice(r.suffixes, o.suffixes));
  }
  return sameEndingSubSlice(r.prefixes, o.prefixes) && sameEndingSubSlice(r.suffixes, o.suffixes);
}

function roleBindingNamespaces(r: Resource): Set<string> {
  const out = new Set<string>();
  if (r.kind !== 'RoleBinding') return out;
  const subjects = r.obj['subjects'];
  if (!Array.isArray(subjects)) return out;
  for (const s of subjects) {
    if (!isPlainObject(s) || s['kind'] !== 'ServiceAccount' || !Object.prototype.hasOwnProperty.call(s, 'namespace')) continue;
    const ns = s['namespace'];
    if (typeof ns !== 'string') {
      throw new ManifestError('INVALID_KUSTOMIZATION', `${r.source}: Invalid Input: namespace is blank for resource ${idString(r.curId())} (a ServiceAccount subject with namespace ${ns === null ? 'empty' : String(ns)})`);
    }
    out.add(ns);
  }
  return out;
}

/** kustomize's built-in name-reference configuration. */
export function defaultNameReferences(): Referrer[] {
  return referrers();
}

/** Updates references to renamed objects everywhere kustomize does (its nameReference config). */
export function fixNameReferences(m: ResMap, refs: Referrer[] = referrers()): void {
  const all = m.list;
  // Ids do not change while references are fixed: compute them once.
  const info = new Map<Resource, { cur: ResId; ens: string; cluster: boolean }>();
  const byNs = new Map<string, Resource[]>();
  const clusterScoped: Resource[] = [];
  for (const t of all) {
    const cur = t.curId();
    const cluster = isClusterScoped(cur);
    const ens = effectiveNamespace(cur);
    info.set(t, { cur, ens, cluster });
    if (cluster) clusterScoped.push(t);
    else {
      const list = byNs.get(ens) ?? [];
      list.push(t);
      byNs.set(ens, list);
    }
  }
  // Referral candidates by every name they had before renames.
  const byPrevName = new Map<string, Resource[]>();
  for (const t of all) {
    for (const name of new Set(t.prevIds.map((id) => id.name))) {
      const list = byPrevName.get(name) ?? [];
      list.push(t);
      byPrevName.set(name, list);
    }
  }
  const poolCache = new WeakMap<Resource[], Set<Resource>>();
  const refsByKind = new Map<string, Referrer[]>();
  for (const r of all) {
    const org = r.orgId();
    const kindKey = `${org.group}/${org.version}/${org.kind}`;
    let mine = refsByKind.get(kindKey);
    if (!mine) {
      mine = refs.filter((f) => gvkSelected(org, f));
      refsByKind.set(kindKey, mine);
    }
    if (mine.length === 0) continue;
    const { cur, ens: curEns, cluster: curCluster } = info.get(r) as { cur: ResId; ens: string; cluster: boolean };
    let candidates: Resource[];
    if (curCluster) candidates = all;
    else {
      const rbNs = roleBindingNamespaces(r);
      const set = new Set<Resource>([...clusterScoped, ...(byNs.get(curEns) ?? [])]);
      if (rbNs.size > 0) for (const t of all) if (rbNs.has(t.namespace)) set.add(t);
      candidates = all.filter((t) => set.has(t));
    }
    for (const f of mine) {
      // Chosen by the referrer's original id; kustomize then applies the spec whatever the
      // referrer's kind is now (a patch may have changed it).
      const select = (oldName: string, cands: Resource[], identical: (rs: Resource[]) => boolean): Resource | undefined => {
        const named = byPrevName.get(oldName);
        if (!named) return undefined;
        let pool = poolCache.get(cands);
        if (!pool) {
          pool = new Set(cands);
          poolCache.set(cands, pool);
        }
        let c = named.filter((t) => pool.has(t));
        c = c.filter((t) => t.prevIds.some((id) => gvkSelected(id, f.target)));
        if (f.path.endsWith('roleRef/name')) {
          const roleRef = r.obj['roleRef'];
          if (isPlainObject(roleRef) && roleRef['apiGroup'] !== undefined && roleRef['kind'] !== undefined) {
            const sel = { group: str(roleRef['apiGroup']), kind: str(roleRef['kind']) };
            c = c.filter((t) => t.prevIds.some((id) => gvkSelected(id, sel)));
          }
        }
        if (!curCluster) {
          c = c.filter((t) => {
            const ti = info.get(t);
            return ti === undefined || ti.cluster || t.kind === 'ServiceAccount' || ti.ens === curEns;
          });
        }
        if (c.length === 1) return c[0];
        c = c.filter((t) => prefixesSuffixesEqual(t, r, true));
        if (c.length > 1) c = c.filter((t) => prefixesSuffixesEqual(t, r, false));
        if (c.length === 1) return c[0];
        if (c.length === 0) return undefined;
        if (identical(c)) return c[0];
        throw new ManifestError('CONFLICT', `updating name reference in '${f.path}' field of '${idString(cur)}': found multiple possible referrals: ${c.map((x) => idString(x.curId())).join(', ')}`);
      };
      const setScalar = (parent: Record<string, unknown> | unknown[], key: string | number) => {
        const value = (parent as Record<string, unknown>)[key as string];
        if (typeof value !== 'string') return;
        const ref = select(value, candidates, (rs) => rs.every((x) => x.name === rs[0]?.name));
        if (!ref || ref.name === value) return;
        (parent as Record<string, unknown>)[key as string] = ref.name;
      };
      const setMapping = (node: Record<string, unknown>) => {
        if (!('name' in node)) throw new ManifestError('INVALID_KUSTOMIZATION', `updating name reference in '${f.path}' field of '${idString(cur)}': path config error; no 'name' field in node`);
        let cands = candidates;
        if ('namespace' in node) {
          const ns = str(node['namespace']);
          const nonCluster = candidates.filter((t) => !isClusterScoped(t.gvk));
          const byOrg = nonCluster.filter((t) => effectiveNamespace(t.orgId()) === ns);
          cands = byOrg.length > 0 ? byOrg : nonCluster.filter((t) => effectiveNamespace(t.curId()) === ns);
        }
        const oldName = str(node['name']);
        const ref = select(oldName, cands, (rs) => rs.every((x) => x.name === rs[0]?.name && x.namespace === rs[0]?.namespace));
        if (!ref) return;
        if (ref.name === oldName && ref.namespace === '') return;
        node['name'] = ref.name;
        if (ref.namespace === '') return;
        node['namespace'] = ref.namespace;
      };
      try {
        visitField(r.obj, splitPath(f.path), false, (parent, key) => {
          const v = parent[key];
          if (v === null || v === undefined) return;
          if (typeof v === 'string') setScalar(parent, key);
          else if (isPlainObject(v)) setMapping(v);
          else if (Array.isArray(v)) {
            v.forEach((el, i) => {
              if (typeof el === 'string') setScalar(v, i);
              else if (isPlainObject(el)) setMapping(el);
            });
          }
        });
      } catch (err) {
        describeFieldError(err, f, r);
      }
    }
  }
}

/** Appends kustomize's content hash to generated ConfigMaps and Secrets. */
export function addHashSuffixes(m: ResMap): void {
  for (const r of m.list) {
    if (!r.needsHash) continue;
    const hash = contentHash(r.obj);
    r.storePreviousId();
    r.setName(`${r.name}-${hash}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Output order

export const DEFAULT_ORDER_FIRST = [
  'Namespace', 'ResourceQuota', 'StorageClass', 'CustomResourceDefinition', 'ServiceAccount', 'PodSecurityPolicy',
  'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Secret', 'Endpoints', 'Service',
  'LimitRange', 'PriorityClass', 'PersistentVolume', 'PersistentVolumeClaim', 'Deployment', 'StatefulSet',
  'CronJob', 'PodDisruptionBudget',
];
export const DEFAULT_ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

function gvkSortString(g: Gvk): string {
  return `${g.group || '~G'}_${g.version || '~V'}_${g.kind || '~K'}`;
}

function byteCompare(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const DEFAULT_KIND_ORDER = new Map<string, number>([
  ...DEFAULT_ORDER_FIRST.map((k, i): [string, number] => [k, -DEFAULT_ORDER_FIRST.length + i]),
  ...DEFAULT_ORDER_LAST.map((k, i): [string, number] => [k, 1 + i]),
]);

/** kyaml's Gvk.IsLessThan as a comparator: kinds in the default legacy order, then group_version_kind. */
export function compareGvk(a: Partial<Gvk>, b: Partial<Gvk>): number {
  const ia = DEFAULT_KIND_ORDER.get(a.kind ?? '') ?? 0;
  const ib = DEFAULT_KIND_ORDER.get(b.kind ?? '') ?? 0;
  if (ia !== ib) return ia - ib;
  const norm = (g: Partial<Gvk>): Gvk => ({ group: g.group ?? '', version: g.version ?? '', kind: g.kind ?? '' });
  return byteCompare(gvkSortString(norm(a)), gvkSortString(norm(b)));
}

/** kustomize's legacy output order: kinds in a fixed order, then group/version/kind, namespace, name. */
export function legacySort(resources: Resource[], orderFirst = DEFAULT_ORDER_FIRST, orderLast = DEFAULT_ORDER_LAST): Resource[] {
  const order = new Map<string, number>();
  orderFirst.forEach((k, i) => order.set(k, -orderFirst.length + i));
  orderLast.forEach((k, i) => order.set(k, 1 + i));
  const keyed = resources.map((r) => {
    const id = r.curId();
    const g: Gvk = { group: id.group, version: id.version, kind: id.kind };
    const gvkStr = `${g.kind || '~K'}_${g.version || '~V'}_${g.group || '~G'}`;
    return { r, g, idx: order.get(g.kind) ?? 0, sortGvk: gvkSortString(g), legacy: `${gvkStr}|${id.namespace || '~X'}|${id.name || '~N'}` };
  });
  keyed.sort((a, b) => {
    const sameGvk = a.g.group === b.g.group && a.g.version === b.g.version && a.g.kind === b.g.kind;
    if (!sameGvk) {
      if (a.idx !== b.idx) return a.idx - b.idx;
      if (a.g.kind === 'Namespace' && b.g.kind === 'Namespace' && (a.g.group === '' || b.g.group === '')) return -byteCompare(a.sortGvk, b.sortGvk);
      return byteCompare(a.sortGvk, b.sortGvk);
    }
    return byteCompare(a.legacy, b.legacy);
  });
  return keyed.map((k) => k.r);
}

export { gvkOf, metadataOf, parseApiVersion };
export type { Selector };
