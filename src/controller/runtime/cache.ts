// A cache per kind, fed by a watch (list, then watch with bookmarks; relist after 410 Gone: see
// src/kube/watch.ts), as client-go's informers keep them: objects by namespace/name, handlers
// told of adds, updates and deletes, waitForSync() for the first complete list. A watch that ends
// with an error (a kind not served yet, RBAC missing) is logged and opened again after a growing
// delay: a cache never stops quietly while the controller runs. Objects are stored without
// metadata.managedFields (the largest part of most objects, and never read here) and frozen:
// they are shared by every reader.
import { KubeError, type KubeClient, type KubeObject } from '../../kube/index.js';
import type { CacheReader, KindInfo, Logger, ObjectKey } from './types.js';
import { collectionPath, deepFreeze, delay, isRecord, keyOf, keyString, kindId, metadataOf, stringField } from './util.js';
import { backoffDelayMs } from './queue.js';

export interface InformerHandlers {
  add?(object: KubeObject): void;
  update?(old: KubeObject, object: KubeObject): void;
  delete?(object: KubeObject): void;
}

export interface InformerOptions {
  client: KubeClient;
  kind: KindInfo;
  /** Watch one namespace only (undefined or '': all). */
  namespace?: string;
  labelSelector?: string;
  log: Logger;
  /** Objects per page of a list (default 500). */
  pageSize?: number;
  /** Seconds one watch request stays open (default 300). */
  timeoutSeconds?: number;
  /** Delays before a watch that failed is opened again (default 1 s doubling to 60 s). */
  restartMinMs?: number;
  restartMaxMs?: number;
}

/** The object without metadata.managedFields, frozen. */
function forCache(obj: KubeObject): KubeObject {
  const meta = obj['metadata'];
  if (isRecord(meta) && 'managedFields' in meta) {
    const { managedFields: _dropped, ...rest } = meta;
    return deepFreeze({ ...obj, metadata: rest });
  }
  return deepFreeze(obj);
}

function resourceVersionOf(obj: KubeObject): string | undefined {
  return stringField(metadataOf(obj), 'resourceVersion');
}

export class Informer {
  readonly kind: KindInfo;
  private readonly objects = new Map<string, KubeObject>();
  private readonly handlers: InformerHandlers[] = [];
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private running: Promise<void> | undefined;
  private lastResourceVersion = '';
  /** Times the watch ended with an error and was opened again. */
  restarts = 0;

  constructor(private readonly opts: InformerOptions) {
    this.kind = opts.kind;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion of the last list, event or bookmark seen. */
  get resourceVersion(): string {
    return this.lastResourceVersion;
  }

  addHandlers(handlers: InformerHandlers): void {
    this.handlers.push(handlers);
  }

  get(key: ObjectKey): KubeObject | undefined {
    return this.objects.get(keyString(this.opts.kind.namespaced ? key : { namespace: '', name: key.name }));
  }

  list(namespace?: string): KubeObject[] {
    const all = [...this.objects.values()];
    if (namespace === undefined || namespace === '') return all;
    return all.filter((o) => stringField(metadataOf(o), 'namespace') === namespace);
  }

  /** Starts watching in the background until `signal` aborts; resolves when it has stopped. */
  start(signal: AbortSignal): Promise<void> {
    this.running ??= this.loop(signal);
    return this.running;
  }

  /** Resolves once the first list is in the cache, or when `signal` aborts (then false). */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { client, kind, log } = this.opts;
    const what = kindId(kind);
    let failures = 0;
    let lastFailure: string | undefined;
    while (!signal.aborted) {
      try {
        const events = client.watch({
          path: collectionPath(kind, this.opts.namespace),
          ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
          ...(this.opts.pageSize ? { pageSize: this.opts.pageSize } : {}),
          ...(this.opts.timeoutSeconds ? { timeoutSeconds: this.opts.timeoutSeconds } : {}),
          // Resume where the last watch stopped; watch.ts lists again if that version is gone.
          ...(this.lastResourceVersion !== '' && this.synced ? { resourceVersion: this.lastResourceVersion } : {}),
          signal,
          // A refusal (RBAC not granted, credentials rejected) is worth an error line, once per message;
          // a dropped connection or an API server restarting is routine.
          onRetry: (err, delayMs) => {
            const fields = { watchKind: what, error: err, retryInMs: delayMs };
            const refused = err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN';
            if (refused && err.message !== lastFailure) log.error('watch refused, retrying', fields);
            else log.debug('watch interrupted, retrying', fields);
            if (refused) lastFailure = err.message;
          },
        });
        for await (const event of events) {
          failures = 0;
          lastFailure = undefined;
          this.lastResourceVersion = event.resourceVersion;
          switch (event.type) {
            case 'SYNC':
              this.replace(event.objects);
              break;
            case 'ADDED':
            case 'MODIFIED':
              this.upsert(event.object);
              break;
            case 'DELETED':
              this.remove(event.object);
              break;
            case 'BOOKMARK':
              break;
          }
        }
        // watch() returns only when the signal aborted.
      } catch (err) {
        if (signal.aborted) break;
        const wait = backoffDelayMs(failures++, this.opts.restartMinMs ?? 1000, this.opts.restartMaxMs ?? 60_000);
        this.restarts++;
        const e = err instanceof KubeError ? err : new KubeError('API', `watching ${what}: ${(err as Error).message}`, { cause: err });
        // The same failure again and again (a kind whose CRD is not installed) is logged once at error level.
        const fields = { watchKind: what, error: e, retryInMs: wait };
        // A kind the API server does not serve (its CRD is not installed: Flux's GitRepository
        // where only lading's CRDs are) holds no objects: the cache counts as synced, empty, so
        // that readers waiting for it start; the watch keeps trying and a later list adds what
        // appears. A refusal (403) or an unreachable server is not that: readers keep waiting.
        if ((e.code === 'NOT_FOUND' || e.status === 404) && !this.synced) this.replace([]);
        if (e.message !== lastFailure) log.error('watch failed, restarting', fields);
        else log.debug('watch failed, restarting', fields);
        lastFailure = e.message;
        // Relist on restart: events may have been missed while the watch was down.
        this.lastResourceVersion = '';
        await delay(wait, signal);
      }
    }
  }

