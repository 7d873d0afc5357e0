// The manager runs reconcilers, as controller-runtime's manager and controllers do: one cache per
// kind (cache.ts), one work queue per reconciler (queue.ts), `concurrent` workers per reconciler,
// Flux's predicates, status written with server-side apply, the finalizer, events, leader
// election and a graceful shutdown.
//
// What enqueues an object of a reconciled kind (Flux's GenerationChanged or ReconcileRequested):
// its creation (and every object of the first list), a change of metadata.generation, a change of
// the `reconcile.fluxcd.io/requestedAt` annotation, and deletionTimestamp being set. A status-only
// update does not. A deleted object needs nothing (its finalizer kept it until the reconciler let
// go). Objects of kinds in `watches` enqueue what their map function returns, when their
// `status.artifact` appeared or changed (Flux's SourceRevisionChangePredicate), or when they are
// added or deleted after the first list.
import { asError, LadingError } from '../../errors.js';
import { KubeError, type KubeClient, type KubeObject } from '../../kube/index.js';
import { ReconcileAnnotations } from '../api.js';
import { Cache, type Informer } from './cache.js';
import { EventRecorder } from './events.js';
import { LeaderElector, type LeaderElectionOptions } from './lease.js';
import { WorkQueue } from './queue.js';
import { labelSelectorMatcher } from './selector.js';
import type { CacheReader, EventSpec, KindInfo, Logger, ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler } from './types.js';
import { apiVersionOfKind, delay, isRecord, keyOf, keyString, metadataOf, objectPath, parseKey, stringField } from './util.js';
import { Finalizer } from '../api.js';

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  /** Watch this namespace only (`--watch-all-namespaces=false`); undefined: all namespaces. */
  namespace?: string;
  /** `--watch-label-selector`: applies to the reconciled kinds, not to the kinds they only watch. */
  labelSelector?: string;
  /** Workers per reconciler (`--concurrent`, default 4). */
  concurrent?: number;
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** How long in-flight reconciles may run on after a stop before their signals abort (default 30 s). */
  gracefulShutdownTimeoutMs?: number;
  /** Leader election (`--enable-leader-election`); without it the manager reconciles at once. */
  leaderElection?: Omit<LeaderElectionOptions, 'client' | 'log'>;
  /** Event writer (default: one on `client`). */
  events?: EventRecorder;
  now?: () => Date;
}

export interface RegisterOptions {
  /** `source.component` and `reportingComponent` of the reconciler's events (default: its statusManager). */
  reportingController?: string;
  /** Workers of this reconciler (default: the manager's `concurrent`). */
  concurrent?: number;
}

/** A watch of another kind; `predicate` (when given) replaces the default source-artifact rule. */
export interface WatchSpec {
  kind: KindInfo;
  map(object: KubeObject, cache: CacheReader): ObjectKey[];
  predicate?: (old: KubeObject | undefined, object: KubeObject | undefined) => boolean;
}

/** Counts of one reconciler, for metrics and tests. */
export interface ControllerStats {
  reconciles: number;
  errors: number;
  active: number;
  maxActive: number;
  queued: number;
}

interface Controller {
  reconciler: Reconciler;
  component: string;
  concurrent: number;
  queue: WorkQueue;
  informer?: Informer;
  /** Whether an object of the cache belongs to this controller (its shard). */
  inShard: (o: KubeObject) => boolean;
  workers: Array<Promise<void>>;
  stats: ControllerStats;
}

const generationOf = (o: KubeObject): unknown => metadataOf(o)['generation'];
const annotationOf = (o: KubeObject, name: string): string | undefined => {
  const a = metadataOf(o)['annotations'];
  return isRecord(a) && typeof a[name] === 'string' ? a[name] : undefined;
};
const deletionOf = (o: KubeObject): string | undefined => stringField(metadataOf(o), 'deletionTimestamp');
const labelsOf = (o: KubeObject): Record<string, string> | undefined => {
  const l = metadataOf(o)['labels'];
  return isRecord(l) ? (l as Record<string, string>) : undefined;
};
const kindId = (k: KindInfo): string => `${k.group}/${k.version}/${k.plural}`;

/** Whether an update of a reconciled object asks for a reconcile (see the top of this file). */
export function wantsReconcile(old: KubeObject, object: KubeObject): boolean {
  if (generationOf(old) !== generationOf(object)) return true;
  if (annotationOf(old, ReconcileAnnotations.requestedAt) !== annotationOf(object, ReconcileAnnotations.requestedAt)) return true;
  return deletionOf(old) === undefined && deletionOf(object) !== undefined;
}

