// Inventories: the record of what one `apply inventory NAME` put in the cluster. Stored as a
// ConfigMap that is also a kubectl ApplySet parent (KEP-3659): labelled with the ApplySet id
// (computed exactly as kubectl does), annotated with tooling, contains-group-kinds and
// additional-namespaces; members carry `applyset.kubernetes.io/part-of`. The exact entry list
// (`<namespace>_<name>_<group>_<kind>` + version), source, revision, artifact digests and the
// last-applied time live in `data.inventory` so that prune needs no cluster-wide listing.
import { createHash } from 'node:crypto';
import type { KubeClient } from './client.js';
import { KubeError } from './errors.js';
import { entryId, parseEntryId, type KubeObject, type ObjectRef } from './objects.js';
import { isOwned, ladingFieldManager, ladingOwner, LadingLabels, LadingObjectAnnotations, type Owner } from './owner.js';
import { isRecord } from './util.js';

export const ladingTooling = 'lading/v0.1.0';
export const fieldManager = ladingFieldManager;

export const Labels = {
  inventoryName: LadingLabels.inventoryName,
  inventoryNamespace: LadingLabels.inventoryNamespace,
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  applysetId: 'applyset.kubernetes.io/id',
  applysetPartOf: LadingLabels.applysetPartOf,
} as const;

export const Annotations = {
  tooling: 'applyset.kubernetes.io/tooling',
  containsGroupKinds: 'applyset.kubernetes.io/contains-group-kinds',
  additionalNamespaces: 'applyset.kubernetes.io/additional-namespaces',
  /** `disabled` keeps an object in the cluster when it leaves the inventory. */
  prune: LadingObjectAnnotations.prune,
  /** `enabled` lets apply delete and re-create the object when an immutable field changes. */
  force: LadingObjectAnnotations.force,
} as const;

export interface Inventory {
  name: string;
  namespace: string;
  /** The objects in apply order, each with the apiVersion's version it was applied with. */
  entries: ObjectRef[];
  source?: string;
  revision?: string;
  /** `oci://host/repo@sha256:…` of the artifacts applied. */
  artifacts: string[];
  /** RFC 3339 time of the last successful apply. */
  lastAppliedAt?: string;
}

/** kubectl's ApplySet id for a parent: `applyset-<base64url(sha256(name.namespace.kind.group))>-v1`. */
export function applySetId(parent: { name: string; namespace: string; kind?: string; group?: string }): string {
  const unencoded = [parent.name, parent.namespace, parent.kind ?? 'ConfigMap', parent.group ?? ''].join('.');
  const b64 = createHash('sha256').update(unencoded).digest('base64url');
  return `applyset-${b64}-v1`;
}

/** `Kind.group` list as kubectl writes contains-group-kinds (sorted, comma-separated). */
export function groupKindsAnnotation(entries: readonly ObjectRef[]): string {
  const gks = new Set(entries.map((e) => (e.group ? `${e.kind}.${e.group}` : e.kind)));
  return [...gks].sort().join(',');
}

function namespacesAnnotation(entries: readonly ObjectRef[], parentNamespace: string): string {
  const ns = new Set(entries.map((e) => e.namespace).filter((n) => n !== '' && n !== parentNamespace));
  return [...ns].sort().join(',');
}

/** The owner of an inventory's objects: field manager `lading`, its labels and annotations. */
export function inventoryOwner(inv: Pick<Inventory, 'name' | 'namespace'>): Owner {
  return ladingOwner({ name: inv.name, namespace: inv.namespace, applySetId: applySetId(inv) });
}

/** The labels apply puts on every member of the inventory. */
export function memberLabels(inv: Pick<Inventory, 'name' | 'namespace'>): Record<string, string> {
  return { ...inventoryOwner(inv).labels };
}

/** Whether a live object carries this inventory's ownership labels. */
export function ownedBy(obj: KubeObject, inv: Pick<Inventory, 'name' | 'namespace'>): boolean {
  return isOwned(obj, inventoryOwner(inv));
}

