// Flux's APIs as lading serves them: source.toolkit.fluxcd.io/v1 OCIRepository and
// kustomize.toolkit.fluxcd.io/v1 Kustomization, stored as v1. v1beta2 is served too (deprecated,
// `conversion: None`, as Flux v1.7 served it; Flux >= v1.8 serves v1 only): the API server hands
// the same stored object out under either version, so v1beta2-only fields (a Kustomization's
// `validation`, `patchesStrategicMerge`, `patchesJson6902`) are not seen by the v1 reader, as in
// Flux. Field names and meanings follow Flux's Go types (source-controller api/v1,
// kustomize-controller api/v1, fluxcd/pkg apis/meta); see docs/controller.md.
import type { Condition } from './runtime/conditions.js';

export const SourceGroup = 'source.toolkit.fluxcd.io';
export const KustomizeGroup = 'kustomize.toolkit.fluxcd.io';

/** Finalizer both controllers put on their objects. */
export const Finalizer = 'finalizers.fluxcd.io';

export const ReconcileAnnotations = {
  /** Any change of value asks for a reconcile now; echoed in status.lastHandledReconcileAt. */
  requestedAt: 'reconcile.fluxcd.io/requestedAt',
  forceAt: 'reconcile.fluxcd.io/forceAt',
} as const;

/** Per-object annotations and owner labels of kustomize-controller. */
export const KustomizeObjectAnnotations = {
  reconcile: 'kustomize.toolkit.fluxcd.io/reconcile', // disabled
  ssa: 'kustomize.toolkit.fluxcd.io/ssa', // Ignore | IfNotPresent | Merge
  force: 'kustomize.toolkit.fluxcd.io/force', // enabled
  prune: 'kustomize.toolkit.fluxcd.io/prune', // disabled
  substitute: 'kustomize.toolkit.fluxcd.io/substitute', // disabled
} as const;

export const KustomizeOwnerLabels = {
  name: 'kustomize.toolkit.fluxcd.io/name',
  namespace: 'kustomize.toolkit.fluxcd.io/namespace',
} as const;

/** Field managers, as Flux names them. */
export const FieldManagers = {
  /** Objects applied by a Kustomization. */
  kustomizeApply: 'kustomize-controller',
  /** Status of a Kustomization. */
  kustomizeStatus: 'gotk-kustomize-controller',
  /** Status of an OCIRepository. */
  sourceStatus: 'source-controller',
} as const;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface LocalObjectReference {
  name: string;
}

/** fluxcd/pkg apis/meta Artifact. */
export interface Artifact {
  /** Storage path relative to the storage root: `ocirepository/<ns>/<name>/<file>`. */
  path: string;
  url: string;
  revision: string;
  /** `sha256:<hex>` of the stored file (not the OCI manifest digest). */
  digest?: string;
  lastUpdateTime: string;
  size?: number;
  metadata?: Record<string, string>;
}

export interface OCIRepositoryRef {
  digest?: string;
  semver?: string;
  semverFilter?: string;
  tag?: string;
}

export interface OCILayerSelector {
  mediaType?: string;
  operation?: 'extract' | 'copy';
}

export interface OCIRepositoryVerification {
  provider: 'cosign' | 'notation';
  secretRef?: LocalObjectReference;
  matchOIDCIdentity?: Array<{ issuer: string; subject: string }>;
  trustedRootSecretRef?: LocalObjectReference;
}

export interface OCIRepositorySpec {
  url: string;
  ref?: OCIRepositoryRef;
  layerSelector?: OCILayerSelector;
  provider?: 'generic' | 'aws' | 'azure' | 'gcp';
  secretRef?: LocalObjectReference;
  verify?: OCIRepositoryVerification;
  serviceAccountName?: string;
  certSecretRef?: LocalObjectReference;
  proxySecretRef?: LocalObjectReference;
  /** Go duration, required. */
  interval: string;
  /** Go duration, default 60s. */
  timeout?: string;
  ignore?: string;
  insecure?: boolean;
  suspend?: boolean;
}

