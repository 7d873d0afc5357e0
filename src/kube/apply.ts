// Staged server-side apply of a set of objects recorded in an inventory, with drift detection,
// prune and wait. `applySet` is the engine, for any owner (lading's inventories, Flux's
// Kustomizations) and any inventory store (a ConfigMap, a Kustomization's status);
// `applyInventory` is `lading apply inventory` on top of it. Crash safety: the store is written
// with the union of the previous and the new entries before anything is applied, and narrowed
// only after a failure (to what may exist) and after prune, so an interrupted run never loses
// track of an object and a re-run converges.
import type { KubeClient } from './client.js';
import { discoveryFor, resourcePath } from './discovery.js';
import { KubeError } from './errors.js';
import { configMapInventoryStore, inventoryOwner, type Inventory, type InventoryStore } from './inventory.js';
import { isRecord } from './util.js';
import type { KubeObject, ObjectRef } from './objects.js';
import type { Owner } from './owner.js';
import { stageOf, stages } from './ordering.js';
import {
  planObjects,
  prepareObjects,
  respectLiveAutoscalers,
  serverSideApply,
  staleEntries,
  takeoverPatch,
  unionEntries,
  type Change,
  type ObjectFailure,
  type PlannedObject,
} from './plan.js';
import { pruneObjects } from './prune.js';
import { settleLimit } from './util.js';
import { waitForDeletion, waitForReady, type ObjectStatus } from './wait.js';

export type ApplyEvent =
  | { type: 'applying'; count: number }
  | { type: 'change'; change: Change }
  | { type: 'waiting'; count: number }
  | { type: 'ready' };

export interface ApplySetOptions {
  /** The client objects are applied with (an impersonating one for a Kustomization's serviceAccountName). */
  client: KubeClient;
  /** Field manager, labels, ownership and per-object annotations (ladingOwner, fluxOwner). */
  owner: Owner;
  /** Where the entries are kept between runs. */
  store: InventoryStore;
  objects: readonly KubeObject[];
  /** Namespace for namespaced objects that have none (default: the client's namespace). */
  defaultNamespace?: string;
  /** Delete objects of the previous entries that are no longer in the set (default false). */
  prune?: boolean;
  /** Wait for applied objects to be ready and pruned ones to be gone (default false). */
  wait?: boolean;
  /** Stop waiting as soon as an object is Failed (default true). */
  failFast?: boolean;
  /** With `wait`, also wait for pruned objects to be gone (default true; kustomize-controller does not). */
  waitForPruned?: boolean;
  /** Wait timeout, also for the Namespace/CRD stage and re-created objects (default 5 minutes). */
  timeoutMs?: number;
  /** Delete and re-create objects whose immutable fields changed (default false). */
  force?: boolean;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Only report what would change; nothing is written, the store included (default false). */
  dryRun?: boolean;
  /** Progress as it happens (changes in apply order, then waiting). */
  onEvent?: (event: ApplyEvent) => void;
  signal?: AbortSignal;
}

export interface ApplySetResult {
  /** The entries stored at the end: the set in apply order (skipped objects included), then prune survivors. */
  entries: ObjectRef[];
  /** Every object of the set in apply order, then what prune deleted or skipped. */
  changes: Change[];
  /** Readiness of the applied objects (skipped ones left out) when waiting. */
  ready?: ObjectStatus[];
}

export interface ApplyInventoryOptions {
  client: KubeClient;
  /** Inventory name. */
  name: string;
  /** Namespace of the inventory (default: the client's namespace). */
  namespace?: string;
  objects: readonly KubeObject[];
  source?: string;
  revision?: string;
  /** Digest URLs of the artifacts the objects came from. */
  artifacts?: string[];
  /** Delete objects of the previous inventory that are no longer in the set (default false). */
  prune?: boolean;
  /** Wait for applied objects to be ready and pruned ones to be gone (default false). */
  wait?: boolean;
  /** Wait timeout (default 5 minutes). */
  timeoutMs?: number;
  /** Delete and re-create objects whose immutable fields changed (default false). */
  force?: boolean;
  /** Create the inventory namespace when it does not exist (default false). */
  createNamespace?: boolean;
  /** Only report what would change (default false). */
  dryRun?: boolean;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Progress as it happens (changes in apply order, then waiting). */
  onEvent?: (event: ApplyEvent) => void;
  signal?: AbortSignal;
}

