// Conditions as data, as fluxcd/pkg/runtime/conditions keeps them: metav1.Condition values in a
// list keyed by type; setting one keeps lastTransitionTime unless the status changed; Ready is
// summarised from the others in a fixed priority order.

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** The object's generation this condition was computed for. */
  observedGeneration?: number;
  /** RFC 3339, seconds precision. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** Flux's condition types and reasons used by both reconcilers (fluxcd/pkg apis/meta). */
export const ConditionTypes = {
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
  Healthy: 'Healthy',
  ArtifactInStorage: 'ArtifactInStorage',
  ArtifactOutdated: 'ArtifactOutdated',
  FetchFailed: 'FetchFailed',
  SourceVerified: 'SourceVerified',
  StorageOperationFailed: 'StorageOperationFailed',
} as const;

export const Reasons = {
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Progressing: 'Progressing',
  ProgressingWithRetry: 'ProgressingWithRetry',
  DependencyNotReady: 'DependencyNotReady',
  ReconciliationSucceeded: 'ReconciliationSucceeded',
  ReconciliationFailed: 'ReconciliationFailed',
  ArtifactFailed: 'ArtifactFailed',
  BuildFailed: 'BuildFailed',
  HealthCheckFailed: 'HealthCheckFailed',
  PruneFailed: 'PruneFailed',
  AccessDenied: 'AccessDenied',
  InvalidCELExpression: 'InvalidCELExpression',
  FeatureGateDisabled: 'FeatureGateDisabled',
  URLInvalid: 'URLInvalid',
  AuthenticationFailed: 'AuthenticationFailed',
  OCIArtifactPullFailed: 'OCIArtifactPullFailed',
  OCIArtifactLayerOperationFailed: 'OCIArtifactLayerOperationFailed',
  ReadOperationFailed: 'ReadOperationFailed',
  VerificationError: 'VerificationError',
  NewRevision: 'NewRevision',
  ArtifactUpToDate: 'ArtifactUpToDate',
  DirectoryCreationFailed: 'DirectoryCreationFailed',
  StatOperationFailed: 'StatOperationFailed',
  InvalidPath: 'InvalidPath',
  ArchiveOperationFailed: 'ArchiveOperationFailed',
  SymlinkUpdateFailed: 'SymlinkUpdateFailed',
} as const;

/** Flux truncates condition messages to this many characters (kustomize-controller's MaxConditionMessageLength). */
export const MaxConditionMessageLength = 20_000;

/** The current time as Kubernetes writes it in conditions (RFC 3339, no fraction). */
export function nowRfc3339(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'False';
}

/**
 * Returns the list with `type` set. lastTransitionTime is kept when the status did not change
 * (as meta.SetStatusCondition does); the message is truncated to MaxConditionMessageLength.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  c: { type: string; status: Condition['status']; reason: string; message: string; observedGeneration?: number },
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const message = c.message.length > MaxConditionMessageLength ? c.message.slice(0, MaxConditionMessageLength) : c.message;
  const i = list.findIndex((x) => x.type === c.type);
  const previous = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
    lastTransitionTime: previous && previous.status === c.status ? previous.lastTransitionTime : nowRfc3339(now),
    reason: c.reason,
    message,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/**
 * Ready summarised as fluxcd/pkg/runtime/conditions.SetSummary does: the first condition of
 * `negativePolarity` (abnormal-true types such as FetchFailed, Stalled) that is True gives
 * Ready=False with its reason and message; else the first of `positivePolarity` that is False
 * gives Ready=False; else Ready keeps what the reconciler set. `order` is the priority order.
 */
export function summarizeReady(
  conditions: readonly Condition[],
  opts: { order: readonly string[]; negativePolarity: readonly string[]; observedGeneration?: number },
  now: Date = new Date(),
): Condition[] {
  for (const type of opts.order) {
    const c = findCondition(conditions, type);
    if (!c || type === ConditionTypes.Ready) continue;
    const negative = opts.negativePolarity.includes(type);
    if ((negative && c.status === 'True') || (!negative && c.status === 'False')) {
      const status = type === ConditionTypes.Reconciling ? 'Unknown' : 'False';
      return setCondition(conditions, { type: ConditionTypes.Ready, status, reason: c.reason, message: c.message, ...(opts.observedGeneration !== undefined ? { observedGeneration: opts.observedGeneration } : {}) }, now);
    }
  }
  return [...conditions];
}
