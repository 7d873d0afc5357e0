// Waiting: for objects to become ready (kstatus rules, fail fast on a failed object) or to be
// gone. Polls the objects still pending, concurrently, with a growing interval.
import type { KubeClient } from './client.js';
import { resourcePath, type Discovery } from './discovery.js';
import { KubeError } from './errors.js';
import { displayName, type KubeObject, type ObjectRef } from './objects.js';
import { computeReadiness, type Readiness } from './status.js';
import { mapLimit, sleep } from './util.js';

export interface WaitOptions {
  /** Give up after this long (default 5 minutes). */
  timeoutMs?: number;
  /** First poll interval (default 500 ms, growing to 2 s). */
  intervalMs?: number;
  concurrency?: number;
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
  done: (r: Readiness) => boolean,
  describeTimeout: (pending: ObjectStatus[]) => string,
  opts: WaitOptions & { failFast: boolean },
): Promise<ObjectStatus[]> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const deadline = Date.now() + timeoutMs;
  let interval = opts.intervalMs ?? 500;
  let pending = refs.map((ref) => ({ ref, id: displayName(ref), readiness: { status: 'InProgress', message: 'not checked yet' } as Readiness }));
  const finished: ObjectStatus[] = [];
  for (;;) {
    const checked = await mapLimit(pending, opts.concurrency ?? 16, async (p) => {
      const obj = await getObject(client, discovery, p.ref, opts.signal);
      return { ...p, readiness: computeReadiness(obj) };
    });
    if (opts.failFast) {
      const failedOnes = checked.filter((c) => c.readiness.status === 'Failed');
      if (failedOnes.length > 0) {
        throw new KubeError('FAILED', failedOnes.map((f) => `${f.id} failed: ${f.readiness.message}`).join('; '), { object: failedOnes[0]?.id ?? '' });
      }
    }
    finished.push(...checked.filter((c) => done(c.readiness)));
    pending = checked.filter((c) => !done(c.readiness));
    if (pending.length === 0) return finished;
    if (Date.now() >= deadline) {
      throw new KubeError('TIMEOUT', `timeout after ${Math.round(timeoutMs / 1000)}s: ${describeTimeout(pending)}`);
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), opts.signal);
    interval = Math.min(interval * 1.5, 2000);
  }
}

/** Waits until every object is Current; fails fast on a Failed one; on timeout lists the rest. */
export async function waitForReady(client: KubeClient, discovery: Discovery, refs: readonly ObjectRef[], opts: WaitOptions = {}): Promise<ObjectStatus[]> {
  return poll(
    client,
    discovery,
    refs,
    (r) => r.status === 'Current',
    (pending) => `${pending.length} resource(s) not ready: ${pending.map((p) => `${p.id} (${p.readiness.status}: ${p.readiness.message})`).join(', ')}`,
    { ...opts, failFast: true },
  );
}

/** Waits until every object is gone (NotFound). */
export async function waitForDeletion(client: KubeClient, discovery: Discovery, refs: readonly ObjectRef[], opts: WaitOptions = {}): Promise<void> {
  await poll(
    client,
    discovery,
    refs,
    (r) => r.status === 'NotFound',
    (pending) => `${pending.length} resource(s) not yet deleted: ${pending.map((p) => p.id).join(', ')}`,
    { ...opts, failFast: false },
  );
}