export interface ApplyResult {
  inventory: Inventory;
  /** Every object of the set in apply order, then what prune deleted or skipped. */
  changes: Change[];
  /** Readiness of the applied objects when waiting. */
  ready?: ObjectStatus[];
}

function signalOf(opts: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {};
}

async function ensureNamespace(client: KubeClient, namespace: string, create: boolean, opts: { signal?: AbortSignal; dryRun: boolean }): Promise<void> {
  try {
    await client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}`, what: `reading namespace ${namespace}`, ...signalOf(opts) });
    return;
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
  }
  if (!create) throw new KubeError('NOT_FOUND', `the inventory namespace "${namespace}" does not exist; create it or pass --create-namespace`);
  if (opts.dryRun) return;
  await client.request({
    method: 'PATCH',
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}`,
    query: { fieldManager: 'lading', force: true },
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    contentType: 'application/apply-patch+yaml',
    what: `creating namespace ${namespace}`,
    ...signalOf(opts),
  });
}

function summarizeFailures(what: string, failures: ObjectFailure[]): KubeError {
  const first = failures[0] as ObjectFailure;
  const message = failures.length === 1 ? `${what}: ${first.error.message}` : `${what}: ${failures.length} objects failed: ${failures.map((f) => f.error.message).join('; ')}`;
  return new KubeError(first.error.code, message, {
    cause: first.error,
    object: first.item.id,
    ...(first.error.details ? { details: first.error.details } : {}),
    ...(first.error.status !== undefined ? { status: first.error.status } : {}),
  });
}

/** Deletes an object whose immutable field changed, waits for it to be gone, then re-creates it. */
async function recreate(client: KubeClient, p: PlannedObject, opts: { signal?: AbortSignal; timeoutMs: number; owner: Owner }): Promise<void> {
  try {
    await client.request({
      method: 'DELETE',
      path: resourcePath(p.info, p.ref.namespace, p.ref.name),
      query: { propagationPolicy: 'Background' },
      what: `deleting ${p.id} to re-create it (${p.recreate?.field ?? 'immutable field'} changed)`,
      ...signalOf(opts),
    });
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
  }
  await waitForDeletion(client, discoveryFor(client), [p.ref], { timeoutMs: opts.timeoutMs, ...signalOf(opts) });
  await serverSideApply(client, p, { dryRun: false, fieldManager: opts.owner.fieldManager, ...signalOf(opts) });
}

async function applyOne(client: KubeClient, p: PlannedObject, opts: { signal?: AbortSignal; timeoutMs: number; owner: Owner }): Promise<void> {
  if (p.recreate) {
    await recreate(client, p, opts);
    return;
  }
  if (p.takeover && p.live) {
    await client.request({
      method: 'PATCH',
      path: resourcePath(p.info, p.ref.namespace, p.ref.name),
      body: takeoverPatch(p.live, opts.owner),
      contentType: 'application/json-patch+json',
      what: `taking over fields of ${p.id} from kubectl and cleaning up its metadata`,
      ...signalOf(opts),
    });
  }
  await serverSideApply(client, p, { dryRun: false, fieldManager: opts.owner.fieldManager, ...signalOf(opts) });
}

/** Jobs of the set that the TTL controller removes once finished: their absence counts as ready. */
function jobsWithTtl(items: readonly PlannedObject[]): ObjectRef[] {
  return items
    .filter((p) => p.ref.group === 'batch' && p.ref.kind === 'Job' && isRecord(p.desired['spec']) && typeof (p.desired['spec'] as Record<string, unknown>)['ttlSecondsAfterFinished'] === 'number')
    .map((p) => p.ref);
}

