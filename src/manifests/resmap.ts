// An ordered set of resources with kustomize's id rules (unique current ids, lookups by any
// id a resource ever had, selection by patch targets).
import { ManifestError } from './errors.js';
import { effectiveNamespace, idEquals, idKey, idString, type FieldSpec, type Gvk, type ResId, type Resource } from './resource.js';
import { isPlainObject } from './yaml.js';
import type { VarDef } from './vars.js';

export interface Selector {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
  annotationSelector?: string;
}

function anchored(pattern: string | undefined, field: string): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw new ManifestError('INVALID_KUSTOMIZATION', `target.${field}: invalid regular expression "${pattern}"`, { cause: err });
  }
}

type Requirement = { key: string; op: 'in' | 'notin' | 'exists' | '!'; values: string[] };

/** Parses a Kubernetes label selector ("a=b,c!=d,e in (f,g),!h,i"). */
export function parseLabelSelector(s: string, field = 'labelSelector'): Requirement[] {
  const reqs: Requirement[] = [];
  let i = 0;
  const src = s.trim();
  const fail = (msg: string): never => {
    throw new ManifestError('INVALID_KUSTOMIZATION', `${field}: invalid selector "${s}": ${msg}`);
  };
  const skipWs = () => {
    while (i < src.length && /\s/.test(src[i] as string)) i++;
  };
  const readToken = () => {
    skipWs();
    const m = /^[A-Za-z0-9_.\-/]+/.exec(src.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < src.length) {
    skipWs();
    if (src[i] === '!') {
      i++;
      const key = readToken();
      if (!key) fail('expected a key after "!"');
      reqs.push({ key, op: '!', values: [] });
    } else {
      const key = readToken();
      if (!key) fail(`unexpected character at ${i}`);
      skipWs();
      const rest = src.slice(i);
      if (rest.startsWith('==') || rest.startsWith('!=') || rest.startsWith('=')) {
        const op = rest.startsWith('!=') ? 'notin' : 'in';
        i += rest.startsWith('=') && !rest.startsWith('==') ? 1 : 2;
        skipWs();
        const m = /^[A-Za-z0-9_.\-]*/.exec(src.slice(i));
        const value = m?.[0] ?? '';
        i += value.length;
        reqs.push({ key, op, values: [value] });
      } else if (/^(in|notin)\s*\(/.test(rest)) {
        const op = rest.startsWith('in') ? 'in' : 'notin';
        i += op.length;
        skipWs();
        i++; // (
        const close = src.indexOf(')', i);
        if (close < 0) fail('missing ")"');
        const values = src
          .slice(i, close)
          .split(',')
          .map((v) => v.trim());
        i = close + 1;
        reqs.push({ key, op, values });
      } else {
        reqs.push({ key, op: 'exists', values: [] });
      }
    }
    skipWs();
    if (i < src.length) {
      if (src[i] !== ',') fail(`expected "," at ${i}`);
      i++;
    }
  }
  return reqs;
}

export function matchesSelector(labels: Record<string, string>, reqs: Requirement[]): boolean {
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key] as string);
      case 'notin':
        return !has || !r.values.includes(labels[r.key] as string);
    }
    return false;
  });
}

/** Field specs the built-in transformers use (kustomize's TransformerConfig). */
export interface TransformerConfig {
  namePrefix: FieldSpec[];
  nameSuffix: FieldSpec[];
  namespace: FieldSpec[];
  commonLabels: FieldSpec[];
  templateLabels: FieldSpec[];
  commonAnnotations: FieldSpec[];
  images: FieldSpec[];
  replicas: FieldSpec[];
  /** Referrer field specs, each with the kind it refers to. */
  nameReference: Array<FieldSpec & { target: Partial<Gvk> }>;
  /** Where `$(VAR)` references are substituted. */
  varReference: FieldSpec[];
}

export class ResMap {
  list: Resource[] = [];
  /** Set by the build from the defaults plus the kustomization's `configurations`. */
  config: TransformerConfig | undefined;
  /** The build's vars by name (kustomize's VarSet). */
  vars = new Map<string, VarDef>();

  append(r: Resource): void {
    const id = r.curId();
    const dup = this.list.find((x) => idEquals(x.curId(), id));
    if (dup) {
      throw new ManifestError(
        'DUPLICATE_ID',
        `may not add resource with an already registered id: ${idString(id)} (from ${r.source}; already added from ${dup.source})`,
      );
    }
    this.list.push(r);
  }

