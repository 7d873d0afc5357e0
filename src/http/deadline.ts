import { HttpError } from './errors.js';

export interface Deadline {
  /** Aborted when the caller's signal is, or when the time is up (reason: an HttpError TIMEOUT). */
  signal: AbortSignal;
  /** Whether the deadline (not the caller) ended the operation. */
  expired(): boolean;
  /** Stops the timer; call when the operation ends either way. */
  clear(): void;
}

/**
 * An overall deadline for an operation of many requests (a pull, a copy), independent of the
 * per-request idle timeout: a server that trickles a byte now and then is stopped by this.
 * `what` names the operation in the error (`<what> did not finish within 5 min`, an HttpError
 * TIMEOUT as the signal's reason); `ms` of 0 or undefined means no deadline (the
 * caller's signal only).
 */
export function deadline(ms: number | undefined, what: string, signal?: AbortSignal): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    ms !== undefined && ms > 0 && Number.isFinite(ms)
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new HttpError('TIMEOUT', `${what} did not finish within ${formatMs(ms)}`));
        }, ms)
      : undefined;
  timer?.unref?.();
  return {
    signal: controller.signal,
    expired: () => timedOut,
    clear: () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
