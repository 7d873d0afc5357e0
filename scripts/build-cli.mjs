#!/usr/bin/env node
// Builds the installed `lading` command (run by `npm run build` after tsc):
//   dist/cli/bundles/<module>.cjs  src/cli/main.ts bundled with esbuild for each command module of
//                                  src/cli/commands/index.ts (the other modules left out), and
//                                  all.cjs with every module (help, verbs several modules add);
//   dist/cli/bundles/*.v8cache     V8 code caches, written by running a command of each bundle;
//   dist/cli/lading.cjs            the launcher (scripts/cli-launcher.cjs) with the verb map.
// Start-up is most of a short command's wall time: one file, read once, with its compiled code
// cached, saves the module resolution and compilation of ~40 files (see bench/verify.ts).
// commander, tar-stream (with streamx and the rest of its tree) and ignore are bundled: loaded
// from node_modules they cost push and pull ~10 ms of resolution and compilation the code cache
// now spares. Other npm dependencies stay external: they are loaded from node_modules by the
// commands that need them (the kube client, yaml, noble, ...).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, transform } from 'esbuild';
import { buildExe, run } from './build-exe.mjs';
import { startWarmUpRegistry } from './warm-up-registry.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'cli', 'bundles');
const launcherOut = join(root, 'dist', 'cli', 'lading.cjs');
const commandsIndex = join(root, 'src', 'cli', 'commands', 'index.ts');

const { commandModules, commandModulesFor } = await import(pathToFileURL(join(root, 'dist', 'cli', 'commands', 'index.js')).href);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundled = new Set(['commander', 'tar-stream', 'ignore']);
const external = Object.keys(pkg.dependencies ?? {})
  .filter((d) => !bundled.has(d))
  .flatMap((d) => [d, `${d}/*`]);

/** Leaves the command modules other than `keep` out of a bundle (`keep` undefined: keep all). */
function onlyModule(keep) {
  return {
    name: 'lading-only-module',
    setup(b) {
      b.onResolve({ filter: /^\.\/[a-z-]+\.js$/ }, (args) => {
        if (keep === undefined || args.importer !== commandsIndex || args.kind !== 'dynamic-import') return undefined;
        const name = basename(args.path, '.js');
        return name === keep ? undefined : { path: name, namespace: 'lading-left-out' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lading-left-out' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`the ${args.path} commands are not in the ${keep} bundle of lading (a bug in dist/cli/lading.cjs's choice of bundle)`)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * commander as the bundles want it, for start-up time:
 * - lib/command.js requires node:child_process at its top level (~2-3 ms of a short command) for
 *   executable subcommands only (`.command(name, description)` run as a separate program), which
 *   lading never declares: the require is made lazy (the module loads on the first
 *   `childProcess.spawn`). The build fails when commander's code no longer has the exact pattern,
 *   so an upgrade cannot silently bring the cost back (or break the getter).
 * - its files are bundled without their comments (JSDoc, a third of commander's ~125 KB): every
 *   command reads its bundle whole, ~4 µs per KB. (A minified file is re-printed by the bundler,
 *   so commander keeps its line structure; lading's own comments stay.)
 */
function commanderForStartup() {
  const eager = "const childProcess = require('node:child_process');";
  const lazy =
    "let childProcessModule; const childProcess = { get spawn() { return (childProcessModule ??= require('node:child_process')).spawn; } };";
  // Whether commander's command.js went through it (checked after each build).
  const state = { applied: false };
  const plugin = {
    name: 'lading-commander-for-startup',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/](index|lib[\\/][a-zA-Z]+)\.js$/ }, async (args) => {
        let source = readFileSync(args.path, 'utf8');
        if (/[\\/]lib[\\/]command\.js$/.test(args.path)) {
          const fail = (why) => {
            throw new Error(`${args.path}: ${why}; update commanderForStartup in scripts/build-cli.mjs for this commander version`);
          };
          if (source.split(eager).length !== 2) fail(`expected exactly one top-level \`${eager}\``);
          // The lazy object has spawn only: any other use of the module must be looked at first.
          const other = source.match(/\bchildProcess\b(?!\.spawn\()[^\n]{0,20}/g) ?? [];
          if (other.length !== 1) fail(`childProcess is used other than as childProcess.spawn(...): ${other.slice(1).join(', ')}`);
          source = source.replace(eager, lazy);
          state.applied = true;
        }
        const { code } = await transform(source, { loader: 'js', minifyWhitespace: true, legalComments: 'none', sourcefile: args.path });
        return { contents: code, loader: 'js' };
      });
    },
  };
  return { plugin, state };
}

