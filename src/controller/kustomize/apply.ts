// The one place where a Kustomization talks to the apply engine: staged server-side apply with
// Flux's owner (field manager `kustomize-controller`, labels kustomize.toolkit.fluxcd.io/name|
// namespace) and per-object annotations, prune of stale inventory entries, health checks, and the
// delete of a Kustomization's objects on finalization. Results are change sets in Flux's form
// (`Kind/namespace/name action`).
//
// INTERIM: until the generalised engine of src/kube (applySet with an owner) lands, this file
// carries a small engine of its own over src/kube's public pieces (discovery, ordering, wait).
import { FieldManagers, KustomizeObjectAnnotations, KustomizeOwnerLabels } from '../api.js';
import {
  KubeError,
  discoveryFor,
  displayName,
  refOf,
  resourcePath,
  sortForApply,
  sortForDelete,
  stageOf,
  waitForDeletion,
  waitForReady,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
  type ResourceInfo,
} from '../../kube/index.js';

export type ChangeAction = 'created' | 'configured' | 'unchanged' | 'deleted' | 'skipped' | 'unknown';

export interface ChangeEntry {
  ref: ObjectRef;
  /** `Kind/namespace/name` (Flux's subject). */
  subject: string;
  action: ChangeAction;
}

export interface Owner {
  name: string;
  namespace: string;
}

