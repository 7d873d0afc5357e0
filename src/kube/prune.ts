// Prune: delete objects that left the inventory — only those the owner owns (every ownership
// label matches) and that are not opted out (`lading.dev/prune: disabled`, Flux's
// `kustomize.toolkit.fluxcd.io/prune: disabled`, …). Namespaces and other cluster stage objects
// go last.
import type { KubeClient } from './client.js';
import { discoveryFor, resourcePath } from './discovery.js';
import { KubeError } from './errors.js';
import { displayName, type ObjectRef } from './objects.js';
import { isOwned, matchSelector, type Owner } from './owner.js';
import { stageOf, stages } from './ordering.js';
import { getLiveEntry, type Change } from './plan.js';
import { sortForDelete } from './ordering.js';
import { settleLimit } from './util.js';

export interface PruneOptions {
  owner: Pick<Owner, 'description' | 'ownership' | 'annotations'>;
  dryRun?: boolean;
  concurrency?: number;
  /** Delete even objects without the owner's labels or opted out of prune. */
  ignoreOwnership?: boolean;
  signal?: AbortSignal;
}

export interface PruneResult {
  /** deleted or skipped, in delete order. */
  changes: Change[];
  /** Deleted (or being deleted) objects. */
  deleted: ObjectRef[];
  /** Objects that could not be deleted and stay in the inventory. */
  survivors: ObjectRef[];
  errors: KubeError[];
}

/** Deletes the given inventory entries, in reverse apply order, stage by stage. */
export async function pruneObjects(client: KubeClient, refs: readonly ObjectRef[], opts: PruneOptions): Promise<PruneResult> {
  const discovery = discoveryFor(client);
  const result: PruneResult = { changes: [], deleted: [], survivors: [], errors: [] };
  const signal = opts.signal ? { signal: opts.signal } : {};
  for (const stage of [...stages].reverse()) {
    const group = sortForDelete(refs.filter((r) => stageOf(r) === stage), (r) => r);
    const outcomes = await settleLimit(group, opts.concurrency ?? 16, async (ref): Promise<Change | undefined> => {
      const found = await getLiveEntry(client, discovery, ref, opts.signal);
      if (!found) return undefined;
      const { info, id, live } = found;
      if (!opts.ignoreOwnership) {
        if (!isOwned(live, opts.owner)) return { ref, id, action: 'skipped', reason: `not owned by ${opts.owner.description}` };
        const optOut = matchSelector(live, opts.owner.annotations.noPrune);
        if (optOut !== undefined) return { ref, id, action: 'skipped', reason: optOut };
      }
      if (!opts.dryRun) {
        try {
          await client.request({
            method: 'DELETE',
            path: resourcePath(info, ref.namespace, ref.name),
            query: { propagationPolicy: 'Background' },
            what: `deleting ${id}`,
            ...signal,
          });
        } catch (err) {
          if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
        }
      }
      return { ref, id, action: 'deleted' };
    });
    outcomes.forEach((o, i) => {
      const ref = group[i] as ObjectRef;
      if (!o.ok) {
        result.survivors.push(ref);
        const id = displayName(ref);
        const e = o.error;
        result.errors.push(
          e instanceof KubeError
            ? e.object !== undefined
              ? e
              : new KubeError(e.code, e.message.includes(id) ? e.message : `${id}: ${e.message}`, { cause: e, object: id, ...(e.status !== undefined ? { status: e.status } : {}), ...(e.details ? { details: e.details } : {}) })
            : new KubeError('API', `deleting ${id}: ${String((e as Error)?.message ?? e)}`, { cause: e, object: id }),
        );
        return;
      }
      if (!o.value) return;
      result.changes.push(o.value);
      if (o.value.action === 'deleted') result.deleted.push(ref);
    });
  }
  return result;
}
