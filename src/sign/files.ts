import { statSync } from 'node:fs';
import { readSmallFileSync } from '../files.js';
import { SignError, type SignErrorCode } from './errors.js';

export interface ReadRegularFileOptions {
  /** The largest size accepted. */
  max: number;
  /** Error code of every failure. */
  code: SignErrorCode;
  /** What is being done, first in every message: `reading public key /path/cosign.pub`. */
  what: string;
  /** The message for a file over `max` bytes (after `what: `). */
  tooLarge: (size: number) => string;
}

/**
 * Reads a small regular file (a key, a predicate) synchronously: a thread-pool round trip costs
 * more than reading a few KiB, and the caller has nothing else to do meanwhile but wait for the
 * network. Opened non-blocking so that a FIFO fails the regular-file check instead of hanging;
 * never reads more than `max` + 1 bytes, even from a file that grows while it is read.
 */
export function readRegularFile(path: string, opts: ReadRegularFileOptions): Buffer {
  const { max, code, what } = opts;
  try {
    const bytes = readSmallFileSync(path, max, (stats) => {
      if (!stats.isFile()) throw new SignError(code, `${what}: not a regular file`);
      if (stats.size > max) throw new SignError(code, `${what}: ${opts.tooLarge(stats.size)}`);
    });
    // Larger than max only if it grew while read.
    if (bytes === undefined) throw new SignError(code, `${what}: ${opts.tooLarge(statSync(path).size)}`);
    return bytes;
  } catch (err) {
    if (err instanceof SignError) throw err;
    throw new SignError(code, `${what}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
}
