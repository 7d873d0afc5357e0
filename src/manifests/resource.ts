// Resources as kustomize tracks them during a build: the object plus the ids it had before
// renames (so references can follow), the prefixes/suffixes added, and generator options.
import type { KubeObject } from './types.js';
import { isPlainObject } from './yaml.js';
import { CLUSTER_SCOPED_KINDS } from './config/cluster-scoped.js';

export interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** kustomize's resource.Origin: a file the object was read from, or the plugin that made or changed it. */
export interface Origin {
  path?: string;
  configuredIn?: string;
  configuredBy?: { apiVersion: string; kind: string; name?: string; namespace?: string };
}

export interface ResId extends Gvk {
  name: string;
  namespace: string;
}

const CLUSTER_SCOPED = new Set(CLUSTER_SCOPED_KINDS);

/**
 * kustomize's Gvk.IsClusterScoped: true only for the group/version/kinds its built-in schema
 * (Kubernetes v1.21.2) knows to be cluster-scoped. Other kinds — newer APIs such as
 * ValidatingAdmissionPolicy, custom resources — get a namespace like any namespaced kind.
 */
export function isClusterScoped(gvk: Gvk): boolean {
  const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
  return CLUSTER_SCOPED.has(`${apiVersion}/${gvk.kind}`);
}