/** esbuild options every bundle shares: CommonJS for Node 20, npm dependencies external. */
function bundleOptions(entry, file, plugins) {
  return {
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external,
    // import() of an external package becomes require() (Node >= 20.19 loads ES modules with it):
    // code compiled from a V8 code cache by vm.Script loses its dynamic-import callback.
    supported: { 'dynamic-import': false },
    // import.meta.url (createRequire in output.ts) as the bundle's own URL, computed when used.
    define: { 'import.meta.url': '__ladingBundle.url' },
    banner: { js: "const __ladingBundle = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
    plugins,
    logLevel: 'warning',
    legalComments: 'none',
  };
}

/** Fails the build on an import() left in a bundle. */
function checkNoDynamicImport(file, source) {
  const dynamicImport = /\bimport\s*\(/.exec(source);
  if (dynamicImport) throw new Error(`${file}: an import() is left at offset ${dynamicImport.index}; it would fail once the code comes from the code cache`);
}

async function bundle(name, keep) {
  const file = join(outDir, `${name}.cjs`);
  const commander = commanderForStartup();
  await build(bundleOptions(join(root, 'src', 'cli', 'main.ts'), file, [onlyModule(keep), commander.plugin]));
  // The launcher wraps the bundle in a function: the hashbang line must go (kept as a comment
  // so line numbers stay the file's).
  const source = readFileSync(file, 'utf8');
  if (source.startsWith('#!')) writeFileSync(file, `//${source.slice(2)}`);
  if (!commander.state.applied) throw new Error(`${file}: commander's lib/command.js was not rewritten by commanderForStartup (is commander still bundled from there?)`);
  checkNoDynamicImport(file, source);
  return file;
}

/** A fast-path bundle: src/cli/fast-<verb>.ts, exporting main(argv); commander must not be in it. */
async function fastBundle(verb, name) {
  const file = join(outDir, `${name}.cjs`);
  await build(bundleOptions(join(root, 'src', 'cli', `fast-${verb}.ts`), file, []));
  const source = readFileSync(file, 'utf8');
  if (/node_modules[\\/]commander[\\/]/.test(source)) throw new Error(`${file}: commander is in the ${verb} fast path (something it imports imports commander)`);
  checkNoDynamicImport(file, source);
  return file;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

// One bundle per module, for the verbs only that module adds; `all` for everything else.
const verbs = {};
for (const m of commandModules) {
  for (const verb of m.verbs) {
    const wanted = commandModulesFor([verb]);
    if (wanted.length === 1) verbs[verb] = wanted[0].name;
  }
}
const names = [...new Set(Object.values(verbs))];
// Fast paths (src/cli/fast-*.ts): verb → bundle, built without commander.
const fastPaths = { verify: 'verify-fast' };
await Promise.all([bundle('all', undefined), ...names.map((n) => bundle(n, n)), ...Object.entries(fastPaths).map(([verb, name]) => fastBundle(verb, name))]);

const template = readFileSync(join(root, 'scripts', 'cli-launcher.cjs'), 'utf8');
const marker = '/* VERBS */ {}';
if (!template.includes(marker)) throw new Error(`scripts/cli-launcher.cjs: the verb map placeholder ${marker} is missing`);
const fastMarker = '/* FAST */ {}';
if (!template.includes(fastMarker)) throw new Error(`scripts/cli-launcher.cjs: the fast-path map placeholder ${fastMarker} is missing`);
const launcher = template.replace(marker, JSON.stringify(verbs)).replace(fastMarker, JSON.stringify(fastPaths)).replace(
  /^\/\/ scripts\/build-cli\.mjs copies this file.*$/m,
  '// Generated from scripts/cli-launcher.cjs by scripts/build-cli.mjs: edit that file, not this one.',
);
writeFileSync(launcherOut, launcher);
chmodSync(launcherOut, 0o755);

// The launcher must choose as the CLI does: check it for every verb and for no verb.
const { bundleFor } = (await import('node:module')).createRequire(import.meta.url)(launcherOut);
for (const argv of [[], ['--help'], ['help'], ['nope'], ...commandModules.flatMap((m) => m.verbs.map((v) => [v]))]) {
  const wanted = commandModulesFor(argv);
  const expected = wanted.length === 1 ? wanted[0].name : 'all';
  if (bundleFor(argv) !== expected) throw new Error(`dist/cli/lading.cjs picks ${bundleFor(argv)} for "${argv.join(' ')}", the CLI needs ${expected}`);
}

// Code caches: each bundle runs a command in a child process that writes the cache on exit, so
// the functions that command compiled are in it. --help for most; the sign bundle runs `verify`
// (the short command people time) against a loopback registry holding an image signed both ways
// (scripts/warm-up-registry.mjs), so that everything a verification runs is compiled, from the
// key loading to the printed claims; the build fails if that verification does not succeed.
/** Runs `lading argv` for each of `argvs` from bundle `name` in a child process that writes the bundle's code cache. */
function warmUp(name, argvs) {
  const code = `require(${JSON.stringify(launcherOut)}).writeCodeCache(${JSON.stringify(name)}, ${JSON.stringify(argvs)})`;
  return run(process.execPath, ['-e', code], { env: { PATH: process.env['PATH'] ?? '', HOME: warmDir } });
}

const warmDir = mkdtempSync(join(tmpdir(), 'lading-build-cli-'));
const registry = await startWarmUpRegistry(join(root, 'dist'), warmDir);
try {
  // artifact: `push artifact` of a small directory (file walk, tar, gzip, digests, uploads), then
  // `pull artifact` of it (download, gunzip, tar, files written), one after the other in the same
  // process so that the cache holds both.
  const files = join(warmDir, 'files');
  mkdirSync(join(files, 'app'), { recursive: true });
  writeFileSync(join(files, 'app', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warm-up\ndata:\n  a: b\n');
  writeFileSync(join(files, 'app', 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: warm-up\nspec:\n  ports:\n    - port: 80\n');
  const signed = registry.reference;
  const warmUps = {
    // verify first: the fast path's warm-up is the same command line alone.
    sign: [
      ['verify', '--key', registry.publicKeyPath, signed],
      ['tree', signed],
    ],
    // The crane-like commands, each through its whole path; copy writes into the push repository.
    registry: [
      ['digest', signed],
      ['manifest', signed],
      ['ls', signed.slice(0, signed.lastIndexOf(':'))],
      ['copy', signed, registry.pushReference.replace(/:0$/, ':copied')],
    ],
    artifact: [
      ['push', 'artifact', `oci://${registry.pushReference}`, '--path', files, '--source', 'warm-up', '--revision', 'r0'],
      ['pull', 'artifact', `oci://${registry.pushReference}`, '--output', join(warmDir, 'pulled')],
    ],
  };
  warmUps['verify-fast'] = [warmUps.sign[0]];
  for (const name of ['all', ...names, ...Object.values(fastPaths)]) {
    const verb = Object.keys(verbs).find((v) => verbs[v] === name);
    const argvs = warmUps[name] ?? [verb ? [verb, '--help'] : ['--help']];
    const cache = join(outDir, `${name}.cjs.v8cache`);
    const warm = await warmUp(name, argvs);
    const what = argvs.map((a) => `lading ${a.join(' ')}`).join(', then ');
    if (!existsSync(cache)) throw new Error(`writing ${cache} (${what}) failed: ${warm.stderr}`);
    if ((name === 'artifact' || name === 'registry') && warm.code !== 0) throw new Error(`writing ${cache}: ${what} did not succeed (exit ${warm.code}): ${warm.stderr}`);
    if (name === 'sign' || name === 'verify-fast') {
      // Both signatures (classic and bundle) verified: the cache covers both paths. verify's
      // claims are the first line of the output (the sign bundle's later commands print after).
      const claims = warm.code === 0 ? JSON.parse(warm.stdout.split('\n')[0] ?? '[]') : [];
      if (claims.length !== 2) throw new Error(`writing ${cache}: ${what} did not verify both signatures (exit ${warm.code}): ${warm.stderr}${warm.stdout}`);
    }
  }
  // dist/lading: the single-executable build, its snapshot warmed by the fast path's command line.
  const exe = await buildExe({ root, warmUpArgv: warmUps['verify-fast'][0], env: { PATH: process.env['PATH'] ?? '', HOME: warmDir } });
  if (exe) {
    // Both of its paths work: the verification from the snapshot, anything else through the launcher.
    const verified = await run(exe, warmUps['verify-fast'][0], { env: { PATH: process.env['PATH'] ?? '', HOME: warmDir } });
    const claims = verified.code === 0 ? JSON.parse(verified.stdout.split('\n')[0] ?? '[]') : [];
    if (claims.length !== 2) throw new Error(`${exe} did not verify both signatures (exit ${verified.code}): ${verified.stderr}${verified.stdout}`);
    const version = await run(exe, ['--version']);
    if (version.code !== 0 || version.stdout.trim() !== pkg.version) throw new Error(`${exe} --version printed "${version.stdout.trim()}" (exit ${version.code}), not ${pkg.version}: ${version.stderr}`);
  }
} finally {
  await registry.close();
  rmSync(warmDir, { recursive: true, force: true });
}
process.stdout.write(`built ${launcherOut} and ${names.length + 1 + Object.keys(fastPaths).length} bundles in ${outDir}${existsSync(join(root, "dist", "lading")) ? `, and ${join(root, "dist", "lading")}` : ""}\n`);
