// buildKustomization on attacker-written artifacts: spec.path and everything the build reads
// stay inside the artifact (securejoin semantics, as kustomize-controller joins spec.path),
// nothing is written outside it, and the directory is left as it was found.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { KustomizationSpec } from '../../src/controller/api.js';
import { buildKustomization, FluxBuildError, secureJoin } from '../../src/controller/kustomize/build.js';

const work = mkdtempSync(join(tmpdir(), 'lading-flux-build-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: b\n`;
const spec = (extra: Partial<KustomizationSpec> = {}): KustomizationSpec => ({ interval: '10m', prune: true, sourceRef: { kind: 'OCIRepository', name: 'a' }, ...extra });

let root: string;
let art: string;
let outside: string;

beforeEach(() => {
  root = mkdtempSync(join(work, 'case-'));
  art = join(root, 'artifact');
  outside = join(root, 'outside');
  mkdirSync(join(art, 'app'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(art, 'root.yaml'), cm('at-root'));
  writeFileSync(join(art, 'app', 'app.yaml'), cm('in-app'));
  writeFileSync(join(outside, 'secret.yaml'), cm('outside-the-artifact'));
  writeFileSync(join(root, 'beside.yaml'), cm('beside-the-artifact'));
});

async function buildError(path: string, s: KustomizationSpec = spec()): Promise<FluxBuildError> {
  try {
    await buildKustomization({ dir: art, path, spec: s, namespace: 'apps', name: 'app' });
  } catch (err) {
    if (err instanceof FluxBuildError) return err;
    throw err;
  }
  throw new Error(`building ${path} succeeded`);
}

const names = (objects: Array<Record<string, unknown>>) => objects.map((o) => (o['metadata'] as { name: string }).name).sort();

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

describe('spec.path is joined as securejoin joins it', () => {
  it('clamps ../ at the artifact root (builds the root, reads nothing beside it)', async () => {
    const r = await buildKustomization({ dir: art, path: '../../..', spec: spec(), namespace: 'apps', name: 'app' });
    expect(names(r.objects)).toEqual(['at-root', 'in-app']);
    const r2 = await buildKustomization({ dir: art, path: 'app/../../app', spec: spec(), namespace: 'apps', name: 'app' });
    expect(names(r2.objects)).toEqual(['in-app']);
  });

  it('reads an absolute path inside the artifact: /etc is <artifact>/etc, which does not exist', async () => {
    const err = await buildError('/etc');
    expect(err.code).toBe('PATH_INVALID');
    expect(err.message).toContain('/etc');
  });

  it('resolves a symlinked directory inside the artifact: a link out of it leads nowhere', async () => {
    symlinkSync(outside, join(art, 'abs-link'));
    symlinkSync('../outside', join(art, 'rel-link'));
    expect(await secureJoin(art, 'abs-link')).toBe(join(art, outside));
    expect(await secureJoin(art, 'rel-link')).toBe(join(art, 'outside'));
    for (const p of ['abs-link', 'rel-link', 'abs-link/..', 'rel-link/secret.yaml/..']) {
      const err = await buildError(p);
      expect(err.code, p).toBe('PATH_INVALID');
    }
    // a link inside the artifact is followed
    symlinkSync('app', join(art, 'app-link'));
    const r = await buildKustomization({ dir: art, path: 'app-link', spec: spec(), namespace: 'apps', name: 'app' });
    expect(names(r.objects)).toEqual(['in-app']);
  });

  it('refuses a symlink loop', async () => {
    symlinkSync('loop-b', join(art, 'loop-a'));
    symlinkSync('loop-a', join(art, 'loop-b'));
    const err = await buildError('loop-a');
    expect(err.code).toBe('PATH_INVALID');
    expect(err.message).toMatch(/symbolic links/);
  });

  it('refuses a path that is a file', async () => {
    expect((await buildError('root.yaml')).code).toBe('PATH_INVALID');
  });
});

describe('nothing outside the artifact is read', () => {
  it('a generated kustomization refuses a manifest symlinked out of the artifact', async () => {
    symlinkSync(join(outside, 'secret.yaml'), join(art, 'app', 'linked.yaml'));
    const err = await buildError('app');
    expect(err.code).toBe('PATH_INVALID');
    expect(err.message).toContain('linked.yaml');
    expect(err.message).not.toContain('outside-the-artifact');
  });

  it('a kustomization.yaml symlinked out of the artifact is refused', async () => {
    writeFileSync(join(outside, 'kustomization.yaml'), 'resources:\n- secret.yaml\n');
    symlinkSync(join(outside, 'kustomization.yaml'), join(art, 'app', 'kustomization.yaml'));
    const err = await buildError('app');
    expect(err.code).toBe('PATH_INVALID');
    expect(readFileSync(join(outside, 'kustomization.yaml'), 'utf8')).toBe('resources:\n- secret.yaml\n');
  });

  it('a resource above the artifact is refused by the build boundary', async () => {
    writeFileSync(join(art, 'app', 'kustomization.yaml'), 'resources:\n- ../../beside.yaml\n');
    const err = await buildError('app');
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).not.toContain('beside-the-artifact');
    writeFileSync(join(art, 'app', 'kustomization.yaml'), 'resources:\n- ../../outside\n');
    expect((await buildError('app')).code).toBe('BUILD_FAILED');
  });

  it('remote bases are refused with a clear error', async () => {
    writeFileSync(join(art, 'app', 'kustomization.yaml'), 'resources:\n- https://github.com/fluxcd/flux2-kustomize-helm-example//apps/base?ref=main\n');
    const err = await buildError('app');
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).toMatch(/remote/);
    expect(err.message).toContain('https://github.com/fluxcd/flux2-kustomize-helm-example');
  });

  it('components must be local and relative', async () => {
    for (const c of ['/abs/component', 'https://github.com/x/y', 'github.com/x/y', 'git@github.com:x/y']) {
      const err = await buildError('app', spec({ components: [c] }));
      expect(err.code, c).toBe('PATH_INVALID');
      expect(err.message).toContain(c);
    }
    const err = await buildError('app', spec({ components: ['../../outside'] }));
    expect(err.code).toBe('BUILD_FAILED');
  });
});

describe('the artifact is left as it was', () => {
  it('restores a symlinked kustomization.yaml (inside the artifact) without writing through it', async () => {
    writeFileSync(join(art, 'app', 'real-kustomization.yaml'), 'resources:\n- app.yaml\n');
    symlinkSync('real-kustomization.yaml', join(art, 'app', 'kustomization.yaml'));
    const before = listing(root);
    const r = await buildKustomization({ dir: art, path: 'app', spec: spec({ namePrefix: 'p-' }), namespace: 'apps', name: 'app' });
    expect(names(r.objects)).toEqual(['p-in-app']);
    expect(lstatSync(join(art, 'app', 'kustomization.yaml')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(art, 'app', 'kustomization.yaml'))).toBe('real-kustomization.yaml');
    expect(readFileSync(join(art, 'app', 'real-kustomization.yaml'), 'utf8')).toBe('resources:\n- app.yaml\n');
    expect(listing(root)).toEqual(before);
  });

  it('removes the generated file after a failed build, and writes nothing beside the artifact', async () => {
    writeFileSync(join(art, 'app', 'broken.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: [not, a, map\n');
    const before = listing(root);
    await buildError('app');
    expect(listing(root)).toEqual(before);
    const err = await buildError('app', spec({ patches: [{ patch: 'not: [valid' }] }));
    expect(err.code).toBe('BUILD_FAILED');
    expect(listing(root)).toEqual(before);
  });

  it('stops when the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(buildKustomization({ dir: art, path: 'app', spec: spec(), namespace: 'apps', name: 'app', signal: ac.signal })).rejects.toThrow();
    expect(readdirSync(join(art, 'app'))).toEqual(['app.yaml']);
  });
});

describe('odd files', () => {
  it('a dangling link, a FIFO or invalid UTF-8 named *.yaml is a typed error, nothing blocks', async () => {
    const { execFileSync } = await import('node:child_process');
    symlinkSync(join(art, 'nowhere.yaml'), join(art, 'app', 'dangling.yaml'));
    let err = await buildError('app');
    expect(err.code).toBe('BUILD_FAILED');
    rmSync(join(art, 'app', 'dangling.yaml'));
    execFileSync('mkfifo', [join(art, 'app', 'pipe.yaml')]);
    err = await buildError('app');
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).toContain('pipe.yaml');
    rmSync(join(art, 'app', 'pipe.yaml'));
    writeFileSync(join(art, 'app', 'latin1.yaml'), Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    err = await buildError('app');
    expect(err.code).toBe('BUILD_FAILED');
    expect(err.message).toMatch(/latin1\.yaml.*UTF-8/);
  });
});
