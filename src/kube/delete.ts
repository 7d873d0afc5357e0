// Deleting a set: `deleteSet` deletes the entries of an owner in reverse apply order (only the
// objects it owns, honouring its prune opt-outs) and can wait for them to be gone — a
// Kustomization's finalizer. `deleteInventory` (`lading delete inventory`) does that for an
// inventory, then removes the inventory itself (so an interrupted delete can be re-run).
import type { KubeClient } from './client.js';
import { discoveryFor } from './discovery.js';
import { KubeError } from './errors.js';
import { deleteInventoryObject, inventoryOwner, readInventory, writeInventory, type Inventory } from './inventory.js';
import type { ObjectRef } from './objects.js';
import type { Owner } from './owner.js';
import type { Change } from './plan.js';
import { pruneObjects } from './prune.js';
import { waitForDeletion } from './wait.js';

export type DeleteEvent =
  | { type: 'deleting'; count: number }
  | { type: 'change'; change: Change }
  | { type: 'waiting'; count: number }
  | { type: 'inventory-deleted'; change: Change }
  | { type: 'deleted' };

export interface DeleteInventoryOptions {
  client: KubeClient;
  name: string;
  /** Namespace of the inventory (default: the client's namespace). */
  namespace?: string;
  /** Wait for the objects to be gone before removing the inventory (default true). */
  wait?: boolean;
  timeoutMs?: number;
  concurrency?: number;
  onEvent?: (event: DeleteEvent) => void;
  signal?: AbortSignal;
}

export interface DeleteResult {
  inventory: Inventory;
  /** The objects (deleted or skipped), then the inventory ConfigMap. */
  changes: Change[];
}

export interface DeleteSetOptions {
  /** The client objects are deleted with (an impersonating one for a Kustomization's serviceAccountName). */
  client: KubeClient;
  owner: Owner;
  /** The entries to delete, in apply order (they are deleted in reverse). */
  entries: readonly ObjectRef[];
  /** Wait for the deleted objects to be gone (default false). */
  wait?: boolean;
  /** Wait timeout (default 5 minutes). */
  timeoutMs?: number;
  concurrency?: number;
  /** Only report what would be deleted (default false). */
  dryRun?: boolean;
  onEvent?: (event: DeleteEvent) => void;
  signal?: AbortSignal;
}

export interface DeleteSetResult {
  /** deleted or skipped (with the reason), in delete order; objects already gone are left out. */
  changes: Change[];
  /** Objects deleted (or being deleted). */
  deleted: ObjectRef[];
}

/**
 * Deletes the objects of a set in reverse apply order, stage by stage (Namespaces and CRDs
 * last), with background propagation: only objects that carry every ownership label of the
 * owner and no prune opt-out (those are reported as skipped). Fails naming every object whose
 * deletion failed, after trying all of them; with `wait`, then waits until the deleted ones are
 * gone (TIMEOUT names those left).
 */
export async function deleteSet(opts: DeleteSetOptions): Promise<DeleteSetResult> {
  const { client, owner } = opts;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const emit = opts.onEvent ?? (() => {});
  emit({ type: 'deleting', count: opts.entries.length });
  const result = await pruneObjects(client, opts.entries, { owner, concurrency: opts.concurrency ?? 16, dryRun: opts.dryRun ?? false, ...signal });
  for (const change of result.changes) emit({ type: 'change', change });
  if (result.errors.length > 0) {
    throw new KubeError(result.errors[0]?.code ?? 'API', `deleting the objects of ${owner.description}: ${result.errors.map((e) => e.message).join('; ')}`, {
      cause: result.errors[0],
      ...(result.errors[0]?.object !== undefined ? { object: result.errors[0].object } : {}),
    });
  }
  if (opts.wait && !opts.dryRun && result.deleted.length > 0) {
    emit({ type: 'waiting', count: result.deleted.length });
    await waitForDeletion(client, discoveryFor(client), result.deleted, { timeoutMs: opts.timeoutMs ?? 5 * 60_000, concurrency: opts.concurrency ?? 16, ...signal });
  }
  emit({ type: 'deleted' });
  return { changes: result.changes, deleted: result.deleted };
}

export async function deleteInventory(opts: DeleteInventoryOptions): Promise<DeleteResult> {
  const { client } = opts;
  const namespace = opts.namespace ?? client.namespace;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const emit = opts.onEvent ?? (() => {});
  const what = `deleting inventory ${namespace}/${opts.name}`;
  const inventory = await readInventory(client, opts.name, namespace, signal);
  if (!inventory) throw new KubeError('NOT_FOUND', `${what}: inventory not found`);
  emit({ type: 'deleting', count: inventory.entries.length });
  const result = await pruneObjects(client, inventory.entries, { owner: inventoryOwner(inventory), concurrency: opts.concurrency ?? 16, ...signal });
  for (const change of result.changes) emit({ type: 'change', change });
  if (result.errors.length > 0) {
    await writeInventory(client, { ...inventory, entries: result.survivors }, signal).catch(() => {});
    throw new KubeError(result.errors[0]?.code ?? 'API', `${what}: ${result.errors.map((e) => e.message).join('; ')}`, { cause: result.errors[0] });
  }
  if (opts.wait ?? true) {
    emit({ type: 'waiting', count: result.deleted.length });
    await waitForDeletion(client, discoveryFor(client), result.deleted, { timeoutMs: opts.timeoutMs ?? 5 * 60_000, ...signal });
  }
  await deleteInventoryObject(client, opts.name, namespace, signal);
  const invChange: Change = { ref: { group: '', version: 'v1', kind: 'ConfigMap', namespace, name: opts.name }, id: `ConfigMap/${namespace}/${opts.name}`, action: 'deleted' };
  emit({ type: 'inventory-deleted', change: invChange });
  emit({ type: 'deleted' });
  return { inventory, changes: [...result.changes, invChange] };
}