function artifactOf(o: KubeObject | undefined): string | undefined {
  const status = o?.['status'];
  if (!isRecord(status) || !isRecord(status['artifact'])) return undefined;
  const a = status['artifact'];
  return JSON.stringify([a['revision'], a['digest']]);
}

/** Default predicate of watched kinds: the source's artifact appeared, changed, or the source came or went. */
export function sourceArtifactChanged(old: KubeObject | undefined, object: KubeObject | undefined): boolean {
  if (old === undefined || object === undefined) return true;
  return artifactOf(old) !== artifactOf(object);
}

export class Manager {
  readonly cache: Cache;
  readonly events: EventRecorder;
  private readonly controllers: Controller[] = [];
  private readonly log: Logger;
  private readonly client: KubeClient;
  /** Stops the caches (last). */
  private readonly cacheStop = new AbortController();
  /** Aborted when the grace period after stop() has passed: the reconcilers' signal. */
  private readonly hardStop = new AbortController();
  /** Aborted when stop() is called: no more campaigning or new work. */
  private readonly softStop = new AbortController();
  private readonly elector: LeaderElector | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private failure: Error | undefined;
  private finished!: () => void;
  /** Resolves when the manager has stopped; rejects if it stopped because of a failure (leadership lost). */
  readonly done: Promise<void>;

  constructor(private readonly opts: ManagerOptions) {
    this.log = opts.log;
    this.client = opts.client;
    this.cache = new Cache({ client: opts.client, log: opts.log, ...(opts.namespace ? { namespace: opts.namespace } : {}) });
    this.events = opts.events ?? new EventRecorder({ client: opts.client, log: opts.log, ...(opts.now ? { now: opts.now } : {}) });
    this.elector = opts.leaderElection ? new LeaderElector({ ...opts.leaderElection, client: opts.client, log: opts.log }) : undefined;
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.done = done.then(() => {
      if (this.failure) throw this.failure;
    });
    // The caller may never await done (a test that stops the manager itself).
    this.done.catch(() => undefined);
  }

  register<T extends KubeObject>(reconciler: Reconciler<T>, opts: RegisterOptions = {}): void {
    if (this.started) throw new LadingError('INVALID_STATE', `registering ${reconciler.name}: the manager has started`);
    const r = reconciler as unknown as Reconciler;
    this.controllers.push({
      reconciler: r,
      component: opts.reportingController ?? r.statusManager,
      concurrent: Math.max(1, opts.concurrent ?? this.opts.concurrent ?? 4),
      queue: new WorkQueue({
        ...(this.opts.minRetryDelayMs !== undefined ? { minRetryDelayMs: this.opts.minRetryDelayMs } : {}),
        ...(this.opts.maxRetryDelayMs !== undefined ? { maxRetryDelayMs: this.opts.maxRetryDelayMs } : {}),
      }),
      inShard: () => true,
      workers: [],
      stats: { reconciles: 0, errors: 0, active: 0, maxActive: 0, queued: 0 },
    });
  }

  /** Counts of the reconciler named `name`. */
  stats(name: string): ControllerStats | undefined {
    const c = this.controllers.find((x) => x.reconciler.name === name);
    return c ? { ...c.stats, queued: c.queue.length } : undefined;
  }

  /** Every reconciled kind's cache holds its first list. */
  get ready(): boolean {
    return this.started && !this.stopping && this.controllers.every((c) => c.informer?.hasSynced === true);
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : this.started;
  }