/**
 * Applies a set of objects for an owner, keeping its entries in `store`: staged server-side
 * apply (Namespaces, CRDs and ClusterRoles first and waited for, then `*Class` kinds, then the
 * rest), drift detection by dry run (unchanged objects are not written), the owner's per-object
 * annotations (skipped objects are reported with the reason and stay in the entries), prune of
 * owned objects that left the set, and an optional wait with fail-fast. Returns the change set.
 */
export async function applySet(opts: ApplySetOptions): Promise<ApplySetResult> {
  const { client, owner, store } = opts;
  const discovery = discoveryFor(client);
  const concurrency = opts.concurrency ?? 16;
  const dryRun = opts.dryRun ?? false;
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const emit = opts.onEvent ?? (() => {});
  const what = `applying ${owner.description}`;

  const oldEntries = (await store.read()) ?? [];
  const items = await prepareObjects(discovery, opts.objects, { owner, defaultNamespace: opts.defaultNamespace ?? client.namespace, ...signalOf(opts) });
  await respectLiveAutoscalers(client, items, { concurrency, ...signalOf(opts) });
  const newEntries = items.map((p) => p.ref);
  emit({ type: 'applying', count: items.length });

  if (!dryRun) {
    // Before anything is applied: remember old and new, so that nothing is ever untracked.
    await store.write(unionEntries(newEntries, oldEntries), 'before-apply');
  }

  const changes: Change[] = [];
  const attempted = new Set<PlannedObject>();
  const refused = new Set<string>();
  const pendingNamespaces = new Set(items.filter((p) => p.ref.kind === 'Namespace' && p.ref.group === '').map((p) => p.ref.name));
  try {
    for (const stage of stages) {
      const group = items.filter((p) => stageOf(p.ref) === stage);
      if (group.length === 0) continue;
      const failures = await planObjects(client, group, { owner, concurrency, force: opts.force ?? false, ...(dryRun ? { pendingNamespaces } : {}), ...signalOf(opts) });
      if (failures.length > 0) {
        failures.forEach((f) => refused.add(f.item.id));
        throw summarizeFailures(what, failures);
      }
      if (!dryRun) {
        const toApply = group.filter((p) => p.action !== 'unchanged' && p.action !== 'skipped');
        toApply.forEach((p) => attempted.add(p));
        const applied = await settleLimit(toApply, concurrency, (p) => applyOne(client, p, { timeoutMs, owner, ...signalOf(opts) }));
        const failed: ObjectFailure[] = [];
        applied.forEach((r, i) => {
          if (r.ok) return;
          const item = toApply[i] as PlannedObject;
          const e = r.error;
          const error = e instanceof KubeError ? new KubeError(e.code, e.message.includes(item.id) ? e.message : `${item.id}: ${e.message}`, { cause: e, object: item.id, ...(e.status !== undefined ? { status: e.status } : {}), ...(e.details ? { details: e.details } : {}) }) : new KubeError('API', `${item.id}: ${String((e as Error)?.message ?? e)}`, { cause: e });
          failed.push({ item, error });
        });
        if (failed.length > 0) {
          failed.filter((f) => f.error.status !== undefined && f.error.status >= 400 && f.error.status < 500).forEach((f) => refused.add(f.item.id));
          throw summarizeFailures(what, failed);
        }
        if (stage === 'cluster' || stage === 'class') {
          const changed = group.filter((p) => p.action !== 'unchanged' && p.action !== 'skipped');
          if (changed.some((p) => p.ref.kind === 'CustomResourceDefinition')) discovery.reset();
          // Namespaces and CRDs must be usable before what lives in them is validated.
          await waitForReady(client, discovery, changed.map((p) => p.ref), { timeoutMs, concurrency, ...signalOf(opts) });
        }
      }
      for (const p of group) {
        const reason = p.skipped ?? (p.recreate ? `re-created: ${p.recreate.field} is immutable` : undefined);
        const change: Change = { ref: p.ref, id: p.id, action: p.action ?? 'unchanged', ...(reason !== undefined ? { reason } : {}) };
        changes.push(change);
        emit({ type: 'change', change });
      }
    }
  } catch (err) {
    if (!dryRun) await narrowAfterFailure(store, oldEntries, items, attempted, refused);
    throw err;
  }

  const stale = staleEntries(oldEntries, newEntries);
  let survivors: ObjectRef[] = stale;
  let pruned: ObjectRef[] = [];
  if (opts.prune && stale.length > 0) {
    const result = await pruneObjects(client, stale, { owner, dryRun, concurrency, ...signalOf(opts) });
    for (const c of result.changes) {
      changes.push(c);
      emit({ type: 'change', change: c });
    }
    survivors = result.survivors;
    pruned = result.deleted;
    if (!dryRun && result.errors.length > 0) {
      await store.write(unionEntries(newEntries, survivors), 'after-failure').catch(() => {});
      throw new KubeError(result.errors[0]?.code ?? 'API', `${what}: pruning: ${result.errors.map((e) => e.message).join('; ')}`, { cause: result.errors[0] });
    }
  }

  const entries = unionEntries(newEntries, survivors);
  if (dryRun) return { entries, changes };
  await store.write(entries, 'complete');

  const result: ApplySetResult = { entries, changes };
  if (opts.wait) {
    const skipped = new Set(items.filter((p) => p.action === 'skipped'));
    const toWaitFor = items.filter((p) => !skipped.has(p)).map((p) => p.ref);
    emit({ type: 'waiting', count: toWaitFor.length + ((opts.waitForPruned ?? true) ? pruned.length : 0) });
    result.ready = await waitForReady(client, discovery, toWaitFor, { timeoutMs, concurrency, failFast: opts.failFast ?? true, readyWhenGone: jobsWithTtl(items), ...signalOf(opts) });
    if (pruned.length > 0 && (opts.waitForPruned ?? true)) await waitForDeletion(client, discovery, pruned, { timeoutMs, concurrency, ...signalOf(opts) });
    emit({ type: 'ready' });
  }
  return result;
}

