// The reference tools (Kubernetes control plane, etcd, kwok, cosign v3 and v2, crane, flux, distribution v3,
// go-containerregistry's registry with the referrers API, the OCI conformance suite, Flux's
// source-controller and kustomize-controller, an S3 server), built from
// the pinned Go modules under test/tools/ into .cache/testenv/<hash-of-pins>/bin. Rebuilt only
// when the pins or the build recipe change.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, sleep } from './process.js';

export type ToolName =
  | 'cosign'
  | 'cosign2'
  | 'crane'
  | 'flux'
  | 'registry'
  | 'referrers-registry'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'etcd'
  | 'kwok'
  | 'conformance'
  | 'kustomize'
  | 'kustomize-corpus'
  | 'source-controller'
  | 'kustomize-controller'
  | 's3server';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const toolsModulesDir = join(repoRoot, 'test', 'tools');

const KUBE_VERSION = 'v1.33.13';
const kubeVersionFlags = [
  `-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}`,
  '-X k8s.io/component-base/version.gitMajor=1',
  '-X k8s.io/component-base/version.gitMinor=33',
  '-X k8s.io/component-base/version.gitTreeState=clean',
  `-X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}`,
  '-X k8s.io/client-go/pkg/version.gitMajor=1',
  '-X k8s.io/client-go/pkg/version.gitMinor=33',
];

interface ModuleRecipe {
  /** Folder under test/tools/ holding go.mod. */
  dir: string;
  /** Binary name → Go package to build (a path relative to the module starts with ./). */
  tools: Partial<Record<ToolName, string>>;
  ldflags: string[];
  /**
   * Modules that cannot be built straight from the module cache: copied (same pinned version,
   * fetched with `go mod download`) to `dir` (relative to the repo root, where go.mod's `replace`
   * points) with `addFiles` (path in the module → file under test/tools/<dir>) added.
   */
  localCopies?: Array<{ module: string; version: string; dir: string; addFiles: Record<string, string> }>;
  /** Data files (besides the binaries) that `afterBuild` writes into the bin directory. */
  dataFiles?: string[];
  /** Runs after the binaries are in the bin directory (cwd: the module), to write `dataFiles`. */
  afterBuild?: (bin: string, cwd: string) => void;
}

/**
 * The build recipe. Seven modules: kube shares k8s.io/* at v0.33 (kwok and etcd 3.5 fit it); oci
 * shares go-containerregistry, sigstore and client-go v0.36; flux is alone because its
 * dependencies clash with cosign's (tablewriter v0 vs v1); cosign2 (cosign v2) keeps its own
 * dependency versions; kustomize keeps v5.5.0's; fluxctl (Flux's controllers) keeps their
 * client-go/controller-runtime and the replace lines they need; s3 is gofakes3 (an S3 server).
 */