  /**
   * Starts the caches, then (once elected, with leader election) the workers of each reconciler
   * when its kind's cache has synced. Returns at once; `done` says when the manager stopped.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    // --watch-label-selector limits what each controller reconciles. A kind that another
    // controller only reads (a Kustomization reads every source, as Flux's kustomize-controller
    // caches sources unfiltered) keeps one unfiltered cache, and the selector is applied here;
    // a kind nobody else reads is filtered by the API server.
    const selector = this.opts.labelSelector;
    const read = new Set(this.controllers.flatMap((c) => (c.reconciler.watches ?? []).map((w) => kindId(w.kind))));
    for (const c of this.controllers) {
      const sharedKind = read.has(kindId(c.reconciler.kind));
      const informer = this.cache.informerFor(c.reconciler.kind, selector && !sharedKind ? { labelSelector: selector } : {});
      if (selector && sharedKind) {
        const matches = labelSelectorMatcher(selector);
        c.inShard = (o) => matches(labelsOf(o));
      }
      c.informer = informer;
      informer.addHandlers({
        add: (o) => {
          if (c.inShard(o)) c.queue.add(keyString(keyOf(o)));
        },
        update: (old, o) => {
          // An object labelled into the shard is new to this controller.
          if (c.inShard(o) && (wantsReconcile(old, o) || !c.inShard(old))) c.queue.add(keyString(keyOf(o)));
        },
        delete: (o) => {
          const key = keyString(keyOf(o));
          c.queue.forget(key);
          c.queue.cancelTimer(key);
        },
      });
    }
    for (const c of this.controllers) {
      for (const w of (c.reconciler.watches ?? []) as WatchSpec[]) {
        const informer = this.cache.informerFor(w.kind);
        const predicate = w.predicate ?? sourceArtifactChanged;
        const enqueue = (o: KubeObject) => {
          for (const key of w.map(o, this.cache)) c.queue.add(keyString(key));
        };
        informer.addHandlers({
          add: (o) => {
            if (informer.hasSynced && predicate(undefined, o)) enqueue(o);
          },
          update: (old, o) => {
            if (predicate(old, o)) enqueue(o);
          },
          delete: (o) => {
            if (predicate(o, undefined)) enqueue(o);
          },
        });
      }
    }
    void this.cache.start(this.cacheStop.signal);
    void this.run();
  }

  private async run(): Promise<void> {
    const signal = this.softStop.signal;
    if (this.elector) {
      const elected = await this.elector.acquire(signal, () => {
        this.failure = new LadingError('LEADER_ELECTION_LOST', 'leader election lost: the lease could not be renewed in time');
        // Another replica may lead already: in-flight work is abandoned at once, as
        // controller-runtime skips the graceful period when the lease is lost.
        this.stopping ??= this.shutdown(0);
      });
      if (!elected) return;
    }
    for (const c of this.controllers) void this.startWorkers(c, signal);
  }

  private async startWorkers(c: Controller, signal: AbortSignal): Promise<void> {
    // As controller-runtime: workers start once every cache the reconciler reads has synced (its
    // own kind and the kinds it watches), or a Kustomization would be reconciled against a source
    // cache that is still empty and report its source missing.
    const informers = [c.informer as Informer, ...((c.reconciler.watches ?? []) as WatchSpec[]).map((w) => this.cache.informerFor(w.kind))];
    const synced = (await Promise.all(informers.map((i) => i.waitForSync(signal)))).every(Boolean);
    if (!synced || signal.aborted) return;
    this.log.info('starting workers', { controller: c.reconciler.name, workerCount: c.concurrent });
    for (let i = 0; i < c.concurrent; i++) c.workers.push(this.worker(c));
  }

  private async worker(c: Controller): Promise<void> {
    for (;;) {
      const key = await c.queue.get();
      if (key === undefined) return;
      c.stats.active++;
      c.stats.maxActive = Math.max(c.stats.maxActive, c.stats.active);
      try {
        await this.reconcileKey(c, key);
      } catch (err) {
        // reconcileKey handles its errors; this is a bug, and the worker must survive it.
        this.log.error('reconcile worker failed', { controller: c.reconciler.name, key, error: err });
      } finally {
        c.stats.active--;
        c.queue.done(key);
      }
    }
  }

  private async reconcileKey(c: Controller, key: string): Promise<void> {
    const r = c.reconciler;
    const objectKey = parseKey(key);
    const cached = (c.informer as Informer).get(objectKey);
    if (!cached || !c.inShard(cached)) {
      c.queue.forget(key);
      return;
    }
    // The reconciler gets its own copy: the cached object is shared and frozen.
    const object = structuredClone(cached) as KubeObject;
    const log = this.log.with({ controller: r.name, kind: r.kind.kind, name: objectKey.name, namespace: objectKey.namespace });
    const ctx: ReconcileContext = {
      client: this.client,
      cache: this.cache,
      signal: this.hardStop.signal,
      log,
      now: this.opts.now ?? (() => new Date()),
      patchStatus: (status) => this.applyStatus(r, objectKey, status),
      event: (e: EventSpec) => this.events.record(object, c.component, e),
    };
    c.stats.reconciles++;
    const started = Date.now();
    let outcome: ReconcileOutcome;
    try {
      outcome = await r.reconcile(object, ctx);
    } catch (err) {
      outcome = { error: asError(err) };
    }
    // A failed reconcile still writes the status it computed (conditions saying why) and the
    // finalizer change it asked for (Flux adds its finalizer before anything can fail).
    let error = outcome.error;
    try {
      if (outcome.status !== undefined) await this.applyStatus(r, objectKey, outcome.status);
      if (outcome.finalizer !== undefined) await this.patchFinalizer(r, objectKey, outcome.finalizer);
    } catch (err) {
      if (error) log.error('writing the outcome failed', { error: err });
      else error = asError(err);
    }
    if (error) {
      c.stats.errors++;
      const retryInMs = c.queue.addRateLimited(key);
      log.error('Reconciler error', { error, retryInMs, durationMs: Date.now() - started });
      return;
    }
    c.queue.forget(key);
    if (outcome.requeueAfterMs !== undefined && outcome.requeueAfterMs > 0) c.queue.addAfter(key, outcome.requeueAfterMs);
    log.debug('reconciled', { durationMs: Date.now() - started, ...(outcome.requeueAfterMs !== undefined ? { requeueAfterMs: outcome.requeueAfterMs } : {}) });
  }

  /** Writes `status` whole with server-side apply under the reconciler's status manager; a gone object is not an error. */
  private async applyStatus(r: Reconciler, key: ObjectKey, status: Record<string, unknown>): Promise<void> {
    const path = `${objectPath(r.kind, key)}/status`;
    try {
      await this.client.request({
        method: 'PATCH',
        path,
        query: { fieldManager: r.statusManager, force: 'true' },
        contentType: 'application/apply-patch+yaml',
        body: {
          apiVersion: apiVersionOfKind(r.kind),
          kind: r.kind.kind,
          metadata: { name: key.name, ...(r.kind.namespaced ? { namespace: key.namespace } : {}) },
          status,
        },
        what: `writing the status of ${r.kind.kind} ${keyString(key)}`,
      });
    } catch (err) {
      if (err instanceof KubeError && err.code === 'NOT_FOUND') return;
      throw err;
    }
  }