export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  if (i < 0) return { group: '', version: apiVersion };
  return { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

export function metadataOf(obj: KubeObject): Record<string, unknown> {
  const m = obj['metadata'];
  return isPlainObject(m) ? m : {};
}

export function gvkOf(obj: KubeObject): Gvk {
  const { group, version } = parseApiVersion(str(obj['apiVersion']));
  return { group, version, kind: str(obj['kind']) };
}

export function gvkString(g: Gvk): string {
  return `${g.kind}.${g.version}${g.group ? '.' + g.group : ''}`;
}

export function idString(id: ResId): string {
  return `${gvkString(id)}/${id.name}.${id.namespace || '[noNs]'}`;
}

/** `selector` fields that are set must equal those of `gvk`. */
export function gvkSelected(gvk: Gvk, selector: Partial<Gvk>): boolean {
  if (selector.group && gvk.group !== selector.group) return false;
  if (selector.version && gvk.version !== selector.version) return false;
  if (selector.kind && gvk.kind !== selector.kind) return false;
  return true;
}

export const NO_NAMESPACE = '_non_namespaceable_';

/** kustomize's EffectiveNamespace: cluster-scoped ids share one, "" means "default". */
export function effectiveNamespace(id: ResId): string {
  if (isClusterScoped(id)) return NO_NAMESPACE;
  if (id.namespace === '' || id.namespace === 'default') return 'default';
  return id.namespace;
}

/** A string equal for ids that idEquals considers equal. */
export function idKey(id: ResId): string {
  return `${id.group}|${id.version}|${id.kind}|${effectiveNamespace(id)}|${id.name}`;
}

export function idEquals(a: ResId, b: ResId): boolean {
  return (
    a.group === b.group &&
    a.version === b.version &&
    a.kind === b.kind &&
    a.name === b.name &&
    effectiveNamespace(a) === effectiveNamespace(b)
  );
}

export type Behavior = 'create' | 'merge' | 'replace';

let nextSerial = 0;

export class Resource {
  obj: KubeObject;
  /** Ids before renames, oldest first (kustomize's previousNames/Kinds/Namespaces). */
  prevIds: ResId[] = [];
  prefixes: string[] = [];
  suffixes: string[] = [];
  needsHash = false;
  behavior: Behavior | undefined;
  /** Vars whose value this object holds (kustomize's refVarNames). */
  refVarNames: string[] = [];
  /** Where the object came from, when the build records it (buildMetadata). */
  origin: Origin | undefined;
  /** The transformers that ran over the object, when the build records them (buildMetadata). */
  transformations: Origin[] = [];
  /** Where the object came from, for error messages. */
  source: string;
  readonly serial = nextSerial++;

  constructor(obj: KubeObject, source: string) {
    this.obj = obj;
    this.source = source;
  }

  get gvk(): Gvk {
    return gvkOf(this.obj);
  }
  get kind(): string {
    return str(this.obj['kind']);
  }
  get name(): string {
    return str(metadataOf(this.obj)['name']);
  }
  get namespace(): string {
    return str(metadataOf(this.obj)['namespace']);
  }

  curId(): ResId {
    return { ...this.gvk, name: this.name, namespace: this.namespace };
  }
  orgId(): ResId {
    return this.prevIds[0] ?? this.curId();
  }
  allIds(): ResId[] {
    return [...this.prevIds, this.curId()];
  }

  private ensureMetadata(): Record<string, unknown> {
    let m = this.obj['metadata'];
    if (!isPlainObject(m)) {
      m = {};
      this.obj['metadata'] = m;
    }
    return m as Record<string, unknown>;
  }

  setName(name: string): void {
    this.ensureMetadata()['name'] = name;
  }
  setNamespace(ns: string): void {
    const m = this.ensureMetadata();
    if (ns === '') delete m['namespace'];
    else m['namespace'] = ns;
  }

  storePreviousId(): void {
    const cur = this.curId();
    this.prevIds.push({ ...cur, namespace: effectiveNamespace(cur) });
  }

  labels(): Record<string, string> {
    const l = metadataOf(this.obj)['labels'];
    const out: Record<string, string> = {};
    if (isPlainObject(l)) for (const [k, v] of Object.entries(l)) out[k] = str(v);
    return out;
  }
  annotations(): Record<string, string> {
    const l = metadataOf(this.obj)['annotations'];
    const out: Record<string, string> = {};
    if (isPlainObject(l)) for (const [k, v] of Object.entries(l)) out[k] = str(v);
    return out;
  }
}

/** A field-spec: which objects (by gvk) and which path inside them. */
export interface FieldSpec extends Partial<Gvk> {
  path: string;
  create: boolean;
}

export function parseFieldSpec(s: string): FieldSpec {
  const colon = s.indexOf(':');
  const [group = '', version = '', kind = ''] = s.slice(0, colon).split('/');
  let path = s.slice(colon + 1);
  const create = path.endsWith('!');
  if (create) path = path.slice(0, -1);
  return { group, version, kind, path, create };
}

export function fieldSpecMatches(fs: FieldSpec, obj: KubeObject): boolean {
  const gvk = gvkOf(obj);
  if (fs.kind && fs.kind !== gvk.kind) return false;
  if (fs.group && fs.group !== gvk.group) return false;
  if (fs.version && fs.version !== gvk.version) return false;
  return true;
}

/** Splits a field path on "/" but not inside [..] and not at escaped "\/". */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    if (c === '\\' && path[i + 1] === '/') {
      cur += '/';
      i++;
      continue;
    }
    if (c === '[') depth++;
    if (c === ']') depth--;
    if (c === '/' && depth === 0) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

export class FieldPathError extends Error {}

/**
 * Visits the values at a field-spec path as kustomize's fieldspec filter does: sequences on the
 * way are entered element by element, missing fields are created (as maps, or by `createLeaf`
 * for the last one) when `create` is set, null values stop the walk.
 */
export function visitField(
  obj: unknown,
  path: string[],
  create: boolean,
  fn: (parent: Record<string, unknown>, key: string) => void,
  createLeaf?: () => unknown,
): void {
  const walk = (node: unknown, i: number): void => {
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      for (const el of node) walk(el, i);
      return;
    }
    if (!isPlainObject(node)) throw new FieldPathError('expected sequence or mapping node');
    const seg = path[i] as string;
    const isSeq = seg.endsWith('[]');
    const name = isSeq ? seg.slice(0, -2) : seg;
    const last = i === path.length - 1;
    if (isSeq && !last && name in node && node[name] === null) {
      // kyaml's field-spec walk turns a null it must go through as a list into an empty list
      node[name] = [];
      return;
    }
    if (!(name in node) || node[name] === null) {
      if (!create || isSeq || createLeaf === undefined) {
        if (!(name in node)) return;
      } else if (last) {
        const v = createLeaf();
        if (v === undefined) return;
        node[name] = v;
      } else {
        node[name] = {};
      }
    }
    if (last) {
      fn(node, name);
      return;
    }
    walk(node[name], i + 1);
  };
  walk(obj, 0);
}