export const modules: Record<'kube' | 'oci' | 'flux' | 'cosign2' | 'kustomize' | 'fluxctl' | 's3', ModuleRecipe> = {
  kube: {
    dir: 'kube',
    tools: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      kwok: 'sigs.k8s.io/kwok/cmd/kwok',
      etcd: './etcd',
    },
    ldflags: ['-s', '-w', ...kubeVersionFlags],
  },
  oci: {
    dir: 'oci',
    tools: {
      cosign: 'github.com/sigstore/cosign/v3/cmd/cosign',
      crane: 'github.com/google/go-containerregistry/cmd/crane',
      registry: 'github.com/distribution/distribution/v3/cmd/registry',
      // go-containerregistry's pkg/registry with the OCI 1.1 referrers API on (referrers-registry/main.go).
      'referrers-registry': './referrers-registry',
      conformance: 'github.com/opencontainers/distribution-spec/conformance',
    },
    ldflags: ['-s', '-w'],
  },
  flux: {
    dir: 'flux',
    tools: { flux: 'github.com/fluxcd/flux2/v2/cmd/flux' },
    ldflags: ['-s', '-w', '-X main.VERSION=2.9.5'],
    localCopies: [
      {
        module: 'github.com/fluxcd/flux2/v2',
        version: 'v2.9.5',
        dir: '.cache/testenv/src/flux2-v2.9.5',
        addFiles: { 'cmd/flux/manifests/placeholder.yaml': 'flux-manifests-placeholder.yaml' },
      },
    ],
  },
  // cosign v2.6.5 (the last v2 release), for interop with what v2 signs: alone so that it is built
  // with the dependency versions it requires (go-containerregistry v0.20.7, sigstore-go v1.1.4),
  // not cosign v3's. The version var is the one cosign's Makefile sets (`cosign2 version`).
  cosign2: {
    dir: 'cosign2',
    tools: { cosign2: 'github.com/sigstore/cosign/v2/cmd/cosign' },
    ldflags: [
      '-s',
      '-w',
      '-X sigs.k8s.io/release-utils/version.gitVersion=v2.6.5',
      '-X sigs.k8s.io/release-utils/version.gitTreeState=clean',
    ],
  },
  // kustomize v5.5.0 (api v0.18.0, kyaml v0.18.1: the kustomize kubectl 1.32 embeds), the oracle
  // of the manifest tests, and the corpus of kustomize's own test inputs (kustomize-corpus.json,
  // lifted from those two modules' test sources at set-up so the tests need no network).
  kustomize: {
    dir: 'kustomize',
    tools: { kustomize: 'sigs.k8s.io/kustomize/kustomize/v5', 'kustomize-corpus': './kustomize-corpus' },
    ldflags: ['-s', '-w', '-X sigs.k8s.io/kustomize/api/provenance.version=kustomize/v5.5.0'],
    dataFiles: ['kustomize-corpus.json'],
    afterBuild: writeKustomizeCorpus,
  },
  // Flux's source-controller and kustomize-controller v1.9.5 (what flux CLI v2.9.5 installs), run
  // as local processes by test/env/flux-controllers.ts beside lading's controller. One module:
  // the two share their dependency graph (client-go v0.36.4, controller-runtime v0.24.1, the same
  // fluxcd/pkg versions), so shared packages compile once.
  fluxctl: {
    dir: 'fluxctl',
    tools: {
      'source-controller': 'github.com/fluxcd/source-controller',
      'kustomize-controller': 'github.com/fluxcd/kustomize-controller',
    },
    ldflags: ['-s', '-w'],
  },
  // gofakes3 with its in-memory backend (s3server/main.go): the S3 endpoint of Flux's Bucket in
  // the Bucket interop test (test/env/s3.ts). Alone: small, and nothing else shares its
  // dependencies.
  s3: {
    dir: 's3',
    tools: { s3server: './s3server' },
    ldflags: ['-s', '-w'],
  },
};

export type ModuleName = keyof typeof modules;

function moduleOf(tool: ToolName): ModuleName {
  for (const [name, recipe] of Object.entries(modules) as Array<[ModuleName, ModuleRecipe]>) {
    if (tool in recipe.tools) return name;
  }
  throw new Error(`unknown test tool ${tool}`);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (/^(go\.mod|go\.sum)$|\.(go|yaml)$/.test(entry.name)) out.push(full);
  }
  return out.sort();
}

const cachedHashes = new Map<ModuleName, string>();

/**
 * Hash of everything that decides one module's binaries: its go.mod, go.sum, main.go and yaml
 * files, and its build recipe. Each module is cached on its own, so changing one pin rebuilds
 * only that module.
 */