  /**
   * Adds or removes Flux's finalizer with a JSON patch that tests the resourceVersion it was
   * computed from, so a finalizer another controller adds or removes meanwhile is never lost
   * (a failed test is read again and retried). Written under the status field manager, as Flux
   * writes its finalizer under its controller's name.
   */
  private async patchFinalizer(r: Reconciler, key: ObjectKey, action: 'add' | 'remove'): Promise<void> {
    const path = objectPath(r.kind, key);
    const what = `${action === 'add' ? 'adding' : 'removing'} the finalizer ${Finalizer} of ${r.kind.kind} ${keyString(key)}`;
    for (let attempt = 0; ; attempt++) {
      let current: KubeObject;
      try {
        current = await this.client.request<KubeObject>({ path, what });
      } catch (err) {
        if (err instanceof KubeError && err.code === 'NOT_FOUND') return;
        throw err;
      }
      const meta = metadataOf(current);
      const finalizers = Array.isArray(meta['finalizers']) ? (meta['finalizers'] as unknown[]).filter((f): f is string => typeof f === 'string') : [];
      const has = finalizers.includes(Finalizer);
      if ((action === 'add') === has) return;
      if (action === 'add' && deletionOf(current) !== undefined) return; // the API server refuses new finalizers on a deleting object
      const next = action === 'add' ? [...finalizers, Finalizer] : finalizers.filter((f) => f !== Finalizer);
      try {
        await this.client.request({
          method: 'PATCH',
          path,
          query: { fieldManager: r.statusManager },
          contentType: 'application/json-patch+json',
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: stringField(meta, 'resourceVersion') ?? '' },
            { op: 'add', path: '/metadata/finalizers', value: next },
          ],
          what,
        });
        return;
      } catch (err) {
        if (err instanceof KubeError && err.code === 'NOT_FOUND') return;
        // A failed test (422) or a conflict: the object changed under us; read it again.
        const retriable = err instanceof KubeError && (err.code === 'CONFLICT' || err.code === 'INVALID');
        if (!retriable || attempt >= 4) throw err;
      }
    }
  }

  /**
   * Stops gracefully: no new work; in-flight reconciles get the grace period to finish, then
   * their signals abort and they get a last few seconds; the lease is released, the caches stop.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(graceMs = this.opts.gracefulShutdownTimeoutMs ?? 30_000): Promise<void> {
    this.softStop.abort();
    for (const c of this.controllers) c.queue.shutdown();
    const inFlight = () => Promise.all(this.controllers.flatMap((c) => c.workers));
    const active = this.controllers.reduce((n, c) => n + c.stats.active, 0);
    if (active > 0) this.log.info('waiting for in-flight reconciles to finish', { count: active });
    // (With no grace, idle workers still end before the zero-delay timer fires.)
    const finished = await Promise.race([inFlight().then(() => true), delay(graceMs).then(() => false)]);
    if (!finished) {
      this.log.error('graceful shutdown timed out; aborting in-flight reconciles', { gracefulShutdownTimeoutMs: graceMs });
      this.hardStop.abort(new LadingError('SHUTDOWN', 'the controller is shutting down'));
      await Promise.race([inFlight(), delay(5_000)]);
    }
    await Promise.race([this.events.flush(), delay(5_000)]);
    await this.elector?.release();
    this.cacheStop.abort();
    this.hardStop.abort(new LadingError('SHUTDOWN', 'the controller is shutting down'));
    this.finished();
  }
}

