// Waiting: for objects to become ready (kstatus rules, fail fast on a failed object) or to be
// gone. Polls the objects still pending, concurrently, with a growing interval.
import type { KubeClient } from './client.js';
import { resourcePath, type Discovery } from './discovery.js';
import { KubeError } from './errors.js';
import { displayName, sameObject, type KubeObject, type ObjectRef } from './objects.js';
import { computeReadiness, type Readiness } from './status.js';
import { mapLimit, sleep } from './util.js';

export interface WaitOptions {
  /** Give up after this long (default 5 minutes). */
  timeoutMs?: number;
  /** First poll interval (default 500 ms, growing to 2 s). */
  intervalMs?: number;
  concurrency?: number;
  /**
   * Stop as soon as one object is Failed (default true). Without it, waiting goes on until
   * every object is Current or Failed (kstatus: a Failed object never becomes Current), then
   * fails naming the Failed ones.
   */
  failFast?: boolean;
  /** Objects whose absence counts as ready (Jobs with ttlSecondsAfterFinished, removed once complete). */
  readyWhenGone?: readonly ObjectRef[];
  signal?: AbortSignal;
}

export interface ObjectStatus {
  ref: ObjectRef;
  /** `Kind/namespace/name` */
  id: string;
  readiness: Readiness;
}

async function getObject(client: KubeClient, discovery: Discovery, ref: ObjectRef, signal?: AbortSignal): Promise<KubeObject | undefined> {
  const info = await discovery.resolve(ref, { what: displayName(ref), ...(signal ? { signal } : {}) });
  try {
    return await client.request<KubeObject>({ path: resourcePath(info, ref.namespace, ref.name), what: `reading ${displayName(ref)}`, ...(signal ? { signal } : {}) });
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

async function poll(
  client: KubeClient,
  discovery: Discovery,
  refs: readonly ObjectRef[],
  done: (s: ObjectStatus) => boolean,
  describeTimeout: (pending: ObjectStatus[]) => string,
  opts: WaitOptions & { failFast: boolean; stopWhenSettled: boolean },
): Promise<ObjectStatus[]> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const deadline = Date.now() + timeoutMs;
  let interval = opts.intervalMs ?? 500;
  let pending = refs.map((ref) => ({ ref, id: displayName(ref), readiness: { status: 'InProgress', message: 'not checked yet' } as Readiness }));
  const finished: ObjectStatus[] = [];
  const failed: ObjectStatus[] = [];
  for (;;) {
    const checked = await mapLimit(pending, opts.concurrency ?? 16, async (p) => {
      const obj = await getObject(client, discovery, p.ref, opts.signal);
      return { ...p, readiness: computeReadiness(obj) };
    });
    finished.push(...checked.filter((c) => done(c)));
    const failedNow = opts.stopWhenSettled ? checked.filter((c) => !done(c) && c.readiness.status === 'Failed') : [];
    if (opts.failFast && failedNow.length > 0) throw failedError(failedNow);
    pending = checked.filter((c) => !done(c) && !failedNow.includes(c));
    // Without fail-fast, Failed objects are set aside (kstatus: they never become Current) and
    // the wait ends once nothing else is pending.
    failed.push(...failedNow);
    if (pending.length === 0) {
      if (failed.length > 0) throw failedError(failed);
      return finished;
    }
    if (Date.now() >= deadline) {
      throw new KubeError('TIMEOUT', `timeout after ${Math.round(timeoutMs / 1000)}s: ${describeTimeout([...failed, ...pending])}`, { object: pending[0]?.id ?? '' });
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), opts.signal);
    interval = Math.min(interval * 1.5, 2000);
  }
}

function failedError(failed: ObjectStatus[]): KubeError {
  return new KubeError('FAILED', failed.map((f) => `${f.id} failed: ${f.readiness.message}`).join('; '), { object: failed[0]?.id ?? '' });
}

/**
 * Waits until every object is Current (kstatus). Fails fast on a Failed one unless
 * `failFast: false`; on timeout lists the objects not ready with their status.
 */
export async function waitForReady(client: KubeClient, discovery: Discovery, refs: readonly ObjectRef[], opts: WaitOptions = {}): Promise<ObjectStatus[]> {
  const gone = opts.readyWhenGone ?? [];
  return poll(
    client,
    discovery,
    refs,
    (s) => s.readiness.status === 'Current' || (s.readiness.status === 'NotFound' && gone.some((g) => sameObject(g, s.ref))),
    (pending) => `${pending.length} resource(s) not ready: ${pending.map((p) => `${p.id} (${p.readiness.status}: ${p.readiness.message})`).join(', ')}`,
    { ...opts, failFast: opts.failFast ?? true, stopWhenSettled: true },
  );
}

/** Waits until every object is gone (NotFound). */
export async function waitForDeletion(client: KubeClient, discovery: Discovery, refs: readonly ObjectRef[], opts: WaitOptions = {}): Promise<void> {
  await poll(
    client,
    discovery,
    refs,
    (s) => s.readiness.status === 'NotFound',
    (pending) => `${pending.length} resource(s) not yet deleted: ${pending.map((p) => p.id).join(', ')}`,
    { ...opts, failFast: false, stopWhenSettled: false },
  );
}
