// Who applies a set of objects, and the rules that come with it: the field manager, the labels
// put on every object (and which of them make a live object "ours" for prune and delete), the
// per-object annotations honoured, and which other managers' fields are taken over. Two owners
// exist: lading's inventories (`lading apply inventory`) and Flux's Kustomizations (the
// in-cluster controller applies exactly as kustomize-controller does, so objects move between
// Flux and lading without conflicts).
import { annotationsOf, labelsOf, type KubeObject } from './objects.js';

/** `key: value` pairs matched against an object's labels and annotations; any one pair matches. */
export type MetadataSelector = Readonly<Record<string, string>>;

/** A managed-fields entry whose fields are moved to the owner's apply entry before applying. */
export interface TakeoverManager {
  /** Manager name; with `prefix`, any manager whose name starts with it. */
  manager: string;
  operation: 'Apply' | 'Update';
  prefix?: boolean;
}

/** The per-object opt-outs and opt-ins an owner honours (each a selector; empty: none). */
export interface OwnerAnnotations {
  /** Desired or live objects matching this are neither applied nor pruned (skipped, kept in the inventory). */
  skip: MetadataSelector;
  /** Desired objects matching this are created when absent and otherwise left alone (skipped). */
  ifNotPresent: MetadataSelector;
  /** Desired or live objects matching this are deleted and re-created when an immutable field changes. */
  force: MetadataSelector;
  /** Live objects matching this are never deleted by prune or delete. */
  noPrune: MetadataSelector;
  /** Desired or live objects matching this keep their metadata: no cleanup, no takeover of other managers' fields. */
  noCleanup: MetadataSelector;
}

export interface Owner {
  /** What owns the set, for messages: `inventory ns/name`, `Kustomization ns/name`. */
  description: string;
  /** Server-side apply field manager. */
  fieldManager: string;
  /** Labels put on every applied object. */
  labels: Readonly<Record<string, string>>;
  /** Labels a live object must carry, every one with this value, to count as owned (prune, delete). */
  ownership: Readonly<Record<string, string>>;
  annotations: OwnerAnnotations;
  /** Managed-fields entries whose fields this owner takes over before applying. */
  takeover: readonly TakeoverManager[];
  /** Metadata removed from live objects before applying (unless `noCleanup` matches). */
  cleanup: { annotations: readonly string[]; labels: readonly string[] };
}

/** kubectl's client-side apply annotation, removed before the first server-side apply. */
export const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

export const ladingFieldManager = 'lading';

/** lading's labels and annotations (inventories, kubectl ApplySet). */
export const LadingLabels = {
  inventoryName: 'inventory.lading.dev/name',
  inventoryNamespace: 'inventory.lading.dev/namespace',
  applysetPartOf: 'applyset.kubernetes.io/part-of',
} as const;

export const LadingObjectAnnotations = {
  /** `disabled` keeps an object in the cluster when it leaves the inventory. */
  prune: 'lading.dev/prune',
  /** `enabled` lets apply delete and re-create the object when an immutable field changes. */
  force: 'lading.dev/force',
} as const;

/** Flux kustomize-controller's names (the same values as src/controller/api.ts). */
export const FluxFieldManager = 'kustomize-controller';
export const FluxOwnerLabels = {
  name: 'kustomize.toolkit.fluxcd.io/name',
  namespace: 'kustomize.toolkit.fluxcd.io/namespace',
} as const;
export const FluxObjectAnnotations = {
  reconcile: 'kustomize.toolkit.fluxcd.io/reconcile',
  ssa: 'kustomize.toolkit.fluxcd.io/ssa',
  force: 'kustomize.toolkit.fluxcd.io/force',
  prune: 'kustomize.toolkit.fluxcd.io/prune',
} as const;

/**
 * The owner of a lading inventory: field manager `lading`, the inventory labels and the
 * ApplySet membership label (`applySetId` of the inventory), `lading.dev/prune: disabled` and
 * `lading.dev/force: enabled`, fields of kubectl client-side apply taken over.
 */
