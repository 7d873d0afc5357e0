// Runs the reference implementation, `kubectl kustomize` (kustomize v5.5), for differential tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function requireKubectl(): string {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('kubectl is required for the differential suite (it provides `kubectl kustomize`, kustomize v5.5): install kubectl 1.32 (apt-get install kubectl, or see https://kubernetes.io/docs/tasks/tools/)');
  }
  if (!/Kustomize Version: v5\.5\./.test(r.stdout)) {
    throw new Error(`kubectl must embed kustomize v5.5.x (found: ${r.stdout.trim().replace(/\n/g, '; ')})`);
  }
  return 'kubectl';
}

export function kubectlKustomize(dir: string): { ok: true; yaml: string; warnings: string[] } | { ok: false; error: string } {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status === 0) return { ok: true, yaml: r.stdout, warnings: r.stderr.split('\n').filter((l) => l.startsWith('# Warning')) };
  return { ok: false, error: r.stderr };
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

/** kubectl kustomize of a plain directory, through a generated kustomization listing its files. */
export function kubectlKustomizePlain(dir: string): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'lading-plain-'));
  try {
    cpSync(dir, tmp, { recursive: true });
    const files = yamlFiles(tmp);
    writeFileSync(path.join(tmp, 'kustomization.yaml'), `resources:\n${files.map((f) => `- ${f}`).join('\n')}\n`);
    return execFileSync('kubectl', ['kustomize', tmp], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** kubectl kustomize of already-built YAML with the patches of a `--patch` file on top. */
export function kubectlWithPatches(built: string, patchFiles: string[]): string {
  let current = built;
  for (const pf of patchFiles) {
    const tmp = mkdtempSync(path.join(tmpdir(), 'lading-patch-'));
    try {
      cpSync(path.dirname(pf), path.join(tmp, 'patchdir'), { recursive: true });
      writeFileSync(path.join(tmp, 'patchdir', '__built.yaml'), current);
      const k = execFileSync('cat', [pf], { encoding: 'utf8' });
      writeFileSync(path.join(tmp, 'patchdir', 'kustomization.yaml'), `resources:\n- __built.yaml\n${k.replace(/^(apiVersion|kind):.*\n/gm, '')}`);
      current = execFileSync('kubectl', ['kustomize', path.join(tmp, 'patchdir')], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return current;
}
