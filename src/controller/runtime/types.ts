// The contract between the controller runtime (watches, caches, queue, workers) and the
// reconcilers. A reconciler is a function of (object, cached world) → outcome: the status it
// owns, events, and when to look again. It holds no state of its own between calls; what it must
// remember lives in the object's status or in artifact storage.
import type { KubeClient, KubeObject } from '../../kube/index.js';

export interface ObjectKey {
  namespace: string;
  name: string;
}

/** A kind the runtime watches. */
export interface KindInfo {
  group: string;
  version: string;
  kind: string;
  /** Lower-case plural resource name (`ocirepositories`). */
  plural: string;
  namespaced: boolean;
}

export type EventType = 'Normal' | 'Warning';

/** A Kubernetes event about the reconciled object (Flux's reasons and annotations). */
export interface EventSpec {
  type: EventType;
  reason: string;
  message: string;
  /** Written as the event's metadata.annotations (`source.toolkit.fluxcd.io/revision`, …). */
  annotations?: Record<string, string>;
  /** A trace event: recorded in Kubernetes only, never forwarded to notification-controller. */
  trace?: boolean;
}

export type LogLevel = 'debug' | 'info' | 'error';

/** Structured log with an object reference; values are never Secret data. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  with(fields: Record<string, unknown>): Logger;
}

/** Read access to the runtime's caches (the cached world). */
export interface CacheReader {
  get<T extends KubeObject = KubeObject>(kind: KindInfo, key: ObjectKey): T | undefined;
  list<T extends KubeObject = KubeObject>(kind: KindInfo, namespace?: string): T[];
}

export interface ReconcileContext {
  /** The controller's own API client. */
  client: KubeClient;
  cache: CacheReader;
  /** Aborted on shutdown (after the grace period) and when the reconcile's timeout passes. */
  signal: AbortSignal;
  log: Logger;
  now(): Date;
  /** Writes status now (e.g. Reconciling/Progressing before a long step), with server-side apply under the reconciler's status field manager. */
  patchStatus(status: Record<string, unknown>): Promise<void>;
  /** Records a Kubernetes event about the object. */
  event(event: EventSpec): void;
}

export interface ReconcileOutcome {
  /** The status this reconciler owns, written whole with server-side apply (undefined: leave it). */
  status?: Record<string, unknown>;
  /** Look again after this long (success: jittered interval; failure: retryInterval). */
  requeueAfterMs?: number;
  /** A transient failure: logged, and retried with per-key exponential backoff (750 ms → 15 min). */
  error?: Error;
  /** Add or remove the `finalizers.fluxcd.io` finalizer (after the status is written). */
  finalizer?: 'add' | 'remove';
}

/** One reconciler per kind. */
export interface Reconciler<T extends KubeObject = KubeObject> {
  /** Controller name (`ocirepository`, `kustomization`): logs, metrics, the queue. */
  name: string;
  kind: KindInfo;
  /** Field manager of the status writes (`source-controller`, `gotk-kustomize-controller`). */
  statusManager: string;
  reconcile(object: T, ctx: ReconcileContext): Promise<ReconcileOutcome>;
  /** Other kinds whose changes enqueue objects of this kind (a Kustomization watches its sources). */
  watches?: Array<{ kind: KindInfo; map(object: KubeObject, cache: CacheReader): ObjectKey[] }>;
}