/**
 * Where the entries of an applied set are kept between runs. The apply engine writes old ∪ new
 * before applying, narrows after a failure and after prune (`stage` says which write it is), so
 * that an interrupted run never loses track of an object.
 */
export interface InventoryStore {
  /** The entries, in apply order; undefined when nothing was ever stored. */
  read(): Promise<ObjectRef[] | undefined>;
  write(entries: ObjectRef[], stage: InventoryWriteStage): Promise<void>;
}

/**
 * `before-apply`: old ∪ new, before anything is applied; `after-failure`: narrowed after a failed
 * apply or prune; `complete`: the final entries after a successful apply and prune.
 */
export type InventoryWriteStage = 'before-apply' | 'after-failure' | 'complete';

/**
 * An InventoryStore on the inventory ConfigMap NAME. Writes before completion keep the source,
 * revision and artifacts of the inventory as it was read; the `complete` write records
 * `complete` (and the time).
 */
export function configMapInventoryStore(
  client: KubeClient,
  inv: { name: string; namespace: string; complete?: Pick<Inventory, 'source' | 'revision' | 'artifacts'> },
  opts: { signal?: AbortSignal } = {},
): InventoryStore & { last(): Inventory | undefined } {
  let base: Inventory = { name: inv.name, namespace: inv.namespace, entries: [], artifacts: [] };
  let last: Inventory | undefined;
  return {
    async read() {
      const found = await readInventory(client, inv.name, inv.namespace, opts);
      if (found) base = found;
      last = found;
      return found?.entries;
    },
    async write(entries, stage) {
      const next: Inventory =
        stage === 'complete'
          ? {
              name: inv.name,
              namespace: inv.namespace,
              entries,
              ...(inv.complete?.source !== undefined ? { source: inv.complete.source } : {}),
              ...(inv.complete?.revision !== undefined ? { revision: inv.complete.revision } : {}),
              artifacts: inv.complete?.artifacts ?? [],
              lastAppliedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            }
          : { ...base, entries };
      await writeInventory(client, next, opts);
      last = next;
    },
    last: () => last,
  };
}

interface StoredInventory {
  entries: Array<{ id: string; v: string }>;
  source?: string;
  revision?: string;
  artifacts?: string[];
  lastAppliedAt?: string;
}

/** The ConfigMap that stores an inventory. */
export function encodeInventory(inv: Inventory): KubeObject {
  const stored: StoredInventory = {
    entries: inv.entries.map((e) => ({ id: entryId(e), v: e.version })),
    ...(inv.source !== undefined ? { source: inv.source } : {}),
    ...(inv.revision !== undefined ? { revision: inv.revision } : {}),
    artifacts: inv.artifacts,
    ...(inv.lastAppliedAt !== undefined ? { lastAppliedAt: inv.lastAppliedAt } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: inv.name,
      namespace: inv.namespace,
      labels: {
        [Labels.managedBy]: 'lading',
        [Labels.component]: 'inventory',
        [Labels.applysetId]: applySetId(inv),
      },
      annotations: {
        [Annotations.tooling]: ladingTooling,
        [Annotations.containsGroupKinds]: groupKindsAnnotation(inv.entries),
        [Annotations.additionalNamespaces]: namespacesAnnotation(inv.entries, inv.namespace),
      },
    },
    data: { inventory: JSON.stringify(stored) },
  };
}