/** Applies a set of objects as the inventory NAME (a ConfigMap, kubectl ApplySet parent). Returns the change set. */
export async function applyInventory(opts: ApplyInventoryOptions): Promise<ApplyResult> {
  const { client } = opts;
  const namespace = opts.namespace ?? client.namespace;
  const dryRun = opts.dryRun ?? false;
  await ensureNamespace(client, namespace, opts.createNamespace ?? false, { dryRun, ...signalOf(opts) });
  const complete = {
    ...(opts.source !== undefined ? { source: opts.source } : {}),
    ...(opts.revision !== undefined ? { revision: opts.revision } : {}),
    artifacts: opts.artifacts ?? [],
  };
  const store = configMapInventoryStore(client, { name: opts.name, namespace, complete }, signalOf(opts));
  const owner = inventoryOwner({ name: opts.name, namespace });
  const result = await applySet({
    client,
    owner,
    store,
    objects: opts.objects,
    defaultNamespace: client.namespace,
    ...(opts.prune !== undefined ? { prune: opts.prune } : {}),
    ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.force !== undefined ? { force: opts.force } : {}),
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    dryRun,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...signalOf(opts),
  });
  // After a real run the store holds what was written last (the complete inventory); a dry run
  // reports the inventory it would have written.
  const written = dryRun ? undefined : store.last();
  const inventory: Inventory = written ?? { name: opts.name, namespace, entries: result.entries, ...complete, lastAppliedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  return { inventory, changes: result.changes, ...(result.ready ? { ready: result.ready } : {}) };
}

/**
 * After a failed apply: keep the previous entries plus every new object that may exist now
 * (applied, or sent with an unknown outcome); drop new objects the server refused or that were
 * never sent. Best effort — if the API server is gone, the union written before stays.
 */
async function narrowAfterFailure(store: InventoryStore, oldEntries: ObjectRef[], items: PlannedObject[], attempted: Set<PlannedObject>, refused: Set<string>): Promise<void> {
  const keep = items.filter((p) => (attempted.has(p) || p.live !== undefined) && !refused.has(p.id)).map((p) => p.ref);
  try {
    await store.write(unionEntries(keep, oldEntries), 'after-failure');
  } catch {
    // The API server is unreachable: the union written before applying stays, which is safe.
  }
}
