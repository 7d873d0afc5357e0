// The part of apply and diff that only reads: resolve every object against discovery, fetch the
// live objects, server-side dry-run apply, and decide per object what an apply would do.
import type { KubeClient } from './client.js';
import { resourcePath, type Discovery, type ResourceInfo } from './discovery.js';
import { KubeError } from './errors.js';
import { annotationsOf, displayName, labelsOf, metadataOf, refOf, sameObject, type KubeObject, type ObjectRef } from './objects.js';
import { matchSelector, type Owner, type TakeoverManager } from './owner.js';
import { sortForApply } from './ordering.js';
import { clone, deepEqual, isRecord, mapLimit, settleLimit } from './util.js';

export type Action = 'created' | 'configured' | 'unchanged' | 'deleted' | 'skipped';

/** One line of a change set. */
export interface Change {
  ref: ObjectRef;
  /** `Kind/namespace/name` */
  id: string;
  action: Action;
  /** Why an object was skipped, or re-created. */
  reason?: string;
}

/** An object being applied, with what was learnt about it. */
export interface PlannedObject {
  ref: ObjectRef;
  id: string;
  info: ResourceInfo;
  /** The object as it will be sent (labels added, namespace defaulted). */
  desired: KubeObject;
  live?: KubeObject;
  /** The server-side dry-run result. */
  dryRun?: KubeObject;
  action?: Action;
  /** Fields kubectl client-side apply owns that lading must take over before applying. */
  takeover?: boolean;
  /** An immutable field changed and the object may be deleted and re-created. */
  recreate?: { field: string };
  /** Why the object is left alone (an owner annotation such as `kustomize.toolkit.fluxcd.io/ssa: Ignore`). */
  skipped?: string;
}

export interface PrepareOptions {
  /** Whose labels go on every object. */
  owner: Pick<Owner, 'labels'>;
  /** Namespace for namespaced objects that have none. */
  defaultNamespace: string;
  signal?: AbortSignal;
}

/**
 * Resolves and labels the objects: namespace defaulted (or dropped for cluster-scoped kinds),
 * inventory labels added, `spec.replicas` left out where an HPA in the set scales the object,
 * duplicates refused. Returns them in apply order.
 */
export async function prepareObjects(discovery: Discovery, objects: readonly KubeObject[], opts: PrepareOptions): Promise<PlannedObject[]> {
  const refs = objects.map((o, i) => refOf(o, `object ${i + 1}`));
  const infos = await mapLimit(refs, 8, (ref) => discovery.resolve(ref, { what: displayName(ref), ...(opts.signal ? { signal: opts.signal } : {}) }));
  const labels = opts.owner.labels;
  const scaled = hpaTargets(objects, opts.defaultNamespace);
  const planned: PlannedObject[] = [];
  const seen = new Map<string, string>();
  objects.forEach((o, i) => {
    const info = infos[i] as ResourceInfo;
    const desired = clone(o);
    const meta = metadataOf(desired);
    if (info.namespaced) {
      if (typeof meta['namespace'] !== 'string' || meta['namespace'] === '') meta['namespace'] = opts.defaultNamespace;
    } else {
      delete meta['namespace'];
    }
    meta['labels'] = { ...(isRecord(meta['labels']) ? meta['labels'] : {}), ...labels };
    // Generated output often carries these; they are not the user's to set.
    delete meta['creationTimestamp'];
    delete meta['resourceVersion'];
    delete meta['uid'];
    delete meta['managedFields'];
    const ref = refOf(desired);
    const id = displayName(ref);
    const key = `${ref.group}/${ref.kind}/${ref.namespace}/${ref.name}`;
    if (seen.has(key)) throw new KubeError('INPUT', `${id} appears twice in the input`, { object: id });
    seen.set(key, id);
    if (scaled.has(`${ref.kind}/${ref.namespace}/${ref.name}`)) {
      const spec = desired['spec'];
      // The HPA owns the replica count; applying ours would undo its scaling on every apply.
      if (isRecord(spec)) delete spec['replicas'];
    }
    planned.push({ ref, id, info, desired });
  });
  return sortForApply(planned, (p) => p.ref);
}

const scalableKinds = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/ReplicaSet']);

