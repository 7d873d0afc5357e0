// Runs the reference implementation for the differential tests: `kustomize build` of kustomize
// v5.5.0, built at set-up from the Go module pinned in test/tools/kustomize (the kustomize that
// kubectl 1.32 embeds, so its output is what `kubectl kustomize` prints there).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from '../../src/manifests/index.js';
import { toolDataPath, toolPath } from '../env/tools.js';

let checked: string | undefined;

/** Path of the oracle's binary; throws a message saying how to build it when it is missing. */
export function requireOracle(): string {
  if (checked !== undefined) return checked;
  let bin: string;
  try {
    bin = toolPath('kustomize');
  } catch (err) {
    throw new Error(
      'the differential tests need kustomize v5.5.0 (the oracle, built from test/tools/kustomize): ' +
        '`npm run setup` builds it' +
        ` (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const r = spawnSync(bin, ['version'], { encoding: 'utf8' });
  if (r.status !== 0 || !/v5\.5\.0/.test(r.stdout)) {
    throw new Error(`${bin} must be kustomize v5.5.0 (found: ${(r.stdout + r.stderr).trim()}); rebuild it with \`npm run setup\``);
  }
  checked = bin;
  return bin;
}

/** The cases lifted from kustomize's own tests at set-up (test/tools/kustomize/kustomize-corpus). */
export function readKustomizeCorpus<T>(): T {
  let file: string;
  try {
    file = toolDataPath('kustomize', 'kustomize-corpus.json');
  } catch (err) {
    throw new Error(`the kustomize corpus is missing: run \`npm run setup\` (${err instanceof Error ? err.message : String(err)})`);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The oracle's environment: no kubeconfig, no plugins, nothing of the developer's. */
function oracleEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['KUBECONFIG'];
  delete env['KUSTOMIZE_PLUGIN_HOME'];
  return env;
}

function warningsOf(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('# Warning'));
}

export type OracleResult = { ok: true; yaml: string; warnings: string[] } | { ok: false; error: string };

/** `kustomize build DIR`. */
export function kustomizeBuild(dir: string): OracleResult {
  const r = spawnSync(requireOracle(), ['build', dir], { encoding: 'utf8', env: oracleEnv(), maxBuffer: 256 * 1024 * 1024 });
  if (r.status === 0) return { ok: true, yaml: r.stdout, warnings: warningsOf(r.stderr) };
  return { ok: false, error: r.stderr };
}

/** `kustomize build DIR` without blocking the event loop (for suites that run several at a time). */
export function kustomizeBuildAsync(dir: string): Promise<OracleResult> {
  const bin = requireOracle();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['build', dir], { env: oracleEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8');
      resolve(code === 0 ? { ok: true, yaml: Buffer.concat(out).toString('utf8'), warnings: warningsOf(stderr) } : { ok: false, error: stderr });
    });
  });
}

/** The oracle's build of `dir` and lading's, side by side (lading's failure as an Error). */
export async function buildBoth(dir: string): Promise<{ oracle: OracleResult; mine: string | Error }> {
  const [oracle, mine] = await Promise.all([
    kustomizeBuildAsync(dir),
    build(dir).then(
      (r) => r.yaml,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    ),
  ]);
  return { oracle, mine };
}

/** Where lading's output first differs from kustomize's: `line N: kustomize "…", lading "…"`. */
export function firstDifference(kustomize: string, lading: string): string {
  const a = kustomize.split('\n');
  const b = lading.split('\n');
  const at = a.findIndex((line, i) => line !== b[i]);
  return `line ${at + 1}: kustomize ${JSON.stringify(a[at])}, lading ${JSON.stringify(b[at])}`;
}

/** Lists YAML files below `dir` the way Flux does for a directory without a kustomization. */
function yamlFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p, base));
    else if (/\.ya?ml$/i.test(name)) out.push(path.relative(base, p));
  }
  return out;
}

/** The oracle on a plain directory, through a generated kustomization listing its files. */
export function kustomizeBuildPlain(dir: string): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'lading-plain-'));
  try {
    cpSync(dir, tmp, { recursive: true });
    const files = yamlFiles(tmp);
    writeFileSync(path.join(tmp, 'kustomization.yaml'), `resources:\n${files.map((f) => `- ${f}`).join('\n')}\n`);
    return execFileSync(requireOracle(), ['build', tmp], { encoding: 'utf8', env: oracleEnv(), maxBuffer: 256 * 1024 * 1024 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The oracle on already-built YAML with the patches of a `--patch` file on top. */
export function kustomizeWithPatches(built: string, patchFiles: string[]): string {
  let current = built;
  for (const pf of patchFiles) {
    const tmp = mkdtempSync(path.join(tmpdir(), 'lading-patch-'));
    try {
      cpSync(path.dirname(pf), path.join(tmp, 'patchdir'), { recursive: true });
      writeFileSync(path.join(tmp, 'patchdir', '__built.yaml'), current);
      const k = readFileSync(pf, 'utf8');
      writeFileSync(path.join(tmp, 'patchdir', 'kustomization.yaml'), `resources:\n- __built.yaml\n${k.replace(/^(apiVersion|kind):.*\n/gm, '')}`);
      current = execFileSync(requireOracle(), ['build', path.join(tmp, 'patchdir')], { encoding: 'utf8', env: oracleEnv(), maxBuffer: 256 * 1024 * 1024 });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return current;
}
