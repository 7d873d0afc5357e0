// The one place where a Kustomization talks to the apply engine (src/kube applySet/deleteSet)
// with Flux's owner: field manager `kustomize-controller`, labels
// kustomize.toolkit.fluxcd.io/name|namespace (both required for prune and delete), the
// per-object annotations (reconcile: disabled, ssa: Ignore|IfNotPresent|Merge, force: enabled,
// prune: disabled), the entries kept in status.inventory through a store. Results are change
// sets in Flux's form (`Kind/namespace/name action`).
import {
  applySet,
  deleteSet,
  discoveryFor,
  fluxOwner,
  refOf,
  waitForDeletion,
  waitForReady,
  type Change,
  type KubeClient,
  type KubeObject,
  type ObjectRef,
} from '../../kube/index.js';

export type ChangeAction = Change['action'];

export interface ChangeEntry {
  ref: ObjectRef;
  /** `Kind/namespace/name` (Flux's subject). */
  subject: string;
  action: ChangeAction;
  /** Why an object was skipped. */
  reason?: string;
  /** A Job with spec.ttlSecondsAfterFinished (its absence after it ran counts as healthy). */
  ttlJob?: boolean;
}

export interface Owner {
  name: string;
  namespace: string;
}

/** Where the entries live between runs (status.inventory); `write` may persist them at once. */
export interface EntryStore {
  read(): ObjectRef[];
  write(entries: ObjectRef[], stage: 'before-apply' | 'after-failure' | 'complete'): Promise<void>;
}