/**
 * Leaves `spec.replicas` out of objects that an HPA already in the cluster scales (HPAs of the
 * set are handled by prepareObjects). One LIST of HPAs per namespace that has such objects;
 * a cluster without autoscaling/v2 or a user who may not list HPAs skips the check.
 */
export async function respectLiveAutoscalers(client: KubeClient, items: PlannedObject[], opts: { concurrency: number; signal?: AbortSignal }): Promise<void> {
  const candidates = items.filter((p) => scalableKinds.has(`${p.ref.group}/${p.ref.kind}`) && isRecord(p.desired['spec']) && (p.desired['spec'] as Record<string, unknown>)['replicas'] !== undefined);
  const namespaces = [...new Set(candidates.map((p) => p.ref.namespace))];
  const targets = new Set<string>();
  await mapLimit(namespaces, opts.concurrency, async (ns) => {
    try {
      const list = await client.request<{ items?: KubeObject[] }>({
        path: `/apis/autoscaling/v2/namespaces/${encodeURIComponent(ns)}/horizontalpodautoscalers`,
        what: `listing HorizontalPodAutoscalers in ${ns}`,
        ...withSignal(opts.signal),
      });
      for (const hpa of list.items ?? []) {
        const target = isRecord(hpa['spec']) ? (hpa['spec'] as Record<string, unknown>)['scaleTargetRef'] : undefined;
        if (isRecord(target)) targets.add(`${String(target['kind'])}/${ns}/${String(target['name'])}`);
      }
    } catch (err) {
      if (err instanceof KubeError && (err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN')) return;
      throw err;
    }
  });
  for (const p of candidates) {
    if (targets.has(`${p.ref.kind}/${p.ref.namespace}/${p.ref.name}`)) delete (p.desired['spec'] as Record<string, unknown>)['replicas'];
  }
}

/** `Kind/namespace/name` of every object an HPA in the set scales. */
function hpaTargets(objects: readonly KubeObject[], defaultNamespace: string): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    if (o['kind'] !== 'HorizontalPodAutoscaler') continue;
    const spec = o['spec'];
    const target = isRecord(spec) ? spec['scaleTargetRef'] : undefined;
    if (!isRecord(target)) continue;
    const meta = isRecord(o['metadata']) ? o['metadata'] : {};
    const ns = typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : defaultNamespace;
    out.add(`${String(target['kind'])}/${ns}/${String(target['name'])}`);
  }
  return out;
}

function withSignal(signal?: AbortSignal): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** GET one object; undefined when it does not exist. */
export async function getLive(client: KubeClient, p: Pick<PlannedObject, 'info' | 'ref' | 'id'>, signal?: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return await client.request<KubeObject>({ path: resourcePath(p.info, p.ref.namespace, p.ref.name), what: `reading ${p.id}`, ...withSignal(signal) });
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
    if (err instanceof KubeError && err.object === undefined) {
      throw new KubeError(err.code, err.message, { cause: err, object: p.id, ...(err.details ? { details: err.details } : {}), ...(err.status !== undefined ? { status: err.status } : {}) });
    }
    throw err;
  }
}

/**
 * Reads the live object an inventory entry names. `undefined` when it is gone, including when
 * its kind is no longer served (its CRD was deleted, so its objects were too).
 */
export async function getLiveEntry(
  client: KubeClient,
  discovery: Discovery,
  ref: ObjectRef,
  signal?: AbortSignal,
): Promise<{ info: ResourceInfo; id: string; live: KubeObject } | undefined> {
  const id = displayName(ref);
  let info: ResourceInfo;
  try {
    info = await discovery.resolve(ref, { what: id, ...withSignal(signal) });
  } catch (err) {
    if (err instanceof KubeError && err.code === 'UNKNOWN_KIND') return undefined;
    throw err;
  }
  const live = await getLive(client, { info, ref, id }, signal);
  return live ? { info, id, live } : undefined;
}

