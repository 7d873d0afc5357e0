// The package a user installs: `npm pack`'s tarball installed into an empty directory, and the
// `lading` it puts in node_modules/.bin run from there: --help, a kustomize build, and an
// artifact pushed to and pulled from a local registry. The dependencies are the versions of this
// repository's package-lock.json, installed by `npm ci --offline` from npm's cache, which `npm ci`
// filled: the test needs no network beyond loopback.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { tempDir } from '../oci/helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; bin: { lading: string } };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeout ?? 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

const work = tempDir('lading-pack-');
const app = join(work.path, 'app');
// npm and the installed command find this Node first on PATH.
const env: NodeJS.ProcessEnv = {
  PATH: `${resolve(process.execPath, '..')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
  HOME: process.env['HOME'] ?? work.path,
  DOCKER_CONFIG: join(work.path, '.docker'),
};
let registry: RunningRegistry;
let lading: (args: string[]) => Promise<Run>;
let files: string[];

beforeAll(async () => {
  if (!existsSync(join(root, pkg.bin.lading))) throw new Error(`${join(root, pkg.bin.lading)} is missing: run \`npm run build\` (npm test does)`);
  // --ignore-scripts: prepack would rebuild dist/ while other test files use it; npm test has
  // just built it.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work.path], { cwd: root, env: process.env, timeout: 120_000 });
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; integrity: string; files: Array<{ path: string }> }>;
  if (info === undefined) throw new Error(`npm pack printed no package: ${packed.stdout}`);
  files = info.files.map((f) => f.path);
  // An empty project of its own that depends on the tarball alone.
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'lading-pack-test', private: true, dependencies: { [pkg.name]: `file:../${info.filename}` } }) + '\n');
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lockfileFor(info.filename, info.integrity), null, 2));
  const installed = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env, timeout: 300_000 });
  if (installed.code !== 0) {
    throw new Error(
      `installing ${info.filename} with npm ci --offline failed: its dependencies come from npm's cache, which \`npm ci\` in this repository fills (run it once with network access; npm test does through npm run setup)\n${installed.stderr}`,
    );
  }
  const bin = join(app, 'node_modules', '.bin', 'lading');
  lading = (args) => run(bin, args, { cwd: app, env });
  registry = await startRegistry({ flavor: 'distribution2' });
}, 600_000);

/**
 * A lockfile for the test project: the tarball as node_modules/lading and, at the same paths as
 * in this repository's package-lock.json, every package that is not a dev dependency (lading's
 * own dependency tree, which an install of the package hoists the same way).
 */
function lockfileFor(filename: string, integrity: string): unknown {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean } & Record<string, unknown>> };
  const { name: _name, devDependencies: _dev, ...self } = lock.packages[''] ?? {};
  const packages: Record<string, unknown> = {
    '': { name: 'lading-pack-test', dependencies: { [pkg.name]: `file:../${filename}` } },
    [`node_modules/${pkg.name}`]: { ...self, resolved: `file:../${filename}`, integrity },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue;
    // This repository's lockfile leaves out the registry's tarball address (npm then asks the
    // registry for it): the registry's usual address, under which npm's cache holds the tarball.
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry['resolved'] ?? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${String(entry['version'])}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  return { name: 'lading-pack-test', lockfileVersion: 3, requires: true, packages };
}

afterAll(async () => {
  await registry?.stop();
  work.remove();
});

describe('the npm package', () => {
  it('holds the build, the licence and the readme, and no source maps without their sources', () => {
    for (const f of ['package.json', 'LICENSE', 'README.md', pkg.bin.lading, 'dist/index.js', 'dist/index.d.ts']) expect(files, f).toContain(f);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'LICENSE', 'README.md'].includes(f))).toEqual([]);
  });

  it('installs the bundled CLI (dist/bin/, as npm run build writes it) as the `lading` command', () => {
    expect(pkg.bin.lading).toBe('dist/bin/lading.js');
    const built = readdirSync(join(root, 'dist', 'bin')).map((f) => `dist/bin/${f}`);
    expect(files.filter((f) => f.startsWith('dist/bin/')).sort()).toEqual(built.sort());
    expect(realpathSync(join(app, 'node_modules', '.bin', 'lading'))).toBe(realpathSync(join(app, 'node_modules', pkg.name, pkg.bin.lading)));
  });

  it('installs a lading that prints its help and version', async () => {
    const help = await lading(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: lading/);
    expect((await lading(['--version'])).stdout).toBe(`${pkg.version}\n`);
  });

  it('builds a kustomization', async () => {
    const r = await lading(['build', 'kustomization', join(root, 'examples', 'demo-app')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('kind: Deployment');
  });

  it('pushes an artifact to a local registry and pulls it back', async () => {
    const url = `oci://${registry.host}/pack/demo-app:1.0.0`;
    const pushed = await lading(['push', 'artifact', url, '--path', join(root, 'examples', 'demo-app'), '--source', 'https://example.com/demo-app', '--revision', '1.0.0']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const out = join(work.path, 'pulled');
    const pulled = await lading(['pull', 'artifact', url, '--output', out]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(readdirSync(join(root, 'examples', 'demo-app')).sort());
    expect(readFileSync(join(out, 'kustomization.yaml'), 'utf8')).toBe(readFileSync(join(root, 'examples', 'demo-app', 'kustomization.yaml'), 'utf8'));
  });
});
