// `delete inventory`: delete the objects of an inventory in reverse apply order, wait for them
// to be gone, then remove the inventory itself (so an interrupted delete can be re-run).
import type { KubeClient } from './client.js';
import { discoveryFor } from './discovery.js';
import { KubeError } from './errors.js';
import { deleteInventoryObject, readInventory, writeInventory, type Inventory } from './inventory.js';
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

export async function deleteInventory(opts: DeleteInventoryOptions): Promise<DeleteResult> {
  const { client } = opts;
  const namespace = opts.namespace ?? client.namespace;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const emit = opts.onEvent ?? (() => {});
  const what = `deleting inventory ${namespace}/${opts.name}`;
  const inventory = await readInventory(client, opts.name, namespace, signal);
  if (!inventory) throw new KubeError('NOT_FOUND', `${what}: inventory not found`);
  emit({ type: 'deleting', count: inventory.entries.length });
  const result = await pruneObjects(client, inventory.entries, { inventory, concurrency: opts.concurrency ?? 16, ...signal });
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