/** Fetches the live objects: one LIST per (resource, namespace) with many members, else GETs. */
export async function fetchLive(client: KubeClient, items: PlannedObject[], opts: { concurrency: number; signal?: AbortSignal }): Promise<void> {
  const groups = new Map<string, PlannedObject[]>();
  for (const p of items) {
    const key = `${resourcePath(p.info, p.ref.namespace)}`;
    const g = groups.get(key) ?? [];
    g.push(p);
    groups.set(key, g);
  }
  const singles: PlannedObject[] = [];
  const lists: Array<[string, PlannedObject[]]> = [];
  for (const [path, g] of groups) {
    if (g.length >= 8 && (g[0] as PlannedObject).info.namespaced) lists.push([path, g]);
    else singles.push(...g);
  }
  await mapLimit(lists, opts.concurrency, async ([path, g]) => {
    const byName = new Map(g.map((p) => [p.ref.name, p]));
    let cont: string | undefined;
    do {
      const list = await client.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
        path,
        query: { limit: 500, ...(cont ? { continue: cont } : {}) },
        what: `listing ${path}`,
        ...withSignal(opts.signal),
      });
      for (const item of list.items ?? []) {
        const meta = isRecord(item['metadata']) ? item['metadata'] : {};
        const p = byName.get(String(meta['name']));
        if (p) {
          // Items of a list carry no apiVersion/kind.
          p.live = { apiVersion: p.desired['apiVersion'], kind: p.ref.kind, ...item };
        }
      }
      cont = list.metadata?.continue || undefined;
    } while (cont);
  });
  await mapLimit(singles, opts.concurrency, async (p) => {
    const live = await getLive(client, p, opts.signal);
    if (live) p.live = live;
  });
}

/** Server-side apply of one object (force ownership, the owner's field manager), optionally as a dry run. */
export async function serverSideApply(client: KubeClient, p: PlannedObject, opts: { dryRun: boolean; fieldManager: string; signal?: AbortSignal }): Promise<KubeObject> {
  return client.request<KubeObject>({
    method: 'PATCH',
    path: resourcePath(p.info, p.ref.namespace, p.ref.name),
    query: { fieldManager: opts.fieldManager, force: true, ...(opts.dryRun ? { dryRun: 'All' } : {}) },
    body: p.desired,
    contentType: 'application/apply-patch+yaml',
    what: `${opts.dryRun ? 'dry-run applying' : 'applying'} ${p.id}`,
    ...withSignal(opts.signal),
  });
}

function isTakenOver(e: Record<string, unknown>, managers: readonly TakeoverManager[]): boolean {
  if (e['subresource'] !== undefined && e['subresource'] !== '') return false;
  const name = String(e['manager'] ?? '');
  return managers.some((m) => m.operation === e['operation'] && (m.prefix ? name.startsWith(m.manager) : name === m.manager));
}

function isOwnApply(e: Record<string, unknown>, fieldManager: string): boolean {
  return e['manager'] === fieldManager && e['operation'] === 'Apply' && (e['subresource'] === undefined || e['subresource'] === '');
}

type CleanupOwner = Pick<Owner, 'fieldManager' | 'takeover' | 'cleanup'>;

/**
 * Whether the live object carries metadata the owner removes before applying (kubectl's
 * last-applied annotation, …) or fields of a manager the owner takes over.
 */
export function needsTakeover(live: KubeObject, owner: CleanupOwner): boolean {
  const annotations = annotationsOf(live);
  const labels = labelsOf(live);
  if (owner.cleanup.annotations.some((a) => annotations[a] !== undefined)) return true;
  if (owner.cleanup.labels.some((l) => labels[l] !== undefined)) return true;
  const mf = metadataOf(live)['managedFields'];
  return Array.isArray(mf) && mf.some((e) => isRecord(e) && !isOwnApply(e, owner.fieldManager) && isTakenOver(e, owner.takeover));
}

