// The work queue of a controller, as client-go's workqueue does it: a key waiting is queued once
// however often it is added; a key being processed that is added again is processed once more
// after done(); failures delay a key with per-key exponential backoff (Flux's --min-retry-delay
// 750 ms to --max-retry-delay 15 min); addAfter() holds a key back, keeping the earliest time
// asked for. Keys are strings (`namespace/name`).

export interface WorkQueueOptions {
  /** First retry delay after a failure (default 750 ms). */
  minRetryDelayMs?: number;
  /** Largest retry delay (default 15 min). */
  maxRetryDelayMs?: number;
}

export const defaultMinRetryDelayMs = 750;
export const defaultMaxRetryDelayMs = 15 * 60_000;

/** The delay of the `failures`-th retry (0-based): min·2^failures, capped at max. */
export function backoffDelayMs(failures: number, minMs = defaultMinRetryDelayMs, maxMs = defaultMaxRetryDelayMs): number {
  // 2^60 would overflow nothing but is far past any cap; stop doubling early.
  if (failures >= 60) return maxMs;
  return Math.min(maxMs, minMs * 2 ** failures);
}

export class WorkQueue {
  private readonly minRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  /** Keys ready to be processed, in order. */
  private readonly ready: string[] = [];
  /** Keys waiting (queued, or to be queued again when their processing ends). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private stopped = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.minRetryDelayMs = opts.minRetryDelayMs ?? defaultMinRetryDelayMs;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? defaultMaxRetryDelayMs;
  }

  /** Queues `key` now (once, however often it is added before it is taken). */
  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // queued again by done()
    this.offer(key);
  }

  /** Hands a dirty key to a waiting worker, or queues it for the next get(). */
  private offer(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.ready.push(key);
    }
  }

  /** Queues `key` after `delayMs`; when a timer is already set for it, the earlier time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.timers.set(key, { due, timer });
  }

  /** Queues `key` after its backoff delay, which doubles with each call until forget(). */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = backoffDelayMs(n, this.minRetryDelayMs, this.maxRetryDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the backoff of `key` (after a success, or when its object is gone). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures counted for `key` since the last forget(). */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Drops the timer of `key`, if any (its object is gone). */
  cancelTimer(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t.timer);
    this.timers.delete(key);
  }

  /** The next key to process (marked as processing until done()), or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends the processing of `key`; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.stopped || !this.dirty.has(key)) return;
    this.offer(key);
  }

  /** Keys waiting to be taken now. */
  get length(): number {
    return this.ready.length;
  }

  /** Keys being processed. */
  get active(): number {
    return this.processing.size;
  }

  get isShutDown(): boolean {
    return this.stopped;
  }

  /** Takes no more keys: get() answers undefined, timers are dropped. Keys in processing may still call done(). */
  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.ready.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
