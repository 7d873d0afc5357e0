// Status bookkeeping of a Kustomization as kustomize-controller keeps it: history snapshots,
// timeout and retry rules, the finalizing touches of every reconcile.
import { ReconcileAnnotations, type HistoryEntry, type Kustomization, type KustomizationStatus } from '../api.js';
import { ConditionTypes, Reasons, findCondition, isFalse, isTrue, removeCondition, setCondition } from '../runtime/conditions.js';
import { formatDuration, parseDuration } from '../runtime/duration.js';
import { nowRfc3339 } from '../runtime/conditions.js';

/** meta.HistoryMaxSize */
export const HistoryMaxSize = 5;

/** spec.interval in ms. */
export function intervalMs(k: Kustomization): number {
  return parseDuration(k.spec.interval, 'spec.interval');
}

/** GetRetryInterval: spec.retryInterval, else the interval. */
export function retryIntervalMs(k: Kustomization): number {
  return k.spec.retryInterval ? parseDuration(k.spec.retryInterval, 'spec.retryInterval') : intervalMs(k);
}

/** GetTimeout: spec.timeout, else interval − 30 s; never under 30 s. */
export function timeoutMs(k: Kustomization): number {
  const d = k.spec.timeout ? parseDuration(k.spec.timeout, 'spec.timeout') : intervalMs(k) - 30_000;
  return Math.max(d, 30_000);
}

/** GetDeletionPolicy */
export function deletionPolicy(k: Kustomization): NonNullable<Kustomization['spec']['deletionPolicy']> {
  return k.spec.deletionPolicy ?? 'MirrorPrune';
}

/** A Go time.Duration string of a measured span (Go prints e.g. `1.234567s`; ms precision here). */
export function elapsed(ms: number): string {
  return formatDuration(Math.max(0, Math.round(ms)));
}

/**
 * History.Upsert: the snapshot with the same (digest, status) is updated and moved to the front;
 * otherwise a new one is put in front; at most five are kept.
 */
export function upsertHistory(
  history: readonly HistoryEntry[] | undefined,
  entry: { digest: string; now: Date; durationMs: number; status: string; metadata: Record<string, string> },
): HistoryEntry[] {
  const list = [...(history ?? [])];
  const now = nowRfc3339(entry.now);
  const duration = elapsed(entry.durationMs);
  const i = list.findIndex((h) => h.digest === entry.digest && h.lastReconciledStatus === entry.status);
  if (i >= 0) {
    const h = list[i] as HistoryEntry;
    const updated: HistoryEntry = { ...h, lastReconciled: now, lastReconciledDuration: duration, totalReconciliations: h.totalReconciliations + 1, metadata: entry.metadata };
    list.splice(i, 1);
    list.unshift(updated);
  } else {
    list.unshift({
      digest: entry.digest,
      firstReconciled: now,
      lastReconciled: now,
      lastReconciledDuration: duration,
      lastReconciledStatus: entry.status,
      totalReconciliations: 1,
      metadata: entry.metadata,
    });
  }
  return list.slice(0, HistoryMaxSize);
}

/**
 * finalizeStatus: lastHandledReconcileAt from the requestedAt annotation; on Ready=True the
 * Reconciling condition goes and observedGeneration is set; on Ready=False a remaining
 * Reconciling condition's reason becomes ProgressingWithRetry.
 */
export function finalizeStatus(k: Kustomization, status: KustomizationStatus): KustomizationStatus {
  const out: KustomizationStatus = { ...status };
  const requested = k.metadata.annotations?.[ReconcileAnnotations.requestedAt];
  if (requested !== undefined) out.lastHandledReconcileAt = requested;
  if (isTrue(out.conditions, ConditionTypes.Ready)) {
    out.conditions = removeCondition(out.conditions, ConditionTypes.Reconciling);
    if (k.metadata.generation !== undefined) out.observedGeneration = k.metadata.generation;
  }
  const reconciling = findCondition(out.conditions, ConditionTypes.Reconciling);
  if (isFalse(out.conditions, ConditionTypes.Ready) && reconciling) {
    out.conditions = (out.conditions ?? []).map((c) => (c.type === ConditionTypes.Reconciling ? { ...c, reason: Reasons.ProgressingWithRetry } : c));
  }
  return out;
}

/**
 * Sets a condition on the status with the object's generation. As fluxcd/pkg conditions do,
 * marking Reconciling removes Stalled and marking Stalled removes Reconciling.
 */
export function mark(status: KustomizationStatus, k: Kustomization, type: string, s: 'True' | 'False' | 'Unknown', reason: string, message: string, now: Date): void {
  let conditions = status.conditions;
  if (type === ConditionTypes.Reconciling && s === 'True') conditions = removeCondition(conditions, ConditionTypes.Stalled);
  if (type === ConditionTypes.Stalled && s === 'True') conditions = removeCondition(conditions, ConditionTypes.Reconciling);
  status.conditions = setCondition(conditions, { type, status: s, reason, message, ...(k.metadata.generation !== undefined ? { observedGeneration: k.metadata.generation } : {}) }, now);
}
