// Small files read whole and synchronously (keys, predicates, docker's config.json): for a few
// KiB, a thread-pool round trip costs more than the read, and a short command has nothing else
// to do meanwhile. Shared by the domains, like errors.ts.
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/**
 * Reads `path` whole, never more than `max` + 1 bytes even from a file that grows while it is
 * read. Returns undefined as soon as the file proves larger than `max`. The file is opened
 * non-blocking, so that `check` (called with its fstat, and free to throw) can refuse a FIFO
 * instead of a read hanging on it.
 */
export function readSmallFileSync(path: string, max: number, check?: (stats: Stats) => void): Buffer | undefined {
  const fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  try {
    const stats = fstatSync(fd);
    check?.(stats);
    if (stats.size > max) return undefined;
    // One byte beyond the size: the read that finds the end of the file needs room to be tried.
    let buf = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        // The file grew since fstat (or has no size, like a pipe).
        if (length > max) return undefined;
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) return buf.subarray(0, length);
      length += n;
    }
  } finally {
    closeSync(fd);
  }
}
