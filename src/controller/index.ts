// Public surface of the controller domain: Flux's API types, the contract between the runtime
// and the reconcilers, the runtime (caches, work queue, manager, events, leader election, log)
// and the controller process.
export * from './api.js';
export type {
  CacheReader,
  EventSpec,
  EventType,
  KindInfo,
  Logger,
  LogLevel,
  ObjectKey,
  ReconcileContext,
  ReconcileOutcome,
  Reconciler,
} from './runtime/types.js';
export {
  ConditionTypes,
  MaxConditionMessageLength,
  Reasons,
  findCondition,
  isFalse,
  isTrue,
  nowRfc3339,
  removeCondition,
  setCondition,
  summarizeReady,
  type Condition,
} from './runtime/conditions.js';
export { formatDuration, jitter, parseDuration } from './runtime/duration.js';
export { WorkQueue, backoffDelayMs, defaultMaxRetryDelayMs, defaultMinRetryDelayMs, type WorkQueueOptions } from './runtime/queue.js';
export { Cache, Informer, type InformerHandlers, type InformerOptions } from './runtime/cache.js';
export { Manager, sourceArtifactChanged, wantsReconcile, type ControllerStats, type ManagerOptions, type RegisterOptions, type WatchSpec } from './runtime/manager.js';
export { EventRecorder, type EventRecorderOptions } from './runtime/events.js';
export { LeaderElector, defaultLeaseName, leaseNameFor, type LeaderElectionOptions } from './runtime/lease.js';
export { createLogger, parseLogEncoding, parseLogLevel, silentLogger, type LogEncoding, type LoggerOptions } from './runtime/log.js';
export {
  advertisedStorageAddress,
  defaultComponents,
  parseListenAddress,
  resolveControllerOptions,
  runController,
  startController,
  type ComponentDeps,
  type ControllerComponents,
  type ControllerOptions,
  type ResolvedControllerOptions,
  type RunningController,
} from './run.js';
export { crds, ociRepositoryCrd, kustomizationCrd } from './crds.js';
export { installManifests, DefaultInstall, InstallOptionError, type InstallOptions } from './install.js';
export { ArtifactStorage, startArtifactServer, createOCIRepositoryReconciler } from './source/index.js';
export { createKustomizationReconciler, buildKustomization } from './kustomize/index.js';