export function pinsHash(module: ModuleName): string {
  const cached = cachedHashes.get(module);
  if (cached !== undefined) return cached;
  const recipe = modules[module];
  const dir = join(toolsModulesDir, recipe.dir);
  const hash = createHash('sha256');
  hash.update(JSON.stringify(recipe));
  for (const file of listFiles(dir)) {
    hash.update(relative(dir, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  const value = hash.digest('hex').slice(0, 16);
  cachedHashes.set(module, value);
  return value;
}

/** Root of the tool cache: $LADING_TESTENV_CACHE or <repo>/.cache/testenv. */
export function cacheRoot(): string {
  return process.env['LADING_TESTENV_CACHE'] ?? join(repoRoot, '.cache', 'testenv');
}

/**
 * Where running environments are recorded (for `npm run env -- down`): $LADING_TESTENV_STATE or
 * <cache root>/run.
 */
export function stateRoot(): string {
  return process.env['LADING_TESTENV_STATE'] ?? cacheRoot();
}

/** Where one module's binaries live: <cache root>/<module>-<hash of its pins>/bin. */
export function binDir(module: ModuleName): string {
  return join(cacheRoot(), `${module}-${pinsHash(module)}`, 'bin');
}

/** Path of a built tool; throws a message saying how to build it when it is missing. */
export function toolPath(name: ToolName): string {
  const path = join(binDir(moduleOf(name)), name);
  if (!existsSync(path)) {
    throw new Error(
      `test tool ${name} is not built (expected ${path}); build the reference tools with ` +
        '`npm run env -- build` (or `npm run setup`); needs Go >= 1.26 and the Go module proxy',
    );
  }
  return path;
}

/** The pinned module versions, read from the go.mod files (for status output and docs). */
export function pinnedVersions(): Record<string, string> {
  const wanted = [
    'k8s.io/kubernetes',
    'go.etcd.io/etcd/server/v3',
    'sigs.k8s.io/kwok',
    'sigs.k8s.io/kustomize/kustomize/v5',
    'github.com/sigstore/cosign/v3',
    'github.com/sigstore/cosign/v2',
    'github.com/google/go-containerregistry',
    'github.com/fluxcd/flux2/v2',
    'github.com/fluxcd/source-controller',
    'github.com/fluxcd/kustomize-controller',
    'github.com/distribution/distribution/v3',
    'github.com/opencontainers/distribution-spec/conformance',
    'github.com/johannesboyne/gofakes3',
  ];
  const versions: Record<string, string> = {};
  for (const recipe of Object.values(modules)) {
    const text = readFileSync(join(toolsModulesDir, recipe.dir, 'go.mod'), 'utf8');
    for (const mod of wanted) {
      const m = new RegExp(`^\\s*(?:require\\s+)?${mod.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+(v\\S+)`, 'm').exec(text);
      if (m?.[1] !== undefined && versions[mod] === undefined) versions[mod] = m[1];
    }
  }
  return versions;
}

export interface EnsureToolsOptions {
  signal?: AbortSignal;
  /** Progress lines; default writes to stderr. */
  log?: (line: string) => void;
  /** Interval between progress lines while compiling (ms). */
  progressIntervalMs?: number;
  /** Only these modules (default: all), e.g. ['kube'] for the control plane alone. */
  modules?: readonly ModuleName[];
}

function defaultLog(line: string): void {
  process.stderr.write(`testenv: ${line}\n`);
}

function allBuilt(module: ModuleName): boolean {
  const files = [...Object.keys(modules[module].tools), ...(modules[module].dataFiles ?? [])];
  return files.every((file) => existsSync(join(binDir(module), file)));
}

/** Path of a data file a module's build writes (see ModuleRecipe.dataFiles); throws like toolPath. */
export function toolDataPath(module: ModuleName, file: string): string {
  const path = join(binDir(module), file);
  if (!existsSync(path)) {
    throw new Error(`${file} of test/tools/${modules[module].dir} is not built (expected ${path}); run \`npm run setup\` (or \`npm run env -- build\`)`);
  }
  return path;
}

/**
 * Writes kustomize-corpus.json: the kustomize-corpus command run over the test sources of the
 * api and kyaml modules pinned in test/tools/kustomize/go.mod (from the module cache).
 */
function writeKustomizeCorpus(bin: string, cwd: string): void {
  const dirs: string[] = [];
  for (const mod of ['sigs.k8s.io/kustomize/api', 'sigs.k8s.io/kustomize/kyaml']) {
    const r = spawnSync('go', ['mod', 'download', '-json', mod], { cwd, encoding: 'utf8' });
    let info: { Dir?: string; Error?: string } = {};
    try {
      info = JSON.parse(r.stdout) as typeof info;
    } catch {
      // reported below
    }
    if (r.status !== 0 || info.Dir === undefined) {
      throw new Error(explainBuildFailure('kustomize', `go mod download ${mod}: ${info.Error ?? ''}\n${r.stderr}`));
    }
    dirs.push(info.Dir);
  }
  const r = spawnSync(join(bin, 'kustomize-corpus'), dirs, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`building test/tools/kustomize: kustomize-corpus failed: ${r.stderr}`);
  writeFileSync(join(bin, 'kustomize-corpus.json.partial'), r.stdout);
  renameSync(join(bin, 'kustomize-corpus.json.partial'), join(bin, 'kustomize-corpus.json'));
}

/** Checks that the go command exists; the error says how to get it. */
export function checkGo(): string {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(
      'the Go toolchain is needed to build the reference tools (kube-apiserver, etcd, kwok, cosign, ' +
        'crane, flux, registry, Flux\'s controllers) but `go version` failed' +
        (r.error !== undefined ? ` (${r.error.message})` : `: ${r.stderr.trim()}`) +
        '; install Go >= 1.26 (from go.dev, or an older Go with GOTOOLCHAIN=auto, which fetches go1.26 from the module proxy) and put it on PATH, then re-run',
    );
  }
  return r.stdout.trim();
}

async function withBuildLock<T>(log: (line: string) => void, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const dir = cacheRoot();
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, 'build.lock');
  let announced = false;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!announced) {
        log(`waiting for another build of the reference tools (pid ${holder}) to finish`);
        announced = true;
      }
      await sleep(1_000, signal);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function explainBuildFailure(moduleName: string, output: string): string {
  const hints: string[] = [];
  if (/dial tcp|no such host|i\/o timeout|connection refused|TLS handshake timeout|proxyconnect|module lookup disabled|GOPROXY=off/i.test(output)) {
    hints.push(
      `the Go module proxy could not be reached (GOPROXY=${process.env['GOPROXY'] ?? 'default'}); ` +
        'the first build downloads the pinned modules: check network access to the proxy, or set GOPROXY',
    );
  }
  if (/requires go >=|toolchain not available|go: downloading go1/i.test(output)) {
    hints.push('the installed Go is too old for the pinned modules: install Go >= 1.26 or allow GOTOOLCHAIN=auto');
  }
  if (/no space left on device/i.test(output)) hints.push('the disk is full (GOCACHE / GOMODCACHE / .cache/testenv)');
  if (/signal: killed|out of memory/i.test(output)) hints.push('the compiler was killed (out of memory?): retry with LADING_TESTENV_GO_P=1');
  const tail = output.trim().split('\n').slice(-40).join('\n');
  return (
    `building the reference tools of test/tools/${moduleName} failed` +
    (hints.length > 0 ? `: ${hints.join('; ')}` : '') +
    `\n--- go build output (last lines) ---\n${tail}`
  );
}

function chmodWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) chmodWritable(full);
    else chmodSync(full, 0o644);
  }
}

