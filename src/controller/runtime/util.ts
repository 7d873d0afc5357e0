// Small helpers of the controller runtime.
import type { KubeObject } from '../../kube/index.js';
import type { KindInfo, ObjectKey } from './types.js';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function metadataOf(obj: KubeObject): Record<string, unknown> {
  const m = obj['metadata'];
  return isRecord(m) ? m : {};
}

export function stringField(rec: Record<string, unknown>, key: string): string | undefined {
  const v = rec[key];
  return typeof v === 'string' ? v : undefined;
}

/** `namespace/name` (or `name` for a cluster-scoped object), the key of caches and queues. */
export function keyString(key: ObjectKey): string {
  return key.namespace === '' ? key.name : `${key.namespace}/${key.name}`;
}

export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function keyOf(obj: KubeObject): ObjectKey {
  const m = metadataOf(obj);
  return { namespace: stringField(m, 'namespace') ?? '', name: stringField(m, 'name') ?? '' };
}

export function apiVersionOfKind(kind: Pick<KindInfo, 'group' | 'version'>): string {
  return kind.group === '' ? kind.version : `${kind.group}/${kind.version}`;
}

/** `Kind` plus group, for messages and maps: `OCIRepository.source.toolkit.fluxcd.io`. */
export function kindId(kind: KindInfo): string {
  return kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`;
}

/** The collection path of a kind, in one namespace or all of them. */
export function collectionPath(kind: KindInfo, namespace?: string): string {
  const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  return kind.namespaced && namespace !== undefined && namespace !== '' ? `${base}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}` : `${base}/${kind.plural}`;
}

/** The path of one object. */
export function objectPath(kind: KindInfo, key: ObjectKey): string {
  return `${collectionPath(kind, kind.namespaced ? key.namespace : undefined)}/${encodeURIComponent(key.name)}`;
}

/** Waits `ms`, or less if `signal` aborts (resolves either way). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Freezes a JSON value and everything in it (cached objects are shared and read-only). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