export function ladingOwner(inventory: { name: string; namespace: string; applySetId: string }): Owner {
  return {
    description: `inventory ${inventory.namespace}/${inventory.name}`,
    fieldManager: ladingFieldManager,
    labels: {
      [LadingLabels.inventoryName]: inventory.name,
      [LadingLabels.inventoryNamespace]: inventory.namespace,
      [LadingLabels.applysetPartOf]: inventory.applySetId,
    },
    ownership: { [LadingLabels.inventoryName]: inventory.name, [LadingLabels.inventoryNamespace]: inventory.namespace },
    annotations: {
      skip: {},
      ifNotPresent: {},
      force: { [LadingObjectAnnotations.force]: 'enabled' },
      noPrune: { [LadingObjectAnnotations.prune]: 'disabled' },
      noCleanup: {},
    },
    takeover: [
      { manager: 'kubectl', operation: 'Update' },
      { manager: 'kubectl-client-side-apply', operation: 'Update' },
      { manager: 'before-first-apply', operation: 'Update' },
    ],
    cleanup: { annotations: [lastAppliedAnnotation], labels: [] },
  };
}

/**
 * The owner of a Flux Kustomization, as kustomize-controller applies: field manager
 * `kustomize-controller`, labels `kustomize.toolkit.fluxcd.io/name|namespace` (both must match
 * for prune), `reconcile: disabled` and `ssa: Ignore` skip, `ssa: IfNotPresent` creates only,
 * `ssa: Merge` keeps the metadata and managers of others, `force: enabled` re-creates,
 * `prune: disabled` never deletes. Before applying, fields of `kubectl` (Apply and Update, any
 * `kubectl…` manager), `before-first-apply` and the controller's own pre-SSA updates are taken
 * over, and the last-applied annotation and Flux v1's checksum metadata are removed.
 */
export function fluxOwner(kustomization: { name: string; namespace: string }, opts: { fieldManager?: string; disallowedManagers?: readonly string[] } = {}): Owner {
  const fieldManager = opts.fieldManager ?? FluxFieldManager;
  const labels = { [FluxOwnerLabels.name]: kustomization.name, [FluxOwnerLabels.namespace]: kustomization.namespace };
  return {
    description: `Kustomization ${kustomization.namespace}/${kustomization.name}`,
    fieldManager,
    labels,
    ownership: labels,
    annotations: {
      skip: { [FluxObjectAnnotations.reconcile]: 'disabled', [FluxObjectAnnotations.ssa]: 'Ignore' },
      ifNotPresent: { [FluxObjectAnnotations.ssa]: 'IfNotPresent' },
      force: { [FluxObjectAnnotations.force]: 'enabled' },
      noPrune: { [FluxObjectAnnotations.prune]: 'disabled', [FluxObjectAnnotations.reconcile]: 'disabled', [FluxObjectAnnotations.ssa]: 'Ignore' },
      noCleanup: { [FluxObjectAnnotations.ssa]: 'Merge' },
    },
    takeover: [
      { manager: 'kubectl', operation: 'Apply', prefix: true },
      { manager: 'kubectl', operation: 'Update', prefix: true },
      { manager: 'before-first-apply', operation: 'Update', prefix: true },
      { manager: fieldManager, operation: 'Update', prefix: true },
      ...(opts.disallowedManagers ?? []).flatMap((m) => [
        { manager: m, operation: 'Apply' as const, prefix: true },
        { manager: m, operation: 'Update' as const, prefix: true },
      ]),
    ],
    cleanup: { annotations: [lastAppliedAnnotation, 'kustomize.toolkit.fluxcd.io/checksum', 'fluxcd.io/sync-checksum'], labels: ['fluxcd.io/sync-gc-mark'] },
  };
}

/** The first `key: value` of the selector the object carries as a label or annotation, as `key: value`. */
export function matchSelector(obj: KubeObject | undefined, selector: MetadataSelector): string | undefined {
  if (!obj) return undefined;
  const labels = labelsOf(obj);
  const annotations = annotationsOf(obj);
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] === v || annotations[k] === v) return `${k}: ${v}`;
  }
  return undefined;
}

/** Whether a live object carries every ownership label of the owner. */
export function isOwned(obj: KubeObject, owner: Pick<Owner, 'ownership'>): boolean {
  const labels = labelsOf(obj);
  return Object.entries(owner.ownership).every(([k, v]) => labels[k] === v);
}

/** `system:serviceaccount:<namespace>:<name>`, the user name of a service account (Flux's serviceAccountName). */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}
