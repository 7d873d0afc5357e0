#!/usr/bin/env node
import { run } from './program.js';
import { defaultIO } from './output.js';
import { exitWhenFlushed } from './report.js';

run(process.argv.slice(2), defaultIO()).then(exitWhenFlushed, (err: unknown) => {
  process.stderr.write(`✗ ${String(err)}\n`);
  exitWhenFlushed(1);
});
