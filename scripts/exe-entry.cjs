// The main script of dist/lading, the single-executable build (scripts/build-exe.mjs): Node's
// single executable application with a start-up snapshot. scripts/build-exe.mjs fills in the
// verify fast path (dist/cli/bundles/verify-fast.cjs) and a warm-up command line below.
//
// While the snapshot is built, this runs `lading verify` once against the build's loopback
// registry, so the heap saved in the executable holds the fast path loaded and the parts of Node it
// uses (net, streams, crypto) loaded and compiled. Each run then starts from that heap:
// - `lading verify …` in the plain forms the fast path takes runs from the snapshot;
// - anything else goes to the usual launcher, dist/cli/lading.cjs beside the executable, loaded
//   from disk with its bundles, code caches and node_modules (LADING_NO_FAST_PATH=1: always).
// Nothing read at run time (arguments, environment, working directory, files) comes from the
// build: the fast path reads all of them when a command starts, not when its modules load.
'use strict';
const v8 = require('node:v8');
const builtinRequire = require;

{
  // Where the fast path's bundle is at run time (it is embedded; the path serves require()s of
  // npm packages, such as yaml for `-o yaml`, resolved from the installed dist/ and node_modules).
  let __filename = '/lading-exe-build/cli/bundles/verify-fast.cjs';
  let __dirname = '/lading-exe-build/cli/bundles';
  let diskRequire;
  // Built-in modules from the executable; anything else from disk, beside it, and only at run time:
  // node:module used while the snapshot is built leaves Node 20 unable to start from it (the
  // warm-up needs no npm package, and scripts/build-cli.mjs checks that the executable runs).
  const bundleRequire = (id) => {
    if (id.startsWith('node:')) return builtinRequire(id);
    diskRequire ??= builtinRequire('node:module').createRequire(__filename);
    return diskRequire(id);
  };
  const bundle = { exports: {} };
  (function (exports, require, module) {
    /* VERIFY_FAST_BUNDLE */
  })(bundle.exports, bundleRequire, bundle);

  /** The usual launcher, dist/cli/lading.cjs: the executable sits in dist/. */
  const launcher = () => {
    const { dirname, join } = builtinRequire('node:path');
    const file = join(dirname(process.execPath), 'cli', 'lading.cjs');
    if (!builtinRequire('node:fs').existsSync(file)) {
      process.stderr.write(`✗ ${file} is missing: ${process.execPath} runs \`lading verify\` alone and every other command with the dist/ directory it was built in\n`);
      process.exit(1);
    }
    return builtinRequire('node:module').createRequire(file)(file);
  };

  if (!v8.startupSnapshot.isBuildingSnapshot()) {
    // Run as a plain script (never when built): the launcher does everything.
    launcher().main(process.argv.slice(2));
  } else {
    // The warm-up: one verification; its connections are closed before the heap is saved (a
    // snapshot cannot hold open handles) and its exit is only reported.
    const warmUp = /* WARM_UP_ARGV */ [];
    const net = builtinRequire('node:net');
    const connect = net.Socket.prototype.connect;
    const sockets = [];
    net.Socket.prototype.connect = function (...args) {
      sockets.push(this);
      return connect.apply(this, args);
    };
    const exit = process.exit;
    process.exit = (code) => {
      process.exit = exit;
      net.Socket.prototype.connect = connect;
      for (const s of sockets) s.destroy();
      process.exitCode = undefined;
      if (code) {
        process.stderr.write(`warm-up: lading ${warmUp.join(' ')} exited with ${code}\n`);
        exit.call(process, 1);
      }
    };
    if (!bundle.exports.main(warmUp)) throw new Error(`the verify fast path declined the warm-up: lading ${warmUp.join(' ')}`);
    v8.startupSnapshot.setDeserializeMainFunction(() => {
      const { dirname, join } = builtinRequire('node:path');
      __dirname = join(dirname(process.execPath), 'cli', 'bundles');
      __filename = join(__dirname, 'verify-fast.cjs');
      const argv = process.argv.slice(2);
      if (!process.env.LADING_NO_FAST_PATH && bundle.exports.main(argv)) return;
      launcher().main(argv);
    });
  }
}
