// How a failed command is reported, shared by the commander program (program.ts) and the fast
// path (fast-verify.ts). Nothing here imports commander.
import { LadingError, UsageError, describeError } from '../errors.js';
import type { CliIO } from './output.js';
import { ExitStatus } from './util.js';

/** Writes why the command failed to stderr and returns its exit code: 2 for usage, else 1. */
export function reportFailure(err: unknown, io: CliIO): number {
  if (err instanceof ExitStatus) return err.status;
  if (err instanceof UsageError) {
    io.stderr.write(`✗ ${err.message}\n`);
    return 2;
  }
  io.stderr.write(`✗ ${describeError(err)}\n`);
  if (!(err instanceof LadingError) && io.env['LADING_DEBUG']) io.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return 1;
}

/**
 * Exits as soon as the command is done: a natural exit first tears down the environment and the
 * heap, a few ms of a short command's wall time. Output still queued (a descriptor that would
 * block) is let drain; Node then exits by itself with the code.
 */
export function exitWhenFlushed(code: number, io: Pick<CliIO, 'stdout' | 'stderr'>): void {
  process.exitCode = code;
  if (!io.stdout.writableLength && !io.stderr.writableLength) process.exit(code);
}
