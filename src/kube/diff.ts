// `diff inventory`: what an apply would do, judged by server-side dry-run against the live
// objects: created / drifted (with a unified diff) / deleted (prune), Secret values masked.
import { structuredPatch } from 'diff';
import { stringify } from 'yaml';
import type { KubeClient } from './client.js';
import { discoveryFor } from './discovery.js';
import { KubeError } from './errors.js';
import { inventoryOwner, readInventory } from './inventory.js';
import { isOwned, matchSelector } from './owner.js';
import { annotationsOf, metadataOf, type KubeObject, type ObjectRef } from './objects.js';
import { getLiveEntry, planObjects, prepareObjects, respectLiveAutoscalers, staleEntries } from './plan.js';
import { sortForDelete } from './ordering.js';
import { clone, isRecord, mapLimit } from './util.js';

export type DiffAction = 'created' | 'drifted' | 'unchanged' | 'deleted';

export interface DiffEntry {
  ref: ObjectRef;
  /** `Kind/namespace/name` */
  id: string;
  action: DiffAction;
  /** Unified diff hunks (live → after apply) for drifted objects; Secret values masked. */
  diff?: string;
}

export interface DiffResult {
  entries: DiffEntry[];
  /** Whether anything would change. */
  changed: boolean;
}

export interface DiffInventoryOptions {
  client: KubeClient;
  name: string;
  /** Namespace of the inventory (default: the client's namespace). */
  namespace?: string;
  objects: readonly KubeObject[];
  /** Also report what prune would delete. */
  prune?: boolean;
  concurrency?: number;
  signal?: AbortSignal;
}

const mask = '***';

/**
 * Replaces Secret values: unchanged keys become `***`; changed ones `*** (before)` and
 * `*** (after)`, so a diff shows which keys change without showing any value.
 */
export function maskSecrets(before: KubeObject | undefined, after: KubeObject | undefined): { before?: KubeObject; after?: KubeObject } {
  const isSecret = (o?: KubeObject): boolean => o?.['kind'] === 'Secret' && (o['apiVersion'] === 'v1' || o['apiVersion'] === undefined);
  if (!isSecret(before) && !isSecret(after)) return { ...(before ? { before } : {}), ...(after ? { after } : {}) };
  const b = before ? clone(before) : undefined;
  const a = after ? clone(after) : undefined;
  for (const field of ['data', 'stringData']) {
    const bv = b && isRecord(b[field]) ? (b[field] as Record<string, unknown>) : undefined;
    const av = a && isRecord(a[field]) ? (a[field] as Record<string, unknown>) : undefined;
    const keys = new Set([...Object.keys(bv ?? {}), ...Object.keys(av ?? {})]);
    for (const k of keys) {
      const inB = bv !== undefined && k in bv;
      const inA = av !== undefined && k in av;
      const same = inB && inA && bv[k] === av[k];
      if (inB) bv[k] = same || !inA ? mask : `${mask} (before)`;
      if (inA) av[k] = same || !inB ? mask : `${mask} (after)`;
    }
  }
  // The last-applied annotation of kubectl holds the values in clear.
  for (const o of [a, b]) {
    const ann = o ? annotationsOf(o) : {};
    if (ann['kubectl.kubernetes.io/last-applied-configuration'] !== undefined) ann['kubectl.kubernetes.io/last-applied-configuration'] = mask;
  }
  return { ...(b ? { before: b } : {}), ...(a ? { after: a } : {}) };
}

function forDisplay(obj: KubeObject): string {
  const c = clone(obj);
  delete metadataOf(c)['managedFields'];
  delete c['status'];
  return stringify(c, { lineWidth: 0, indentSeq: false });
}

/** Unified diff hunks between two objects as YAML (no file headers), like kustomizer prints. */
export function renderObjectDiff(before: KubeObject, after: KubeObject): string {
  const masked = maskSecrets(before, after);
  const patch = structuredPatch('live', 'merged', forDisplay(masked.before ?? before), forDisplay(masked.after ?? after), '', '', { context: 3 });
  const out: string[] = [];
  for (const h of patch.hunks) {
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
    for (const line of h.lines) if (!line.startsWith('\\')) out.push(line);
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Compares a set of objects with the cluster without changing anything. */
export async function diffInventory(opts: DiffInventoryOptions): Promise<DiffResult> {
  const { client } = opts;
  const discovery = discoveryFor(client);
  const namespace = opts.namespace ?? client.namespace;
  const concurrency = opts.concurrency ?? 16;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const owner = inventoryOwner({ name: opts.name, namespace });
  const previous = await readInventory(client, opts.name, namespace, signal);
  const items = await prepareObjects(discovery, opts.objects, { owner, defaultNamespace: client.namespace, ...signal });
  await respectLiveAutoscalers(client, items, { concurrency, ...signal });
  const pendingNamespaces = new Set(items.filter((p) => p.ref.kind === 'Namespace' && p.ref.group === '' && true).map((p) => p.ref.name));
  const failures = await planObjects(client, items, { owner, concurrency, force: true, pendingNamespaces, ...signal });
  if (failures.length > 0) {
    const first = failures[0]!;
    throw new KubeError(first.error.code, `diffing inventory ${namespace}/${opts.name}: ${failures.map((f) => f.error.message).join('; ')}`, { cause: first.error, object: first.item.id });
  }
  const entries: DiffEntry[] = items.map((p) => {
    if (p.action === 'created') return { ref: p.ref, id: p.id, action: 'created' };
    if (p.action === 'unchanged' || p.action === 'skipped') return { ref: p.ref, id: p.id, action: 'unchanged' };
    const diff = p.live && p.dryRun ? renderObjectDiff(p.live, p.dryRun) : '';
    return { ref: p.ref, id: p.id, action: 'drifted', ...(diff ? { diff } : {}) };
  });
  if (opts.prune && previous) {
    const stale = sortForDelete(staleEntries(previous.entries, items.map((p) => p.ref)), (r) => r);
    const deleted = await mapLimit(stale, concurrency, async (ref) => {
      const found = await getLiveEntry(client, discovery, ref, opts.signal);
      if (!found || !isOwned(found.live, owner) || matchSelector(found.live, owner.annotations.noPrune) !== undefined) return undefined;
      return { ref, id: found.id, action: 'deleted' as const };
    });
    for (const d of deleted) if (d) entries.push(d);
  }
  return { entries, changed: entries.some((e) => e.action !== 'unchanged') };
}
