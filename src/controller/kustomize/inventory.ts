// status.inventory of a Kustomization, in Flux's form: entries `{id, v}` where id is cli-utils'
// ObjMetadata string `<namespace>_<name>_<group>_<kind>` (a `:` in the name of an RBAC object
// written `__`) and v the API version the object was applied with.
import type { InventoryEntry } from '../api.js';
import type { ObjectRef } from '../../kube/index.js';
import { LadingError } from '../../errors.js';

const rbacKinds = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);
const rbacGroup = 'rbac.authorization.k8s.io';

/** cli-utils ObjMetadata.String(). */
export function inventoryId(ref: Pick<ObjectRef, 'namespace' | 'name' | 'group' | 'kind'>): string {
  const name = ref.group === rbacGroup && rbacKinds.has(ref.kind) ? ref.name.replaceAll(':', '__') : ref.name;
  return `${ref.namespace}_${name}_${ref.group}_${ref.kind}`;
}

/** cli-utils ParseObjMetadata: namespace up to the first `_`, kind and group from the end. */
export function parseInventoryId(id: string, version: string): ObjectRef {
  const first = id.indexOf('_');
  const last = id.lastIndexOf('_');
  const beforeLast = last > 0 ? id.lastIndexOf('_', last - 1) : -1;
  if (first < 0 || beforeLast <= first || last === id.length - 1) {
    throw new LadingError('INVALID_INVENTORY', `invalid inventory entry "${id}": expected <namespace>_<name>_<group>_<kind>`);
  }
  const name = id.slice(first + 1, beforeLast).replaceAll('__', ':');
  if (name === '') throw new LadingError('INVALID_INVENTORY', `invalid inventory entry "${id}": empty name`);
  return { namespace: id.slice(0, first), name, group: id.slice(beforeLast + 1, last), kind: id.slice(last + 1), version };
}

export function toEntry(ref: ObjectRef): InventoryEntry {
  return { id: inventoryId(ref), v: ref.version };
}

export function fromEntries(entries: readonly InventoryEntry[] | undefined): ObjectRef[] {
  return (entries ?? []).map((e) => parseInventoryId(e.id, e.v));
}

/** Entries of `a` then those of `b` not in `a` (same id). */
export function unionEntries(a: readonly InventoryEntry[], b: readonly InventoryEntry[]): InventoryEntry[] {
  const seen = new Set(a.map((e) => e.id));
  return [...a, ...b.filter((e) => !seen.has(e.id))];
}

/** Entries of `previous` whose id is not in `current`. */
export function staleEntries(previous: readonly InventoryEntry[], current: readonly InventoryEntry[]): InventoryEntry[] {
  const ids = new Set(current.map((e) => e.id));
  return previous.filter((e) => !ids.has(e.id));
}
