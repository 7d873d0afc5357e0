#!/usr/bin/env node
// The `lading` command as installed (package.json "bin"): picks the bundle that holds the
// command's module (dist/cli/bundles/<name>.cjs, built by scripts/build-cli.mjs from
// src/cli/main.ts) and runs it with the V8 code cache written beside it at build time, so a short
// command neither resolves dozens of files nor compiles what it runs. A cache this Node cannot
// use (another V8 version or flags) is ignored and the bundle is compiled from source.
// scripts/build-cli.mjs copies this file to dist/cli/lading.cjs with the verb map filled in.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { sep } = require('node:path');
const vm = require('node:vm');

/** Verb → bundle, for verbs that one command module adds; anything else runs the `all` bundle. */
const BUNDLE_BY_VERB = new Map(Object.entries(/* VERBS */ {}));

/** The same choice as commandModulesFor in src/cli/commands/index.ts. */
function bundleFor(argv) {
  const first = argv.find((a) => !a.startsWith('-'));
  return (first !== undefined && BUNDLE_BY_VERB.get(first)) || 'all';
}

/**
 * Verb → fast-path bundle: it is run first and takes the command line or declines it (its
 * `main(argv)` returns false), and then the verb's bundle runs. LADING_NO_FAST_PATH=1 skips it.
 */
const FAST_BY_VERB = new Map(Object.entries(/* FAST */ {}));

/** Where the bundles are: built by concatenation, as path.join's first call costs ~0.1 ms. */
const bundlesDir = `${__dirname}${sep}bundles`;

/** Compiles and runs a bundle as a CommonJS module; returns the compiled script and its exports. */
function runBundle(name) {
  const file = `${bundlesDir}${sep}${name}.cjs`;
  const source = readFileSync(file, 'utf8');
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.v8cache`);
  } catch {
    // no cache: compile from source
  }
  // The wrapper stays on the bundle's first line so line numbers in stack traces are the file's.
  // The bundles contain no import(): scripts/build-cli.mjs turns them into require().
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  // The launcher's own require: the bundles sit beside it and resolve the same packages (and
  // node:module, which createRequire needs, loads the ES module loader).
  script.runInThisContext()(mod.exports, require, mod, file, bundlesDir);
  return { script, exports: mod.exports };
}

/** Runs `lading argv`: the verb's fast path if it has one and takes the command line, else its bundle. */
function main(argv) {
  const fast = process.env.LADING_NO_FAST_PATH ? undefined : FAST_BY_VERB.get(argv[0]);
  if (fast !== undefined && runBundle(fast).exports.main(argv)) return;
  runBundle(bundleFor(argv));
}

/**
 * Build step: runs lading with each command line of `argvs` in turn, all from bundle `name` and in
 * this process, then writes the code cache of everything they compiled beside the bundle and
 * exits with the highest exit code. A command ends when it calls process.exit (taken over here)
 * or when nothing is left to do.
 */
function writeCodeCache(name, argvs) {
  const exit = process.exit;
  let script;
  let worst = 0;
  /** The command running, -1 between commands (a second ending of one is ignored). */
  let current = -1;
  const finish = (code) => {
    if (current < 0) return;
    const i = current;
    current = -1;
    if (code) process.stderr.write(`warm-up: lading ${argvs[i].join(' ')} exited with ${code}\n`);
    worst = Math.max(worst, Number(code) || 0);
    setImmediate(() => run(i + 1));
  };
  process.exit = (code) => finish(code ?? process.exitCode ?? 0);
  process.on('beforeExit', () => finish(process.exitCode ?? 0));
  const run = (i) => {
    if (i === argvs.length) {
      writeFileSync(`${bundlesDir}${sep}${name}.cjs.v8cache`, script.createCachedData());
      exit.call(process, worst);
      return;
    }
    current = i;
    process.argv = [process.argv[0], __filename, ...argvs[i]];
    process.exitCode = undefined;
    const bundle = runBundle(name);
    script = bundle.script;
    if (typeof bundle.exports.main === 'function' && !bundle.exports.main(argvs[i])) throw new Error(`the ${name} bundle declined lading ${argvs[i].join(' ')}`);
  };
  run(0);
}

if (require.main === module) main(process.argv.slice(2));
else module.exports = { bundleFor, main, writeCodeCache };