function mergeFields(a: unknown, b: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isRecord(a) ? clone(a) : {};
  if (!isRecord(b)) return out;
  for (const [k, v] of Object.entries(b)) out[k] = isRecord(out[k]) && isRecord(v) ? mergeFields(out[k], v) : clone(v);
  return out;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * JSON patch that moves the fields of the managers the owner takes over (kubectl client-side
 * apply, …) to the owner's apply entry and removes the cleanup annotations and labels (as
 * `kubectl apply --server-side` migration and Flux's cleanup do), guarded by the resourceVersion.
 */
export function takeoverPatch(live: KubeObject, owner: CleanupOwner): unknown[] {
  const meta = metadataOf(live);
  const managed = Array.isArray(meta['managedFields']) ? (meta['managedFields'] as unknown[]).filter(isRecord) : [];
  const keep: Record<string, unknown>[] = [];
  const merged = new Map<string, Record<string, unknown>>();
  let takenOver = false;
  for (const e of managed) {
    const isOurs = isOwnApply(e, owner.fieldManager);
    const isTheirs = !isOurs && isTakenOver(e, owner.takeover);
    if (!isOurs && !isTheirs) {
      keep.push(e);
      continue;
    }
    if (isTheirs) takenOver = true;
    const apiVersion = String(e['apiVersion']);
    const prev = merged.get(apiVersion);
    merged.set(apiVersion, {
      manager: owner.fieldManager,
      operation: 'Apply',
      apiVersion,
      time: e['time'] ?? new Date().toISOString(),
      fieldsType: 'FieldsV1',
      fieldsV1: mergeFields(prev?.['fieldsV1'], e['fieldsV1']),
    });
  }
  const removedAnnotations = owner.cleanup.annotations.filter((a) => annotationsOf(live)[a] !== undefined);
  const removedLabels = owner.cleanup.labels.filter((l) => labelsOf(live)[l] !== undefined);
  for (const entry of merged.values()) {
    const fields = entry['fieldsV1'] as Record<string, unknown>;
    const metaFields = fields['f:metadata'];
    if (!isRecord(metaFields)) continue;
    for (const [section, keys] of [['f:annotations', owner.cleanup.annotations], ['f:labels', owner.cleanup.labels]] as const) {
      const sectionFields = metaFields[section];
      if (!isRecord(sectionFields)) continue;
      for (const k of keys) delete sectionFields[`f:${k}`];
      if (Object.keys(sectionFields).filter((k) => k !== '.').length === 0) delete metaFields[section];
    }
  }
  const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: meta['resourceVersion'] }];
  if (takenOver) ops.push({ op: 'replace', path: '/metadata/managedFields', value: [...keep, ...merged.values()] });
  for (const a of removedAnnotations) ops.push({ op: 'remove', path: `/metadata/annotations/${escapePointer(a)}` });
  for (const l of removedLabels) ops.push({ op: 'remove', path: `/metadata/labels/${escapePointer(l)}` });
  return ops;
}

/**
 * What a comparison ignores: bookkeeping the server changes on any write, and status, which
 * controllers change between the read and the dry run and which apply does not set.
 */
export function normalizeForCompare(obj: KubeObject): KubeObject {
  const c = clone(obj);
  delete c['status'];
  const meta = metadataOf(c);
  delete meta['resourceVersion'];
  if (Array.isArray(meta['managedFields'])) {
    meta['managedFields'] = (meta['managedFields'] as unknown[]).map((e) => {
      if (!isRecord(e)) return e;
      const { time: _time, ...rest } = e;
      return rest;
    });
  }
  return c;
}

/** Whether applying would change the live object, judged from the dry-run result. */
export function hasDrifted(live: KubeObject, dryRun: KubeObject): boolean {
  if (isRecord(live['metadata']) && live['metadata']['deletionTimestamp'] !== undefined) return true;
  return !deepEqual(normalizeForCompare(live), normalizeForCompare(dryRun));
}

function immutableField(err: KubeError): string | undefined {
  const cause = err.details?.causes?.find((c) => /immutable/i.test(c.message ?? ''));
  return cause ? cause.field ?? 'a field' : undefined;
}