async function prepareLocalCopies(recipe: ModuleRecipe, log: (line: string) => void): Promise<void> {
  for (const copy of recipe.localCopies ?? []) {
    const target = join(repoRoot, copy.dir);
    const marker = join(target, '.lading-prepared');
    if (existsSync(marker)) continue;
    log(`preparing a local copy of ${copy.module}@${copy.version} in ${copy.dir}`);
    const r = spawnSync('go', ['mod', 'download', '-json', `${copy.module}@${copy.version}`], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
      maxBuffer: 16 * 1024 * 1024,
    });
    let info: { Dir?: string; Error?: string } = {};
    try {
      info = JSON.parse(r.stdout) as typeof info;
    } catch {
      // reported below
    }
    if (r.status !== 0 || info.Dir === undefined) {
      throw new Error(explainBuildFailure(recipe.dir, `go mod download ${copy.module}@${copy.version}: ${info.Error ?? ''}\n${r.stderr}`));
    }
    const partial = `${target}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(dirname(partial), { recursive: true });
    cpSync(info.Dir, partial, { recursive: true });
    chmodWritable(partial); // the module cache is read-only
    for (const [dest, source] of Object.entries(copy.addFiles)) {
      mkdirSync(dirname(join(partial, dest)), { recursive: true });
      copyFileSync(join(toolsModulesDir, recipe.dir, source), join(partial, dest));
    }
    writeFileSync(join(partial, '.lading-prepared'), `${copy.module}@${copy.version}\n`);
    rmSync(target, { recursive: true, force: true });
    renameSync(partial, target);
  }
}

async function buildModule(name: ModuleName, opts: EnsureToolsOptions, log: (line: string) => void): Promise<void> {
  const recipe = modules[name];
  const cwd = join(toolsModulesDir, recipe.dir);
  await prepareLocalCopies(recipe, log);
  const outDir = join(cacheRoot(), `${name}-${pinsHash(name)}`, `bin.partial-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const toolNames = Object.keys(recipe.tools) as ToolName[];
  const args = ['build', '-v', '-trimpath', `-ldflags=${recipe.ldflags.join(' ')}`, '-o', outDir + '/'];
  const parallel = process.env['LADING_TESTENV_GO_P'];
  if (parallel !== undefined && parallel !== '') args.push(`-p=${parallel}`);
  args.push(...Object.values(recipe.tools));
  const started = Date.now();
  log(`building ${toolNames.join(', ')} from test/tools/${recipe.dir} (a cold build takes tens of minutes on 2 cores)`);
  const env: NodeJS.ProcessEnv = { ...process.env, GOFLAGS: [process.env['GOFLAGS'] ?? '', '-buildvcs=false', '-mod=readonly'].join(' ').trim() };
  const child = spawn('go', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let packages = 0;
  const collect = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    for (const line of text.split('\n')) {
      // -v prints one package path per line as it is compiled.
      if (/^[\w.-]+(\/[\w.@+~-]+)*$/.test(line.trim()) && line.trim() !== '') packages++;
    }
    output = (output + text).slice(-200_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(`  ${name}: ${packages} packages compiled, ${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`);
  }, opts.progressIntervalMs ?? 30_000);
  const onAbort = (): void => {
    try {
      child.kill('SIGTERM');
    } catch {
      // gone
    }
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const result = await new Promise<{ code: number | null; error?: Error }>((resolveExit) => {
    child.once('error', (error) => resolveExit({ code: null, error }));
    child.once('close', (code) => resolveExit({ code }));
  }).finally(() => {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  });
  if (result.error !== undefined) {
    rmSync(outDir, { recursive: true, force: true });
    throw new Error(`building test/tools/${recipe.dir}: could not run go: ${result.error.message}; install Go >= 1.26 and put it on PATH`);
  }
  if (opts.signal?.aborted) {
    rmSync(outDir, { recursive: true, force: true });
    throw new Error(`building test/tools/${recipe.dir}: aborted`);
  }
  if (result.code !== 0) {
    rmSync(outDir, { recursive: true, force: true });
    throw new Error(explainBuildFailure(recipe.dir, output));
  }
  const bin = binDir(name);
  mkdirSync(bin, { recursive: true });
  for (const tool of toolNames) {
    // `go build -o DIR/` names each binary after its package's last path element (cosign2 is
    // built as `cosign`); it is renamed to the tool name.
    // A major-version suffix (…/kustomize/v5) is not part of the name.
    const built = join(outDir, basename((recipe.tools[tool] ?? tool).replace(/\/v\d+$/, '')));
    if (!existsSync(built) || statSync(built).size === 0) {
      throw new Error(`building test/tools/${recipe.dir}: go build succeeded but did not produce ${tool}`);
    }
    renameSync(built, join(bin, tool));
  }
  rmSync(outDir, { recursive: true, force: true });
  recipe.afterBuild?.(bin, cwd);
  const secs = Math.round((Date.now() - started) / 1000);
  log(`built ${toolNames.join(', ')} in ${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`);
}

/**
 * Builds the reference tools that are not in the cache yet (the cache key is the hash of the
 * pins). Safe to call from several processes at once: one builds, the others wait.
 */
export async function ensureTools(opts: EnsureToolsOptions = {}): Promise<void> {
  const log = opts.log ?? defaultLog;
  const missing = (opts.modules ?? (Object.keys(modules) as ModuleName[])).filter((m) => !allBuilt(m));
  if (missing.length === 0) return;
  const goVersion = checkGo();
  log(`reference tools of ${missing.map((m) => `test/tools/${m}`).join(', ')} are not built for their current pins; building with ${goVersion}`);
  await withBuildLock(log, opts.signal, async () => {
    for (const name of missing) {
      if (allBuilt(name)) continue; // built by whoever held the lock before us
      await buildModule(name, opts, log);
    }
  });
  pruneOldBuilds(log);
}

/** Removes binaries built for other pins (each set is hundreds of MB), unless being built now. */
function pruneOldBuilds(log: (line: string) => void): void {
  const root = cacheRoot();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const current = (Object.keys(modules) as ModuleName[]).map((m) => `${m}-${pinsHash(m)}`);
    // Older layouts (<hash>) and other pins of a module (<module>-<hash>).
    if (!entry.isDirectory() || !/^([a-z0-9]+-)?[0-9a-f]{16}$/.test(entry.name) || current.includes(entry.name)) continue;
    const oldLock = join(root, entry.name, 'build.lock');
    if (existsSync(oldLock)) {
      const holder = Number(readFileSync(oldLock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) continue;
    }
    rmSync(join(root, entry.name), { recursive: true, force: true });
    log(`removed reference tools built for older pins (${entry.name})`);
  }
}

/** Tool name → built?, for status output. */
export function toolsStatus(): Array<{ tool: ToolName; module: string; built: boolean; path: string }> {
  return (Object.keys(modules) as ModuleName[]).flatMap((m) =>
    (Object.keys(modules[m].tools) as ToolName[]).map((tool) => ({
      tool,
      module: `test/tools/${modules[m].dir}`,
      built: existsSync(join(binDir(m), tool)),
      path: join(binDir(m), tool),
    })),
  );
}

export { moduleOf };
