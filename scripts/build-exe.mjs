// Builds dist/lading, the single-executable build of the CLI (called by scripts/build-cli.mjs once
// the bundles are built, while its warm-up registry runs): a copy of this Node binary carrying,
// as a single executable application (https://nodejs.org/api/single-executable-applications.html),
// a start-up snapshot made by scripts/exe-entry.cjs with the verify fast path loaded and warmed
// by one verification. A short `lading verify` then starts from that heap instead of loading and
// compiling its code, and the parts of Node it uses, in every run (see bench/verify.ts); every
// other command goes to dist/cli/lading.cjs as the npm-installed `lading` does.
// Linux only for now (macOS needs the copy re-signed, Windows an .exe): elsewhere nothing is built.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The fuse Node checks for an injected application (the value Node's documentation gives). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Runs a command to its end: exit code (or signal name) and output. */
export function run(file, args, opts = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { ...opts, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : (err.signal ?? String(err.code))) : 0, stdout, stderr });
    });
  });
}

/**
 * Builds `<root>/dist/lading`; `warmUpArgv` is the verify command line the snapshot is warmed
 * with, `env` the environment it runs in. Returns the executable's path, or undefined (with the
 * reason on stderr, and no dist/lading left from an earlier build) where it cannot be built: not
 * Linux, or a Node binary that cannot carry an application. Throws on any other failure.
 */
export async function buildExe({ root, warmUpArgv, env }) {
  const out = join(root, 'dist', 'lading');
  const skip = (why) => {
    rmSync(out, { force: true });
    process.stderr.write(`dist/lading (the single-executable build) skipped: ${why}\n`);
    return undefined;
  };
  if (process.platform !== 'linux') return skip(`it is built on Linux only, not on ${process.platform}`);
  // A Node built without the fuse (such as a distribution's node linked to a shared libnode)
  // cannot carry an application.
  if (!readFileSync(process.execPath).includes(`${SEA_FUSE}:0`)) return skip(`${process.execPath} has no single-executable fuse`);
  const work = mkdtempSync(join(tmpdir(), 'lading-build-exe-'));
  // Written beside its place and renamed there: a failed build leaves no executable behind.
  const exe = join(root, 'dist', `.lading.${process.pid}.tmp`);
  try {
    const template = readFileSync(join(root, 'scripts', 'exe-entry.cjs'), 'utf8');
    const bundle = readFileSync(join(root, 'dist', 'cli', 'bundles', 'verify-fast.cjs'), 'utf8');
    const bundleMarker = '/* VERIFY_FAST_BUNDLE */';
    const argvMarker = '/* WARM_UP_ARGV */ []';
    if (!template.includes(bundleMarker) || !template.includes(argvMarker)) throw new Error('scripts/exe-entry.cjs: a placeholder is missing');
    // Function replacements: the bundle's own `$` sequences stay as they are.
    const entry = template.replace(bundleMarker, () => bundle).replace(argvMarker, () => JSON.stringify(warmUpArgv));
    writeFileSync(join(work, 'entry.cjs'), entry);
    const blob = join(work, 'sea.blob');
    writeFileSync(
      join(work, 'sea.json'),
      JSON.stringify({ main: join(work, 'entry.cjs'), output: blob, useSnapshot: true, disableExperimentalSEAWarning: true }),
    );
    // Runs the entry (the warm-up verification included) and writes the blob. Not spawnSync: the
    // warm-up registry answers from this process's event loop.
    const made = await run(process.execPath, ['--experimental-sea-config', join(work, 'sea.json')], { cwd: work, env });
    if (made.code !== 0) throw new Error(`building the snapshot of dist/lading failed (exit ${made.code}): ${made.stderr}${made.stdout}`);
    copyFileSync(process.execPath, exe);
    chmodSync(exe, 0o755);
    // postject's command in a child process: its ELF library prints warnings about sections it
    // leaves alone, shown only if the injection fails.
    const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
    const injected = await run(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { env });
    if (injected.code !== 0) throw new Error(`injecting the application into dist/lading failed (exit ${injected.code}): ${injected.stderr}${injected.stdout}`);
    renameSync(exe, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(exe, { force: true });
  }
}