export interface PlanOptions {
  /** Field manager, per-object annotations and takeover rules. */
  owner: Pick<Owner, 'fieldManager' | 'annotations' | 'takeover' | 'cleanup'>;
  concurrency: number;
  /** Delete and re-create objects whose immutable fields changed (else an error). */
  force: boolean;
  /** Namespaces that this set creates; members of one that does not exist yet count as created. */
  pendingNamespaces?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/** Failure of one object while planning or applying. */
export interface ObjectFailure {
  item: PlannedObject;
  error: KubeError;
}

/** Why the owner leaves this object alone (its skip or if-not-present annotations), or undefined. */
export function skipReason(p: Pick<PlannedObject, 'desired' | 'live'>, owner: Pick<Owner, 'annotations'>): string | undefined {
  const skip = matchSelector(p.desired, owner.annotations.skip) ?? matchSelector(p.live, owner.annotations.skip);
  if (skip) return skip;
  if (p.live) {
    const ifNotPresent = matchSelector(p.desired, owner.annotations.ifNotPresent);
    if (ifNotPresent) return `${ifNotPresent} and the object exists`;
  }
  return undefined;
}

/**
 * Fetches live objects and dry-runs each one; sets `live`, `dryRun`, `action`, `takeover`,
 * `recreate` and `skipped`. Returns the objects the server rejected (nothing is thrown for those).
 */
export async function planObjects(client: KubeClient, items: PlannedObject[], opts: PlanOptions): Promise<ObjectFailure[]> {
  const { owner } = opts;
  await fetchLive(client, items, { concurrency: opts.concurrency, ...withSignal(opts.signal) });
  const dryRunApply = (p: PlannedObject): Promise<KubeObject> => serverSideApply(client, p, { dryRun: true, fieldManager: owner.fieldManager, ...withSignal(opts.signal) });
  const settled = await settleLimit(items, opts.concurrency, async (p) => {
    const skipped = skipReason(p, owner);
    if (skipped !== undefined) {
      p.skipped = skipped;
      p.action = 'skipped';
      return;
    }
    const keepMetadata = matchSelector(p.desired, owner.annotations.noCleanup) ?? matchSelector(p.live, owner.annotations.noCleanup);
    if (p.live && !keepMetadata && needsTakeover(p.live, owner)) p.takeover = true;
    try {
      p.dryRun = await dryRunApply(p);
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      if (err.code === 'IMMUTABLE_FIELD' && p.live) {
        const field = immutableField(err) ?? 'a field';
        const allowed = opts.force || matchSelector(p.desired, owner.annotations.force) !== undefined || matchSelector(p.live, owner.annotations.force) !== undefined;
        if (!allowed) {
          const [forceKey, forceValue] = Object.entries(owner.annotations.force)[0] ?? [];
          const hint = forceKey !== undefined ? ` (or annotate the object ${forceKey}: ${forceValue})` : '';
          throw new KubeError('IMMUTABLE_FIELD', `${p.id}: ${field} is immutable and the new value differs; re-run with --force${hint} to delete and re-create it`, {
            cause: err,
            object: p.id,
            ...(err.details ? { details: err.details } : {}),
          });
        }
        p.recreate = { field };
        p.action = 'configured';
        return;
      }
      if (err.code === 'NOT_FOUND' && !p.live && opts.pendingNamespaces?.has(p.ref.namespace)) {
        p.action = 'created';
        return;
      }
      throw new KubeError(err.code, err.message.includes(p.id) ? err.message : `${p.id}: ${err.message}`, { cause: err, object: p.id, ...(err.details ? { details: err.details } : {}), ...(err.status !== undefined ? { status: err.status } : {}) });
    }
    // A controller may write the object between our read and the dry run (an autoscaler scaling
    // it, say): then the dry run is based on a newer version than `live`, and a difference says
    // nothing. Read it again and dry-run again, a few times at most.
    for (let attempt = 0; attempt < 3 && p.live && p.dryRun && !p.takeover; attempt++) {
      if (metadataOf(p.live)['resourceVersion'] === metadataOf(p.dryRun)['resourceVersion'] || !hasDrifted(p.live, p.dryRun)) break;
      await fetchLive(client, [p], { concurrency: 1, ...withSignal(opts.signal) });
      if (!p.live) break;
      p.dryRun = await dryRunApply(p);
    }
    p.action = !p.live ? 'created' : p.takeover || hasDrifted(p.live, p.dryRun) ? 'configured' : 'unchanged';
  });
  const failures: ObjectFailure[] = [];
  settled.forEach((s, i) => {
    if (!s.ok) {
      const item = items[i] as PlannedObject;
      const error = s.error instanceof KubeError ? s.error : new KubeError('API', `${item.id}: ${(s.error as Error)?.message ?? String(s.error)}`, { cause: s.error, object: item.id });
      failures.push({ item, error });
    }
  });
  return failures;
}

/** Entries of `previous` that are not in `current`. */
export function staleEntries(previous: readonly ObjectRef[], current: readonly ObjectRef[]): ObjectRef[] {
  return previous.filter((p) => !current.some((c) => sameObject(c, p)));
}

/** Union of two entry lists, `first` first, no duplicates. */
export function unionEntries(first: readonly ObjectRef[], second: readonly ObjectRef[]): ObjectRef[] {
  return [...first, ...staleEntries(second, first)];
}
