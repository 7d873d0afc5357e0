// Flux's controller modules in the Go module cache: their CRDs (config/crd/bases) and API docs
// (docs/spec) are the reference the controller tests compare lading's CRDs and behaviour with.
// `npm run setup` fetches them; here they are only looked up (and fetched with
// `go mod download` when absent, which needs the module proxy).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type FluxModule = 'source-controller' | 'kustomize-controller';

const SETUP_HINT = '`npm run setup` fetches it (Go toolchain and network to the Go module proxy needed once)';

const found = new Map<string, string>();

function goEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GOFLAGS: '-mod=mod' };
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0 && existsSync('/usr/local/go/bin/go')) {
    env.PATH = `/usr/local/go/bin:${env.PATH ?? ''}`;
  }
  return env;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The directory of `github.com/fluxcd/<module>@<version>` in the Go module cache (read-only
 * files). Fetched with `go mod download -json` when it is not there yet; works offline once
 * cached. Throws a message naming the module and saying how to fetch it when go or the module is
 * missing.
 */
export function fluxModuleDir(module: FluxModule, version = 'v1.9.5'): string {
  const path = `github.com/fluxcd/${module}@${version}`;
  const cached = found.get(path);
  if (cached !== undefined) return cached;
  const env = goEnv();
  // Fast path: the cache directory without running `go mod download` (module paths here are
  // all lower case, so Go's case-encoding does not change them).
  const modCache = spawnSync('go', ['env', 'GOMODCACHE'], { env, encoding: 'utf8', cwd: tmpdir() });
  if (modCache.error || modCache.status !== 0) {
    const why = modCache.error ? modCache.error.message : modCache.stderr.trim();
    throw new Error(`Flux module ${path} is needed and go is not available (${why}); install Go and run: ${SETUP_HINT}`);
  }
  const direct = join(modCache.stdout.trim(), path);
  if (isDir(direct) && existsSync(join(direct, 'go.mod'))) {
    found.set(path, direct);
    return direct;
  }
  const r = spawnSync('go', ['mod', 'download', '-json', path], { env, encoding: 'utf8', cwd: tmpdir(), timeout: 300_000 });
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(r.stdout) as typeof info;
  } catch {
    // go printed no JSON (killed, or not a go that knows -json)
  }
  if (r.status !== 0 || typeof info.Dir !== 'string' || !isDir(info.Dir)) {
    const why = info.Error ?? (r.error ? r.error.message : r.stderr.trim().split('\n').slice(-3).join(' '));
    throw new Error(`Flux module ${path} is not in the Go module cache and could not be downloaded (${why || `exit ${r.status}`}); ${SETUP_HINT}`);
  }
  found.set(path, info.Dir);
  return info.Dir;
}
