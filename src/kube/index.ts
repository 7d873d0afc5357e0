// Public surface of the kube domain: the apply engine (server-side apply, prune, wait, diff,
// delete) and inventories, over a raw-JSON API client.
export { KubeError, type KubeErrorCode, type ApiStatusDetails } from './errors.js';
export { KubeClient, type ClientOptions, type Impersonation, type RequestOptions, type StreamResponse } from './client.js';
export {
  loadKubeconfigFiles,
  resolveKubeconfig,
  type AuthConfig,
  type ExecConfig,
  type ExecInteractiveMode,
  type KubeconfigOptions,
  type MergedKubeconfig,
  type ResolvedKubeconfig,
} from './kubeconfig.js';
export { inClusterConfig, inClusterPossible, defaultServiceAccountDir, type InClusterOptions } from './incluster.js';
export { ExecCredentialSource, type ExecCredential, type ExecCredentialOptions } from './exec-credentials.js';
export { watch, type WatchEvent, type WatchOptions } from './watch.js';
export { Discovery, discoveryFor, resourcePath, type ResourceInfo } from './discovery.js';
export { displayName, entryId, fromInventoryEntries, parseEntryId, refOf, sameObject, toInventoryEntries, type InventoryEntry, type KubeObject, type ObjectRef } from './objects.js';
export { compareApplyOrder, sortForApply, sortForDelete, stageOf, type Stage } from './ordering.js';
export {
  Annotations,
  Labels,
  applySetId,
  configMapInventoryStore,
  decodeInventory,
  inventoryOwner,
  encodeInventory,
  groupKindsAnnotation,
  listInventories,
  readInventory,
  type Inventory,
  type InventoryStore,
  type InventoryWriteStage,
  type ListInventoriesOptions,
} from './inventory.js';
export { computeReadiness, type Readiness, type ReadinessStatus } from './status.js';
export { waitForReady, waitForDeletion, type WaitOptions, type ObjectStatus } from './wait.js';
export { applyInventory, applySet, type ApplyInventoryOptions, type ApplyResult, type ApplyEvent, type ApplySetOptions, type ApplySetResult } from './apply.js';
export {
  FluxFieldManager,
  FluxObjectAnnotations,
  FluxOwnerLabels,
  LadingLabels,
  LadingObjectAnnotations,
  fluxOwner,
  isOwned,
  ladingOwner,
  matchSelector,
  serviceAccountUser,
  type MetadataSelector,
  type Owner,
  type OwnerAnnotations,
  type TakeoverManager,
} from './owner.js';
export { diffInventory, maskSecrets, renderObjectDiff, type DiffInventoryOptions, type DiffResult, type DiffEntry, type DiffAction } from './diff.js';
export { deleteInventory, deleteSet, type DeleteInventoryOptions, type DeleteResult, type DeleteEvent, type DeleteSetOptions, type DeleteSetResult } from './delete.js';
export type { Action, Change } from './plan.js';
export { loadObjects, flattenLists, type LoadObjectsOptions, type LoadedObjects } from './input.js';