/** A failed step, with the change set of what was done before it failed. */
export class ApplyStepError extends Error {
  constructor(
    message: string,
    readonly changes: ChangeEntry[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApplyStepError';
  }
}

export function ownerLabels(owner: Owner): Record<string, string> {
  return { [KustomizeOwnerLabels.name]: owner.name, [KustomizeOwnerLabels.namespace]: owner.namespace };
}

/** `Deployment/default/podinfo configured` */
export function changeLine(c: ChangeEntry): string {
  return `${c.subject} ${c.action}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function metaOf(o: KubeObject): Record<string, unknown> {
  if (!isRecord(o['metadata'])) o['metadata'] = {};
  return o['metadata'] as Record<string, unknown>;
}

function annotations(o: KubeObject | undefined): Record<string, string> {
  const m = o && isRecord(o['metadata']) ? o['metadata'] : undefined;
  return m && isRecord(m['annotations']) ? (m['annotations'] as Record<string, string>) : {};
}

function labels(o: KubeObject): Record<string, string> {
  const m = isRecord(o['metadata']) ? o['metadata'] : undefined;
  return m && isRecord(m['labels']) ? (m['labels'] as Record<string, string>) : {};
}

function withSignal(signal?: AbortSignal): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

const excluded = (o: KubeObject | undefined) => {
  const a = annotations(o);
  return a[KustomizeObjectAnnotations.reconcile] === 'disabled' || a[KustomizeObjectAnnotations.ssa] === 'Ignore';
};

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, canonical(v[k])]),
  );
}

/** Whether the dry-run result differs from the live object (metadata bookkeeping and status aside). */
function hasDrifted(live: KubeObject, dryRun: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata, status: _status, ...rest } = o;
    const m = isRecord(metadata) ? metadata : {};
    return canonical({ rest, labels: m['labels'] ?? {}, annotations: m['annotations'] ?? {}, deleting: m['deletionTimestamp'] !== undefined });
  };
  return JSON.stringify(strip(live)) !== JSON.stringify(strip(dryRun));
}

interface Planned {
  ref: ObjectRef;
  subject: string;
  info: ResourceInfo;
  desired: KubeObject;
}

export interface ApplyOptions {
  client: KubeClient;
  owner: Owner;
  objects: readonly KubeObject[];
  /** spec.force: re-create objects whose immutable fields changed. */
  force: boolean;
  /** Called with every object's identity once the set is resolved, before anything is written (the inventory store). */
  onPlanned?: (refs: ObjectRef[]) => Promise<void>;
  signal?: AbortSignal;
}

async function getLive(client: KubeClient, p: Pick<Planned, 'info' | 'ref' | 'subject'>, signal?: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return await client.request<KubeObject>({ path: resourcePath(p.info, p.ref.namespace, p.ref.name), what: `reading ${p.subject}`, ...withSignal(signal) });
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

function ssa(client: KubeClient, p: Planned, dryRun: boolean, signal?: AbortSignal): Promise<KubeObject> {
  return client.request<KubeObject>({
    method: 'PATCH',
    path: resourcePath(p.info, p.ref.namespace, p.ref.name),
    query: { fieldManager: FieldManagers.kustomizeApply, force: true, ...(dryRun ? { dryRun: 'All' } : {}) },
    body: p.desired,
    contentType: 'application/apply-patch+yaml',
    what: `${dryRun ? 'dry-run applying' : 'applying'} ${p.subject}`,
    ...withSignal(signal),
  });
}

/** Resolves kinds, checks namespaces, sets the owner labels. In apply order. */
async function prepare(client: KubeClient, owner: Owner, objects: readonly KubeObject[], signal?: AbortSignal): Promise<Planned[]> {
  const discovery = discoveryFor(client);
  const out: Planned[] = [];
  const seen = new Set<string>();
  for (const [i, o] of objects.entries()) {
    const desired = structuredClone(o);
    const ref = refOf(desired, `object ${i + 1} of the build`);
    const subject = displayName(ref);
    const info = await discovery.resolve(ref, { what: subject, ...withSignal(signal) });
    const meta = metaOf(desired);
    if (info.namespaced && ref.namespace === '') {
      throw new KubeError('INPUT', `${ref.kind}/${ref.name} namespace not specified: set metadata.namespace in the manifests or spec.targetNamespace`);
    }
    if (!info.namespaced && ref.namespace !== '') {
      delete meta['namespace'];
      ref.namespace = '';
    }
    meta['labels'] = { ...labels(desired), ...ownerLabels(owner) };
    delete meta['creationTimestamp'];
    delete meta['resourceVersion'];
    delete meta['uid'];
    delete meta['managedFields'];
    delete desired['status'];
    const key = `${ref.group}/${ref.kind}/${ref.namespace}/${ref.name}`;
    if (seen.has(key)) throw new KubeError('INPUT', `${subject} appears twice in the build`);
    seen.add(key);
    out.push({ ref, subject: displayName(ref), info, desired });
  }
  return sortForApply(out, (p) => p.ref);
}

async function applyOne(client: KubeClient, p: Planned, force: boolean, signal?: AbortSignal): Promise<ChangeAction> {
  const live = await getLive(client, p, signal);
  if (excluded(p.desired) || excluded(live)) return 'skipped';
  if (live && annotations(p.desired)[KustomizeObjectAnnotations.ssa] === 'IfNotPresent') return 'skipped';
  let dry: KubeObject;
  try {
    dry = await ssa(client, p, true, signal);
  } catch (err) {
    const immutable = err instanceof KubeError && err.code === 'IMMUTABLE_FIELD';
    if (live && immutable && (force || annotations(p.desired)[KustomizeObjectAnnotations.force] === 'enabled')) {
      await client
        .request({ method: 'DELETE', path: resourcePath(p.info, p.ref.namespace, p.ref.name), query: { propagationPolicy: 'Background' }, what: `deleting ${p.subject} to re-create it`, ...withSignal(signal) })
        .catch((e: unknown) => {
          if (!(e instanceof KubeError && e.code === 'NOT_FOUND')) throw e;
        });
      await waitForDeletion(client, discoveryFor(client), [p.ref], { timeoutMs: 60_000, ...withSignal(signal) });
      await ssa(client, p, false, signal);
      return 'created';
    }
    throw new KubeError(err instanceof KubeError ? err.code : 'API', `${p.subject} dry-run failed: ${(err as Error).message}`, { cause: err });
  }
  if (live && !hasDrifted(live, dry)) return 'unchanged';
  await ssa(client, p, false, signal);
  return live ? 'configured' : 'created';
}

/**
 * Applies the objects in stages (CRDs, Namespaces, ClusterRoles; then `*Class` kinds; then the
 * rest), waiting for each of the first two stages to be ready. Returns every object's change;
 * throws ApplyStepError carrying the changes made before the failure.
 */
export async function applyObjects(opts: ApplyOptions): Promise<ChangeEntry[]> {
  const { client, signal } = opts;
  const changes: ChangeEntry[] = [];
  let items: Planned[];
  try {
    items = await prepare(client, opts.owner, opts.objects, signal);
  } catch (err) {
    throw new ApplyStepError((err as Error).message, changes, { cause: err });
  }
  await opts.onPlanned?.(items.map((p) => p.ref));
  for (const stage of ['cluster', 'class', 'default'] as const) {
    const group = items.filter((p) => stageOf(p.ref) === stage);
    const applied: Planned[] = [];
    const errors: string[] = [];
    for (const p of group) {
      try {
        const action = await applyOne(client, p, opts.force, signal);
        changes.push({ ref: p.ref, subject: p.subject, action });
        if (action !== 'skipped' && action !== 'unchanged') applied.push(p);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) throw new ApplyStepError(errors.join('\n'), changes);
    if (stage !== 'default' && applied.length > 0) {
      if (applied.some((p) => p.ref.kind === 'CustomResourceDefinition')) discoveryFor(client).reset();
      try {
        await waitForReady(client, discoveryFor(client), applied.map((p) => p.ref), { timeoutMs: 60_000, ...withSignal(signal) });
      } catch (err) {
        throw new ApplyStepError(`${stage === 'cluster' ? 'cluster-scoped objects' : 'class objects'} not ready: ${(err as Error).message}`, changes, { cause: err });
      }
    }
  }
  return changes;
}

export interface DeleteOptions {
  client: KubeClient;
  owner: Owner;
  /** Objects to delete (inventory entries); only those carrying both owner labels are. */
  refs: readonly ObjectRef[];
  signal?: AbortSignal;
}

export interface DeleteOutcome {
  changes: ChangeEntry[];
  /** Objects whose delete was not confirmed (they stay in the inventory). */
  survivors: ObjectRef[];
  error?: Error;
}

/**
 * Deletes objects in reverse apply order, as Flux's DeleteAll: an object that is gone counts as
 * deleted; one without both owner labels, or annotated prune: disabled, reconcile: disabled or
 * ssa: Ignore is skipped; background propagation.
 */
export async function deleteObjects(opts: DeleteOptions): Promise<DeleteOutcome> {
  const { client, signal } = opts;
  const discovery = discoveryFor(client);
  const want = ownerLabels(opts.owner);
  const out: DeleteOutcome = { changes: [], survivors: [] };
  const errors: string[] = [];
  for (const ref of sortForDelete(opts.refs, (r) => r)) {
    const subject = displayName(ref);
    try {
      let info: ResourceInfo;
      try {
        info = await discovery.resolve(ref, { what: subject, ...withSignal(signal) });
      } catch (err) {
        // Its kind is no longer served (CRD removed): the object went with it.
        if (err instanceof KubeError && err.code === 'UNKNOWN_KIND') {
          out.changes.push({ ref, subject, action: 'deleted' });
          continue;
        }
        throw err;
      }
      const live = await getLive(client, { info, ref, subject }, signal);
      if (!live) {
        out.changes.push({ ref, subject, action: 'deleted' });
        continue;
      }
      const l = labels(live);
      const a = annotations(live);
      const owned = Object.entries(want).every(([k, v]) => l[k] === v);
      const optedOut = a[KustomizeObjectAnnotations.prune] === 'disabled' || a[KustomizeObjectAnnotations.reconcile] === 'disabled' || a[KustomizeObjectAnnotations.ssa] === 'Ignore';
      if (!owned || optedOut) {
        out.changes.push({ ref, subject, action: 'skipped' });
        continue;
      }
      try {
        await client.request({ method: 'DELETE', path: resourcePath(info, ref.namespace, ref.name), query: { propagationPolicy: 'Background' }, what: `deleting ${subject}`, ...withSignal(signal) });
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
      }
      out.changes.push({ ref, subject, action: 'deleted' });
    } catch (err) {
      out.survivors.push(ref);
      errors.push(`${subject} delete failed: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) out.error = new Error(`failed to delete objects:\n${errors.join('\n')}`);
  return out;
}

/** Waits until every object is Current (kstatus), failing fast on a Failed one. */
export async function checkHealth(client: KubeClient, refs: readonly ObjectRef[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  await waitForReady(client, discoveryFor(client), refs, { timeoutMs: opts.timeoutMs, intervalMs: 1000, ...withSignal(opts.signal) });
}

/** Waits until the deleted objects are gone (deletionPolicy WaitForTermination). */
export async function waitForTermination(client: KubeClient, refs: readonly ObjectRef[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  await waitForDeletion(client, discoveryFor(client), refs, { timeoutMs: opts.timeoutMs, intervalMs: 1000, ...withSignal(opts.signal) });
}