/** Reads an inventory back from its ConfigMap; errors name the inventory. */
export function decodeInventory(cm: KubeObject): Inventory {
  const meta = isRecord(cm['metadata']) ? cm['metadata'] : {};
  const name = String(meta['name'] ?? '');
  const namespace = String(meta['namespace'] ?? '');
  const what = `inventory ${namespace}/${name}`;
  const data = isRecord(cm['data']) ? cm['data'] : {};
  const raw = data['inventory'];
  if (typeof raw !== 'string') throw new KubeError('INVENTORY', `${what}: ConfigMap has no data.inventory; it was not written by lading`);
  let stored: StoredInventory;
  try {
    stored = JSON.parse(raw) as StoredInventory;
  } catch (err) {
    throw new KubeError('INVENTORY', `${what}: data.inventory is not valid JSON`, { cause: err });
  }
  if (!isRecord(stored) || !Array.isArray(stored.entries)) throw new KubeError('INVENTORY', `${what}: data.inventory has no entries list`);
  const entries = stored.entries.map((e, i) => {
    if (!isRecord(e) || typeof e.id !== 'string' || typeof e.v !== 'string') throw new KubeError('INVENTORY', `${what}: entry ${i} is not {id, v}`);
    try {
      return parseEntryId(e.id, e.v);
    } catch (err) {
      throw new KubeError('INVENTORY', `${what}: ${(err as Error).message}`, { cause: err });
    }
  });
  const inv: Inventory = { name, namespace, entries, artifacts: Array.isArray(stored.artifacts) ? stored.artifacts.map(String) : [] };
  if (typeof stored.source === 'string') inv.source = stored.source;
  if (typeof stored.revision === 'string') inv.revision = stored.revision;
  if (typeof stored.lastAppliedAt === 'string') inv.lastAppliedAt = stored.lastAppliedAt;
  return inv;
}

const configMapsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;

/** Reads an inventory; undefined when it does not exist. */
export async function readInventory(client: KubeClient, name: string, namespace: string, opts: { signal?: AbortSignal } = {}): Promise<Inventory | undefined> {
  try {
    const cm = await client.request<KubeObject>({ path: `${configMapsPath(namespace)}/${encodeURIComponent(name)}`, what: `reading inventory ${namespace}/${name}`, ...(opts.signal ? { signal: opts.signal } : {}) });
    return decodeInventory(cm);
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

/** Writes (server-side applies) an inventory. */
export async function writeInventory(client: KubeClient, inv: Inventory, opts: { signal?: AbortSignal; dryRun?: boolean } = {}): Promise<void> {
  await client.request({
    method: 'PATCH',
    path: `${configMapsPath(inv.namespace)}/${encodeURIComponent(inv.name)}`,
    query: { fieldManager, force: true, ...(opts.dryRun ? { dryRun: 'All' } : {}) },
    body: encodeInventory(inv),
    contentType: 'application/apply-patch+yaml',
    what: `writing inventory ${inv.namespace}/${inv.name}`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/** Deletes an inventory's ConfigMap; false when it was already gone. */
export async function deleteInventoryObject(client: KubeClient, name: string, namespace: string, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
  try {
    await client.request({ method: 'DELETE', path: `${configMapsPath(namespace)}/${encodeURIComponent(name)}`, what: `deleting inventory ${namespace}/${name}`, ...(opts.signal ? { signal: opts.signal } : {}) });
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return false;
    throw err;
  }
}

export interface ListInventoriesOptions {
  /** Namespace to list (default: the client's namespace); ignored with allNamespaces. */
  namespace?: string;
  allNamespaces?: boolean;
  signal?: AbortSignal;
}

/** Lists inventories, sorted by namespace and name. Unreadable ones are left out. */
export async function listInventories(client: KubeClient, opts: ListInventoriesOptions = {}): Promise<Inventory[]> {
  const namespace = opts.namespace ?? client.namespace;
  const path = opts.allNamespaces ? '/api/v1/configmaps' : configMapsPath(namespace);
  const selector = `${Labels.managedBy}=lading,${Labels.component}=inventory`;
  const out: Inventory[] = [];
  let cont: string | undefined;
  do {
    const list = await client.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
      path,
      query: { labelSelector: selector, limit: 500, ...(cont ? { continue: cont } : {}) },
      what: opts.allNamespaces ? 'listing inventories in all namespaces' : `listing inventories in ${namespace}`,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for (const item of list.items ?? []) {
      try {
        out.push(decodeInventory(item));
      } catch {
        // Not ours after all (same labels, other data); leave it out of the list.
      }
    }
    cont = list.metadata?.continue || undefined;
  } while (cont);
  return out.sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
}
