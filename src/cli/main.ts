#!/usr/bin/env node
// The `lading` command (package.json "bin").
import { defaultIO } from './output.js';
import { run } from './program.js';

// A reader that went away (`lading ls REPO | head -1`) ends the output: not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

const code = await run(process.argv.slice(2), defaultIO());
// Exit once the output is written, without waiting for idle keep-alive connections.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