  appendAll(rs: Iterable<Resource>): void {
    const seen = new Map<string, Resource>();
    for (const x of this.list) seen.set(idKey(x.curId()), x);
    for (const r of rs) {
      const id = r.curId();
      const key = idKey(id);
      const dup = seen.get(key);
      if (dup) {
        throw new ManifestError(
          'DUPLICATE_ID',
          `may not add resource with an already registered id: ${idString(id)} (from ${r.source}; already added from ${dup.source})`,
        );
      }
      seen.set(key, r);
      this.list.push(r);
    }
  }

  byAnyId(id: ResId): Resource[] {
    return this.list.filter((r) => r.allIds().some((x) => idEquals(x, id)));
  }

  /** kustomize's GetById: exactly one resource must have had this id. */
  getById(id: ResId, what: string): Resource {
    const m = this.byAnyId(id);
    if (m.length === 1) return m[0] as Resource;
    if (m.length === 0) throw new ManifestError('NO_MATCH', `${what}: no resource matches ${idString(id)}`);
    throw new ManifestError('CONFLICT', `${what}: multiple resources match ${idString(id)}`);
  }

  select(s: Selector, where: string): Resource[] {
    const g = anchored(s.group, 'group');
    const v = anchored(s.version, 'version');
    const k = anchored(s.kind, 'kind');
    const n = anchored(s.name, 'name');
    const ns = anchored(s.namespace, 'namespace');
    const ls = s.labelSelector ? parseLabelSelector(s.labelSelector, `${where}.target.labelSelector`) : undefined;
    const as = s.annotationSelector ? parseLabelSelector(s.annotationSelector, `${where}.target.annotationSelector`) : undefined;
    return this.list.filter((r) => {
      const cur = r.curId();
      const org = r.orgId();
      if (ns && !ns.test(effectiveNamespace(org)) && !ns.test(effectiveNamespace(cur))) return false;
      if (n && !n.test(org.name) && !n.test(cur.name)) return false;
      const gvk = r.gvk;
      if (g && !g.test(gvk.group)) return false;
      if (v && !v.test(gvk.version)) return false;
      if (k && !k.test(gvk.kind)) return false;
      if (ls && !matchesSelector(r.labels(), ls)) return false;
      if (as && !matchesSelector(r.annotations(), as)) return false;
      return true;
    });
  }

  /** Adds a generated resource, honouring behavior create/merge/replace. */
  absorb(res: Resource): void {
    const id = res.curId();
    const matches = this.byAnyId(id);
    if (matches.length === 0) {
      if (res.behavior === 'merge' || res.behavior === 'replace') {
        throw new ManifestError('NO_MATCH', `${res.source}: id ${idString(id)} does not exist; cannot merge or replace`);
      }
      this.append(res);
      return;
    }
    if (matches.length > 1) throw new ManifestError('CONFLICT', `${res.source}: found multiple objects that could accept merge of ${idString(id)}`);
    const old = matches[0] as Resource;
    if (res.behavior !== 'merge' && res.behavior !== 'replace') {
      throw new ManifestError('CONFLICT', `${res.source}: id ${idString(id)} exists; behavior must be merge or replace`);
    }
    copyMergeMetadata(res, old);
    if (res.behavior === 'merge') {
      for (const field of ['data', 'binaryData']) {
        const merged = { ...(isPlainObject(old.obj[field]) ? old.obj[field] : {}), ...(isPlainObject(res.obj[field]) ? res.obj[field] : {}) };
        if (Object.keys(merged).length > 0) res.obj[field] = merged;
        else delete res.obj[field];
      }
    }
    const index = this.list.indexOf(old);
    this.list[index] = res;
  }
}

/** kustomize's CopyMergeMetaDataFieldsFrom: labels/annotations merged, name/namespace and history taken from `old`. */
function copyMergeMetadata(res: Resource, old: Resource): void {
  const meta = (res.obj['metadata'] ??= {}) as Record<string, unknown>;
  const labels = { ...old.labels(), ...res.labels() };
  if (Object.keys(labels).length > 0) meta['labels'] = labels;
  else delete meta['labels'];
  const annotations = { ...old.annotations(), ...res.annotations() };
  if (Object.keys(annotations).length > 0) meta['annotations'] = annotations;
  else delete meta['annotations'];
  res.setName(old.name);
  res.setNamespace(old.namespace);
  res.prevIds = old.prevIds.map((x) => ({ ...x }));
  res.prefixes = [...old.prefixes];
  res.suffixes = [...old.suffixes];
  res.refVarNames = [...old.refVarNames];
  // a merge keeps where the object came from; a replacement is the new object's
  if (res.behavior === 'merge' || res.origin === undefined) res.origin = old.origin;
  res.transformations = [...old.transformations];
  // The name gets a hash suffix only when both want one (kustomize drops it when either the
  // resource merged into was not generated with a hash or the new options disable it).
  res.needsHash = res.needsHash && old.needsHash;
}
