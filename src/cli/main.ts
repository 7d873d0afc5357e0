#!/usr/bin/env node
import { run } from './program.js';
import { defaultIO } from './output.js';
import { exitWhenFlushed } from './report.js';

const io = defaultIO();
run(process.argv.slice(2), io).then(
  (code) => exitWhenFlushed(code, io),
  (err: unknown) => {
    io.stderr.write(`✗ ${String(err)}\n`);
    exitWhenFlushed(1, io);
  },
);
