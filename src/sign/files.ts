import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import type * as fsPromises from 'node:fs/promises';
import { SignError, type SignErrorCode } from './errors.js';

/**
 * node:fs/promises, loaded by what writes files (generate-key-pair): `lading verify` starts by
 * reading one small file, and loading the module costs more than that read.
 */
export const loadFsPromises = (): typeof fsPromises => process.getBuiltinModule('node:fs/promises');

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
  let fd: number | undefined;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
    const info = fstatSync(fd);
    if (!info.isFile()) throw new SignError(code, `${what}: not a regular file`);
    if (info.size > max) throw new SignError(code, `${what}: ${opts.tooLarge(info.size)}`);
    // One byte beyond the size: room for the read that finds the end of the file.
    let buf = Buffer.allocUnsafe(info.size + 1);
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        // The file grew since fstat.
        if (length > max) throw new SignError(code, `${what}: ${opts.tooLarge(fstatSync(fd).size)}`);
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) return buf.subarray(0, length);
      length += n;
    }
  } catch (err) {
    if (err instanceof SignError) throw err;
    throw new SignError(code, `${what}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