export interface OCIRepositoryStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  url?: string;
  artifact?: Artifact;
  observedIgnore?: string;
  observedLayerSelector?: OCILayerSelector;
  lastHandledReconcileAt?: string;
}

export interface OCIRepository {
  apiVersion: string;
  kind: 'OCIRepository';
  metadata: ObjectMeta;
  spec: OCIRepositorySpec;
  status?: OCIRepositoryStatus;
}

export interface CrossNamespaceSourceReference {
  apiVersion?: string;
  kind: 'OCIRepository' | 'GitRepository' | 'Bucket' | 'ExternalArtifact';
  name: string;
  namespace?: string;
}

export interface KustomizeSelector {
  group?: string;
  version?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  annotationSelector?: string;
  labelSelector?: string;
}

export interface KustomizationSpec {
  sourceRef: CrossNamespaceSourceReference;
  path?: string;
  interval: string;
  retryInterval?: string;
  timeout?: string;
  prune: boolean;
  deletionPolicy?: 'MirrorPrune' | 'Delete' | 'WaitForTermination' | 'Orphan';
  wait?: boolean;
  healthChecks?: Array<{ apiVersion?: string; kind: string; name: string; namespace?: string }>;
  healthCheckExprs?: Array<{ apiVersion: string; kind: string; current?: string; inProgress?: string; failed?: string }>;
  dependsOn?: Array<{ name: string; namespace?: string; readyExpr?: string }>;
  targetNamespace?: string;
  namePrefix?: string;
  nameSuffix?: string;
  patches?: Array<{ patch: string; target?: KustomizeSelector }>;
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  components?: string[];
  ignoreMissingComponents?: boolean;
  commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  buildMetadata?: Array<'originAnnotations' | 'transformerAnnotations'>;
  postBuild?: {
    substituteStrategy?: 'WithVariables' | 'Always';
    substitute?: Record<string, string>;
    substituteFrom?: Array<{ kind: 'Secret' | 'ConfigMap'; name: string; optional?: boolean }>;
  };
  decryption?: { provider: 'sops'; secretRef?: LocalObjectReference; serviceAccountName?: string };
  serviceAccountName?: string;
  kubeConfig?: { secretRef?: { name: string; key?: string }; configMapRef?: LocalObjectReference };
  force?: boolean;
  suspend?: boolean;
  ignore?: Array<{ paths: string[]; target?: KustomizeSelector }>;
}

export interface InventoryEntry {
  /** `<namespace>_<name>_<group>_<kind>` (cli-utils ObjMetadata). */
  id: string;
  /** API version. */
  v: string;
}

export interface HistoryEntry {
  digest: string;
  firstReconciled: string;
  lastReconciled: string;
  lastReconciledDuration: string;
  lastReconciledStatus: string;
  totalReconciliations: number;
  metadata?: Record<string, string>;
}

export interface KustomizationStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastAppliedRevision?: string;
  lastAppliedOriginRevision?: string;
  lastAttemptedRevision?: string;
  lastHandledReconcileAt?: string;
  inventory?: { entries: InventoryEntry[] };
  history?: HistoryEntry[];
}

export interface Kustomization {
  apiVersion: string;
  kind: 'Kustomization';
  metadata: ObjectMeta;
  spec: KustomizationSpec;
  status?: KustomizationStatus;
}

/** What a Kustomization reads of any source kind (OCIRepository, or Flux's GitRepository/Bucket). */
export interface SourceObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: { artifact?: Artifact; conditions?: Condition[]; observedGeneration?: number };
}

/** The kinds the controller reconciles or reads (KindInfo of runtime/types.ts). */
export const Kinds = {
  OCIRepository: { group: SourceGroup, version: 'v1', kind: 'OCIRepository', plural: 'ocirepositories', namespaced: true },
  GitRepository: { group: SourceGroup, version: 'v1', kind: 'GitRepository', plural: 'gitrepositories', namespaced: true },
  Bucket: { group: SourceGroup, version: 'v1', kind: 'Bucket', plural: 'buckets', namespaced: true },
  Kustomization: { group: KustomizeGroup, version: 'v1', kind: 'Kustomization', plural: 'kustomizations', namespaced: true },
} as const;
