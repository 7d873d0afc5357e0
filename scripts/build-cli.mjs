// The `lading` command (package.json "bin"): esbuild bundles of src/cli/main.ts and every npm
// dependency it uses, in dist/bin/, so a command does not resolve and read a few hundred files of
// its dependencies at start-up. Split at the dynamic import() of src/cli/commands/index.ts: a
// command reads and compiles the code of its own verb only (one file of everything would make
// `lading --version` compile 2.5 MB). Run by `npm run build` after tsc, which writes the library.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const outdir = 'dist/bin';
// Chunk names carry a hash: a chunk of an earlier build would stay beside the new ones.
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { lading: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The bundled CommonJS dependencies (undici, commander, ...) call require() for Node's
  // built-in modules; an ES module has none of its own. (The `#!/usr/bin/env node` line of
  // src/cli/main.ts stays first.)
  banner: { js: "import { createRequire as createRequireOfBundle } from 'node:module';\nconst require = createRequireOfBundle(import.meta.url);" },
  logLevel: 'warning',
});
