// status.inventory of a Kustomization, in Flux's form: entries `{id, v}` where id is cli-utils'
// ObjMetadata string `<namespace>_<name>_<group>_<kind>` (src/kube entryId: a `:` in the name of
// an RBAC object written `__`) and v the API version the object was applied with.
import type { InventoryEntry } from '../api.js';
import { entryId, parseEntryId, type ObjectRef } from '../../kube/index.js';

export function toEntry(ref: ObjectRef): InventoryEntry {
  return { id: entryId(ref), v: ref.version };
}

/** The entries as object references; an unreadable id throws (KubeError INVENTORY). */
export function fromEntries(entries: readonly InventoryEntry[] | undefined): ObjectRef[] {
  return (entries ?? []).map((e) => parseEntryId(e.id, e.v));
}
