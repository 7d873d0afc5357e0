#!/usr/bin/env node
import { run } from './program.js';
import { defaultIO } from './output.js';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted')));

run(process.argv.slice(2), defaultIO()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`✗ ${String(err)}\n`);
    process.exitCode = 1;
  },
);