/** A failed step (apply or prune), with the change set of what was done before it failed. */
export class ApplyStepError extends Error {
  constructor(
    message: string,
    readonly step: 'apply' | 'prune',
    readonly changes: ChangeEntry[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApplyStepError';
  }
}

/** `Deployment/default/podinfo configured` */
export function changeLine(c: ChangeEntry): string {
  return `${c.subject} ${c.action}`;
}

function entry(c: Change): ChangeEntry {
  return { ref: c.ref, subject: c.id, action: c.action, ...(c.reason !== undefined ? { reason: c.reason } : {}) };
}

export interface ApplyOptions {
  client: KubeClient;
  owner: Owner;
  objects: readonly KubeObject[];
  store: EntryStore;
  /** spec.prune: delete owned objects that left the set; else they are forgotten, as Flux does. */
  prune: boolean;
  /** spec.force: re-create objects whose immutable fields changed. */
  force: boolean;
  /** Limit of the waits inside the apply (the Namespace/CRD stage, re-created objects). */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ApplyOutcome {
  /** One entry per object of the set, in apply order. */
  applied: ChangeEntry[];
  /** What prune deleted or skipped. */
  pruned: ChangeEntry[];
  /** The entries to keep in status.inventory. */
  entries: ObjectRef[];
}

/**
 * Staged server-side apply of the set, then prune of what left it. Throws ApplyStepError naming
 * the step that failed (Flux's ReconciliationFailed or PruneFailed).
 */
export async function applyObjects(opts: ApplyOptions): Promise<ApplyOutcome> {
  let count: number | undefined;
  const seen: ChangeEntry[] = [];
  refuseEncryptedSecrets(opts.objects);
  await requireNamespaces(opts.client, opts.objects, opts.signal);
  try {
    const result = await applySet({
      client: opts.client,
      owner: fluxOwner(opts.owner),
      store: { read: async () => opts.store.read(), write: (entries, stage) => opts.store.write(entries, stage) },
      objects: opts.objects,
      // Flux sends objects as built: a namespaced object without a namespace fails; this
      // namespace is only what kustomize-controller's API calls would default to.
      defaultNamespace: opts.owner.namespace,
      prune: opts.prune,
      force: opts.force,
      wait: false,
      timeoutMs: opts.timeoutMs,
      onEvent: (e) => {
        if (e.type === 'applying') count = e.count;
        if (e.type === 'change') seen.push(entry(e.change));
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const n = count ?? 0;
    const ttl = new Set(opts.objects.filter(isTtlJob).map((o) => keyOf(o)));
    const applied = result.changes.slice(0, n).map((c) => ({ ...entry(c), ...(ttl.has(`${c.ref.group}/${c.ref.kind}/${c.ref.namespace}/${c.ref.name}`) ? { ttlJob: true } : {}) }));
    const pruned = result.changes.slice(n).map(entry);
    // Without prune Flux forgets the objects that left the set.
    const entries = opts.prune ? result.entries : applied.map((c) => c.ref);
    return { applied, pruned, entries };
  } catch (err) {
    const step = count !== undefined && seen.length >= count ? 'prune' : 'apply';
    throw new ApplyStepError((err as Error).message, step, seen, { cause: err });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keyOf(o: KubeObject): string {
  const api = String(o['apiVersion'] ?? '');
  const group = api.includes('/') ? api.slice(0, api.indexOf('/')) : '';
  const meta = isRecord(o['metadata']) ? o['metadata'] : {};
  return `${group}/${String(o['kind'])}/${String(meta['namespace'] ?? '')}/${String(meta['name'] ?? '')}`;
}

function isTtlJob(o: KubeObject): boolean {
  return String(o['apiVersion']).startsWith('batch/') && o['kind'] === 'Job' && isRecord(o['spec']) && typeof o['spec']['ttlSecondsAfterFinished'] === 'number';
}

/**
 * A SOPS-encrypted Secret (a top-level `sops` field) cannot be applied: lading does not decrypt
 * (Flux fails the same way when spec.decryption is not set), unless the object opts out with
 * `kustomize.toolkit.fluxcd.io/decrypt: disabled`.
 */
function refuseEncryptedSecrets(objects: readonly KubeObject[]): void {
  for (const o of objects) {
    if (o['apiVersion'] !== 'v1' || o['kind'] !== 'Secret' || o['sops'] === undefined) continue;
    const meta = isRecord(o['metadata']) ? o['metadata'] : {};
    const annotations = isRecord(meta['annotations']) ? meta['annotations'] : {};
    if (String(annotations['kustomize.toolkit.fluxcd.io/decrypt'] ?? '').toLowerCase() === 'disabled') continue;
    const id = `Secret/${meta['namespace'] ? `${String(meta['namespace'])}/` : ''}${String(meta['name'] ?? '')}`;
    throw new ApplyStepError(`${id} is SOPS encrypted, configuring decryption is required for this secret to be reconciled`, 'apply', []);
  }
}

/**
 * Flux applies objects as built: a namespaced object without a namespace fails its dry run
 * ("namespace not specified"); lading's engine would default it, so it is refused here.
 */
async function requireNamespaces(client: KubeClient, objects: readonly KubeObject[], signal?: AbortSignal): Promise<void> {
  const discovery = discoveryFor(client);
  const missing: string[] = [];
  for (const [i, o] of objects.entries()) {
    const meta = o['metadata'] as Record<string, unknown> | undefined;
    if (typeof meta?.['namespace'] === 'string' && meta['namespace'] !== '') continue;
    let ref: ObjectRef;
    try {
      ref = refOf(o, `object ${i + 1} of the build`);
    } catch (err) {
      throw new ApplyStepError((err as Error).message, 'apply', [], { cause: err });
    }
    let namespaced: boolean;
    try {
      namespaced = (await discovery.resolve(ref, { what: `${ref.kind}/${ref.name}`, ...(signal ? { signal } : {}) })).namespaced;
    } catch (err) {
      throw new ApplyStepError(`${ref.kind}/${ref.name} dry-run failed: ${(err as Error).message}`, 'apply', [], { cause: err });
    }
    if (namespaced) missing.push(`${ref.kind}/${ref.name} namespace not specified: set metadata.namespace in the manifests or spec.targetNamespace`);
  }
  if (missing.length > 0) throw new ApplyStepError(missing.join('\n'), 'apply', []);
}

export interface DeleteOptions {
  client: KubeClient;
  owner: Owner;
  refs: readonly ObjectRef[];
  signal?: AbortSignal;
}

/**
 * Deletes the objects in reverse apply order, as Flux's DeleteAll on finalization: only those
 * carrying both owner labels and no opt-out (prune: disabled, reconcile: disabled, ssa: Ignore).
 */
export async function deleteObjects(opts: DeleteOptions): Promise<ChangeEntry[]> {
  const result = await deleteSet({ client: opts.client, owner: fluxOwner(opts.owner), entries: opts.refs, ...(opts.signal ? { signal: opts.signal } : {}) });
  return result.changes.map(entry);
}

/** Waits until every object is Current (kstatus), failing fast on a Failed one; Jobs with a TTL may be gone. */
export async function checkHealth(client: KubeClient, refs: readonly ObjectRef[], opts: { timeoutMs: number; readyWhenGone?: readonly ObjectRef[]; signal?: AbortSignal }): Promise<void> {
  await waitForReady(client, discoveryFor(client), refs, {
    timeoutMs: opts.timeoutMs,
    intervalMs: 1000,
    failFast: true,
    ...(opts.readyWhenGone ? { readyWhenGone: opts.readyWhenGone } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/** Waits until the deleted objects are gone (deletionPolicy WaitForTermination). */
export async function waitForTermination(client: KubeClient, refs: readonly ObjectRef[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  await waitForDeletion(client, discoveryFor(client), refs, { timeoutMs: opts.timeoutMs, intervalMs: 1000, ...(opts.signal ? { signal: opts.signal } : {}) });
}
