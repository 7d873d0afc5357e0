// Identities of Kubernetes objects: references, display names and inventory entry ids.
import { KubeError } from './errors.js';
import { isRecord } from './util.js';

/** A Kubernetes object as plain JSON data. */
export type KubeObject = Record<string, unknown>;

/** What identifies an object in the cluster (the version is only how it was written). */
export interface ObjectRef {
  group: string;
  version: string;
  kind: string;
  /** Empty for cluster-scoped objects. */
  namespace: string;
  name: string;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function apiVersionOf(ref: Pick<ObjectRef, 'group' | 'version'>): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

export function metadataOf(obj: KubeObject): Record<string, unknown> {
  const m = obj['metadata'];
  if (isRecord(m)) return m;
  const created: Record<string, unknown> = {};
  obj['metadata'] = created;
  return created;
}

export function labelsOf(obj: KubeObject): Record<string, string> {
  const m = obj['metadata'];
  const l = isRecord(m) ? m['labels'] : undefined;
  return isRecord(l) ? (l as Record<string, string>) : {};
}

export function annotationsOf(obj: KubeObject): Record<string, string> {
  const m = obj['metadata'];
  const a = isRecord(m) ? m['annotations'] : undefined;
  return isRecord(a) ? (a as Record<string, string>) : {};
}

/** Reads apiVersion, kind, namespace and name; a clear error names what is missing and where. */
export function refOf(obj: KubeObject, source?: string): ObjectRef {
  const where = source ? ` in ${source}` : '';
  const apiVersion = obj['apiVersion'];
  const kind = obj['kind'];
  const meta = obj['metadata'];
  const name = isRecord(meta) ? meta['name'] : undefined;
  if (typeof kind !== 'string' || kind === '') throw new KubeError('INPUT', `an object${where} has no kind`);
  if (typeof name !== 'string' || name === '') throw new KubeError('INPUT', `a ${kind}${where} has no metadata.name`);
  if (typeof apiVersion !== 'string' || apiVersion === '') throw new KubeError('INPUT', `${kind}/${name}${where} has no apiVersion`);
  const ns = isRecord(meta) && typeof meta['namespace'] === 'string' ? meta['namespace'] : '';
  return { ...splitApiVersion(apiVersion), kind, namespace: ns, name };
}

/** `Kind/namespace/name` or `Kind/name`, as kustomizer and flux print objects. */
export function displayName(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return ref.namespace ? `${ref.kind}/${ref.namespace}/${ref.name}` : `${ref.kind}/${ref.name}`;
}

/** RBAC kinds, whose names may hold `:`; an entry id writes it as `__` (cli-utils' rule). */
const rbacKinds = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

/**
 * Inventory entry id `<namespace>_<name>_<group>_<kind>` as Flux (cli-utils `ObjMetadata.String`)
 * and kustomizer write it; `:` in the name of an RBAC object is written `__`.
 */
export function entryId(ref: Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>): string {
  const name = ref.group === 'rbac.authorization.k8s.io' && rbacKinds.has(ref.kind) ? ref.name.replaceAll(':', '__') : ref.name;
  return `${ref.namespace}_${name}_${ref.group}_${ref.kind}`;
}

/**
 * Reads an entry id back (cli-utils' `ParseObjMetadata`): the namespace up to the first `_`, the
 * kind and group after the last two, the name in between with `__` read as `:`. `version` is the
 * entry's `v`.
 */
export function parseEntryId(id: string, version: string): ObjectRef {
  const invalid = (): KubeError => new KubeError('INVENTORY', `invalid inventory entry "${id.slice(0, 300)}": expected <namespace>_<name>_<group>_<kind>`);
  const first = id.indexOf('_');
  if (first < 0) throw invalid();
  const namespace = id.slice(0, first);
  const rest = id.slice(first + 1);
  const last = rest.lastIndexOf('_');
  if (last < 0) throw invalid();
  const kind = rest.slice(last + 1);
  const middle = rest.slice(0, last);
  const groupAt = middle.lastIndexOf('_');
  if (groupAt < 0) throw invalid();
  const group = middle.slice(groupAt + 1);
  const name = middle.slice(0, groupAt).replaceAll('__', ':');
  if (name === '' || kind === '') throw invalid();
  return { namespace, name, group, kind, version };
}

/** An inventory entry as Flux's `status.inventory.entries` and lading's inventories store it. */
export interface InventoryEntry {
  /** `<namespace>_<name>_<group>_<kind>` */
  id: string;
  /** The version of the apiVersion the object was applied with. */
  v: string;
}

/** Entries `{id, v}` of a list of references, in the same order. */
export function toInventoryEntries(refs: readonly ObjectRef[]): InventoryEntry[] {
  return refs.map((r) => ({ id: entryId(r), v: r.version }));
}

/**
 * References of stored `{id, v}` entries (e.g. a Kustomization's `status.inventory.entries`,
 * which anyone who may write the status could have written): each must be an object with string
 * `id` and `v`; an error names `what` and the entry's position.
 */
export function fromInventoryEntries(entries: unknown, what: string): ObjectRef[] {
  if (entries === undefined || entries === null) return [];
  if (!Array.isArray(entries)) throw new KubeError('INVENTORY', `${what}: the inventory entries are not a list`);
  return entries.map((e, i) => {
    if (!isRecord(e) || typeof e['id'] !== 'string' || typeof e['v'] !== 'string') throw new KubeError('INVENTORY', `${what}: entry ${i} is not {id, v}`);
    try {
      return parseEntryId(e['id'], e['v']);
    } catch (err) {
      throw new KubeError('INVENTORY', `${what}: entry ${i}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Same object in the cluster (version ignored). */
export function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}
