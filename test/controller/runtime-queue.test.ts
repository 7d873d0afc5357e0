// The work queue as pure logic (timers faked): de-duplication, re-processing of a key added while
// it is processed, per-key exponential backoff with its cap, addAfter keeping the earliest time.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMs, WorkQueue } from '../../src/controller/runtime/queue.js';

/** Keys get() hands out without waiting. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.length > 0) {
    const k = await q.get();
    if (k === undefined) break;
    out.push(k);
  }
  return out;
}

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    q.add('ns/a');
    expect(q.length).toBe(2);
    expect(await drain(q)).toEqual(['ns/a', 'ns/b']);
  });

  it('processes a key added during its processing once more, after done()', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    const k = await q.get();
    expect(k).toBe('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    // Not handed out while processing.
    expect(q.length).toBe(0);
    q.done('ns/a');
    expect(await drain(q)).toEqual(['ns/a']);
    q.done('ns/a');
    expect(q.length).toBe(0);
  });

  it('hands a key to a worker waiting in get()', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('ns/a');
    expect(await waiting).toBe('ns/a');
    expect(q.active).toBe(1);
  });

  it('grows the retry delay exponentially per key from 750 ms and caps it at 15 min', () => {
    expect(backoffDelayMs(0)).toBe(750);
    expect(backoffDelayMs(1)).toBe(1500);
    expect(backoffDelayMs(2)).toBe(3000);
    expect(backoffDelayMs(10)).toBe(768_000);
    expect(backoffDelayMs(11)).toBe(900_000);
    expect(backoffDelayMs(1000)).toBe(900_000);

    const q = new WorkQueue();
    const delays = Array.from({ length: 14 }, () => q.addRateLimited('ns/a'));
    expect(delays.slice(0, 4)).toEqual([750, 1500, 3000, 6000]);
    expect(delays.at(-1)).toBe(900_000);
    // Another key has its own count.
    expect(q.addRateLimited('ns/b')).toBe(750);
    expect(q.retries('ns/a')).toBe(14);
    q.forget('ns/a');
    expect(q.retries('ns/a')).toBe(0);
    expect(q.addRateLimited('ns/a')).toBe(750);
  });

  it('honours custom retry bounds', () => {
    const q = new WorkQueue({ minRetryDelayMs: 100, maxRetryDelayMs: 1000 });
    expect(Array.from({ length: 6 }, () => q.addRateLimited('k'))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('queues a rate-limited key only after its delay', async () => {
    const q = new WorkQueue();
    q.addRateLimited('ns/a');
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(749);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(await drain(q)).toEqual(['ns/a']);
  });

  it('addAfter keeps the earliest time asked for', async () => {
    const q = new WorkQueue();
    q.addAfter('ns/a', 10_000);
    q.addAfter('ns/a', 60_000); // later: ignored
    q.addAfter('ns/a', 5_000); // earlier: replaces
    vi.advanceTimersByTime(4_999);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(await drain(q)).toEqual(['ns/a']);
    q.done('ns/a');
    // Nothing else fires: the 10 s and 60 s timers were dropped.
    vi.advanceTimersByTime(120_000);
    expect(q.length).toBe(0);
  });

  it('addAfter with no delay queues at once', async () => {
    const q = new WorkQueue();
    q.addAfter('ns/a', 0);
    expect(await drain(q)).toEqual(['ns/a']);
  });

  it('shutdown wakes waiting workers, drops timers and takes no more keys', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.addAfter('ns/b', 1000);
    q.shutdown();
    expect(await waiting).toBeUndefined();
    q.add('ns/a');
    vi.advanceTimersByTime(2000);
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
  });
});