  /** A complete list: what is new is added, what changed updated, what is missing deleted. */
  private replace(listed: KubeObject[]): void {
    const seen = new Set<string>();
    for (const raw of listed) {
      const key = keyString(keyOf(raw));
      seen.add(key);
      this.upsert(raw);
    }
    for (const [key, old] of [...this.objects]) {
      if (seen.has(key)) continue;
      this.objects.delete(key);
      this.notify((h) => h.delete?.(old));
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private upsert(raw: KubeObject): void {
    const obj = forCache(raw);
    const key = keyString(keyOf(obj));
    const old = this.objects.get(key);
    if (old && resourceVersionOf(old) === resourceVersionOf(obj)) return;
    this.objects.set(key, obj);
    if (old) this.notify((h) => h.update?.(old, obj));
    else this.notify((h) => h.add?.(obj));
  }

  private remove(raw: KubeObject): void {
    const key = keyString(keyOf(raw));
    const old = this.objects.get(key);
    this.objects.delete(key);
    const obj = old ?? forCache(raw);
    this.notify((h) => h.delete?.(obj));
  }

  private notify(fn: (h: InformerHandlers) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.opts.log.error('cache event handler failed', { watchKind: kindId(this.kind), error: err });
      }
    }
  }
}

/** The caches of every kind the controller watches, read as one CacheReader. */
export class Cache implements CacheReader {
  private readonly informers = new Map<string, Informer>();

  constructor(private readonly defaults: Omit<InformerOptions, 'kind' | 'labelSelector'>) {}

  /** The informer of `kind`, created on first use (with `labelSelector` when given then). */
  informerFor(kind: KindInfo, opts: { labelSelector?: string } = {}): Informer {
    const id = `${kind.group}/${kind.version}/${kind.plural}`;
    let informer = this.informers.get(id);
    if (!informer) {
      informer = new Informer({ ...this.defaults, kind, ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}) });
      this.informers.set(id, informer);
    }
    return informer;
  }

  all(): Informer[] {
    return [...this.informers.values()];
  }

  get<T extends KubeObject = KubeObject>(kind: KindInfo, key: ObjectKey): T | undefined {
    return this.find(kind)?.get(key) as T | undefined;
  }

  list<T extends KubeObject = KubeObject>(kind: KindInfo, namespace?: string): T[] {
    return (this.find(kind)?.list(namespace) ?? []) as T[];
  }

  get hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced);
  }

  start(signal: AbortSignal): Promise<void[]> {
    return Promise.all(this.all().map((i) => i.start(signal)));
  }

  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const results = await Promise.all(this.all().map((i) => i.waitForSync(signal)));
    return results.every(Boolean);
  }

  private find(kind: KindInfo): Informer | undefined {
    return this.informers.get(`${kind.group}/${kind.version}/${kind.plural}`);
  }
}
