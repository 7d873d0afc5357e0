#!/usr/bin/env node
import { run } from './program.js';
import { defaultIO } from './output.js';

/**
 * Exits as soon as the command is done: a natural exit first tears down the environment and the
 * heap, a few ms of a short command's wall time. Output still queued (an asynchronous pipe) is
 * let drain; Node then exits by itself with the code.
 */
function exit(code: number): void {
  process.exitCode = code;
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
}

run(process.argv.slice(2), defaultIO()).then(exit, (err: unknown) => {
  process.stderr.write(`✗ ${String(err)}\n`);
  exit(1);
});
