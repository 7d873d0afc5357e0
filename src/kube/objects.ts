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

/** Inventory entry id `<namespace>_<name>_<group>_<kind>` (as Flux and kustomizer write it). */
export function entryId(ref: Pick<ObjectRef, 'group' | 'kind' | 'namespace' | 'name'>): string {
  return `${ref.namespace}_${ref.name}_${ref.group}_${ref.kind}`;
}

export function parseEntryId(id: string, version: string): ObjectRef {
  const parts = id.split('_');
  if (parts.length !== 4 || !parts[1] || !parts[3]) {
    throw new KubeError('INVENTORY', `invalid inventory entry "${id}": expected <namespace>_<name>_<group>_<kind>`);
  }
  return { namespace: parts[0] as string, name: parts[1], group: parts[2] as string, kind: parts[3], version };
}

/** Same object in the cluster (version ignored). */
export function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  return a.group === b.group && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}
