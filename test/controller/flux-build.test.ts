// buildKustomization against the real Flux CLI: `flux build kustomization --dry-run` runs Flux's
// own generator, overlays, kustomize build and postBuild substitution (fluxcd/pkg kustomize, the
// code kustomize-controller runs). For each fixture under fixtures/flux-build/<case>/ (ks.yaml,
// the Flux Kustomization; artifact/, the extracted artifact) both must produce the same objects in
// the same order, or both must fail.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KustomizationSpec } from '../../src/controller/api.js';
import { buildKustomization, FluxBuildError, generateKustomization } from '../../src/controller/kustomize/build.js';
import { formatManifests, parseManifests, type KubeObject } from '../../src/manifests/index.js';
import { run } from '../env/process.js';
import { toolPath } from '../env/tools.js';

const fixtures = join(import.meta.dirname, 'fixtures', 'flux-build');
const work = mkdtempSync(join(tmpdir(), 'lading-flux-build-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Case {
  name: string;
  ks: { metadata: { name: string; namespace: string }; spec: KustomizationSpec };
}

function loadCase(name: string): Case {
  const [ks] = parseManifests(readFileSync(join(fixtures, name, 'ks.yaml'), 'utf8'), `${name}/ks.yaml`);
  return { name, ks: ks as unknown as Case['ks'] };
}

/** A fresh copy of the case's artifact (each tool writes its kustomization file into its own). */
function artifactCopy(name: string, tag: string): string {
  const dir = join(work, `${name}-${tag}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(fixtures, name, 'artifact'), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

const OWNER_LABELS = ['kustomize.toolkit.fluxcd.io/name', 'kustomize.toolkit.fluxcd.io/namespace'];

/** flux's output, less the owner labels `flux build` adds (kustomize-controller adds them at apply time). */
function fluxObjects(stdout: string): KubeObject[] {
  const objects = parseManifests(stdout, 'flux build output');
  for (const o of objects) {
    const meta = o['metadata'] as Record<string, unknown>;
    const labels = meta['labels'] as Record<string, unknown> | undefined;
    if (!labels) continue;
    for (const l of OWNER_LABELS) delete labels[l];
    if (Object.keys(labels).length === 0) delete meta['labels'];
  }
  return objects;
}

async function fluxBuild(c: Case, opts: { strict?: boolean; spec?: KustomizationSpec } = {}): Promise<{ ok: true; yaml: string; raw: string } | { ok: false; error: string }> {
  const dir = artifactCopy(c.name, 'flux');
  const spec = opts.spec ?? c.ks.spec;
  let ksFile = join(fixtures, c.name, 'ks.yaml');
  if (opts.spec) {
    ksFile = join(work, `${c.name}-ks.yaml`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(ksFile, formatManifests([{ apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: c.ks.metadata, spec }]));
  }
  const args = ['build', 'kustomization', c.ks.metadata.name, '-n', c.ks.metadata.namespace, '--path', join(dir, spec.path ?? './'), '--kustomization-file', ksFile, '--dry-run'];
  if (opts.strict ?? true) args.push('--strict-substitute');
  const r = await run(toolPath('flux'), args, { allowFailure: true, env: { ...process.env, KUBECONFIG: join(work, 'no-kubeconfig') } });
  if (r.code !== 0) return { ok: false, error: r.stderr };
  return { ok: true, yaml: formatManifests(fluxObjects(r.stdout)), raw: r.stdout };
}

async function ladingBuild(c: Case, opts: { strict?: boolean; spec?: KustomizationSpec } = {}): Promise<{ ok: true; yaml: string; checksum: string; objects: KubeObject[] } | { ok: false; error: FluxBuildError }> {
  const dir = artifactCopy(c.name, 'lading');
  const spec = opts.spec ?? c.ks.spec;
  try {
    const r = await buildKustomization({ dir, path: spec.path ?? './', spec, namespace: c.ks.metadata.namespace, name: c.ks.metadata.name, strictSubstitutions: opts.strict ?? true });
    return { ok: true, yaml: formatManifests(r.objects), checksum: r.checksum, objects: r.objects };
  } catch (err) {
    if (err instanceof FluxBuildError) return { ok: false, error: err };
    throw err;
  }
}

const cases = readdirSync(fixtures).sort();

describe('buildKustomization matches flux build kustomization --dry-run', () => {
  it('has the fixtures this file expects', () => {
    expect(cases).toEqual(
      expect.arrayContaining(['always', 'field-spelling', 'build-metadata', 'capital-name', 'fifo-order', 'legacy-fields', 'sort-options', 'unknown-fields', 'yml-name', 'common-metadata', 'components', 'empty-dir', 'generators-only', 'images', 'no-vars', 'non-k8s', 'patches', 'plain', 'prefix-suffix', 'strict-missing', 'substitute', 'target-namespace']),
    );
  });

  const failing: Record<string, { code: string; message: RegExp; flux: RegExp }> = {
    'non-k8s': { code: 'BUILD_FAILED', message: /values\.yaml.*missing Resource metadata/, flux: /values\.yaml: missing Resource metadata/ },
    'missing-component': { code: 'BUILD_FAILED', message: /does-not-exist/, flux: /accumulating components.*does-not-exist/ },
    'strict-missing': { code: 'SUBSTITUTE_FAILED', message: /ConfigMap a.*"MISSING_VAR" is not set/, flux: /variable not set \(strict mode\): "MISSING_VAR"/ },
  };

  for (const name of cases) {
    it(name, async () => {
      const c = loadCase(name);
      const [flux, lading] = [await fluxBuild(c), await ladingBuild(c)];
      const expected = failing[name];
      if (expected) {
        expect(flux.ok, 'flux should fail too').toBe(false);
        if (!flux.ok) expect(flux.error).toMatch(expected.flux);
        expect(lading.ok).toBe(false);
        if (!lading.ok) {
          expect(lading.error.code).toBe(expected.code);
          expect(lading.error.message).toMatch(expected.message);
        }
        return;
      }
      if (!flux.ok) throw new Error(`flux failed on ${name}: ${flux.error}`);
      if (!lading.ok) throw lading.error;
      expect(lading.yaml).toBe(flux.yaml);
      // Byte for byte as flux prints them (its owner labels added): the text Flux's checksum is taken of.
      const withOwner = lading.objects.map((o) => {
        const copy = structuredClone(o);
        const meta = copy['metadata'] as Record<string, unknown>;
        meta['labels'] = { ...((meta['labels'] as Record<string, string> | undefined) ?? {}), [OWNER_LABELS[0] as string]: c.ks.metadata.name, [OWNER_LABELS[1] as string]: c.ks.metadata.namespace };
        return copy;
      });
      expect(withOwner.map((o) => formatManifests([o]) + '---\n').join('')).toBe(flux.raw);
    });
  }

  it('without strict mode an unset variable reads as empty, as flux without --strict-substitute', async () => {
    const c = loadCase('strict-missing');
    const flux = await fluxBuild(c, { strict: false });
    const lading = await ladingBuild(c, { strict: false });
    if (!flux.ok) throw new Error(flux.error);
    if (!lading.ok) throw lading.error;
    expect(lading.yaml).toBe(flux.yaml);
    expect(lading.yaml).toContain('"y": null');
  });

  it('leaves the artifact directory as it found it (the kustomization file restored)', async () => {
    const c = loadCase('patches');
    const dir = artifactCopy(c.name, 'restore');
    const before = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    await buildKustomization({ dir, path: './', spec: c.ks.spec, namespace: 'apps', name: 'app' });
    expect(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['deploy.yaml', 'kustomization.yaml']);
    const plain = artifactCopy('plain', 'restore');
    await buildKustomization({ dir: plain, path: './deploy', spec: loadCase('plain').ks.spec, namespace: 'apps', name: 'app' });
    expect(readdirSync(join(plain, 'deploy'))).not.toContain('kustomization.yaml');
  });
});

describe('generateKustomization', () => {
  it('lists what Flux lists, with Flux\'s fixes for an empty kustomization, and keeps the build order', async () => {
    const plain = artifactCopy('plain', 'generate');
    const g = await generateKustomization({ root: plain, dirPath: join(plain, 'deploy'), spec: loadCase('plain').ks.spec });
    expect(g.action).toBe('created');
    expect(g.file).toBe(join(plain, 'deploy', 'kustomization.yaml'));
    expect(g.kustomization).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['./.hidden/h.yaml', './a.yaml', './b/z.yml', './empty.yaml', './multi.yaml', './nested/deeper/d.yaml', './nested/n.yaml', './withkust'],
      sortOptions: { order: 'fifo' },
    });
    const empty = artifactCopy('empty-dir', 'generate');
    expect((await generateKustomization({ root: empty, dirPath: join(empty, 'nothing'), spec: loadCase('empty-dir').ks.spec })).kustomization['namespace']).toBe('_placeholder');
    const gen = artifactCopy('generators-only', 'generate');
    const g2 = await generateKustomization({ root: gen, dirPath: gen, spec: loadCase('generators-only').ks.spec });
    expect(g2.action).toBe('unchanged');
    expect(g2.kustomization['buildMetadata']).toEqual(['originAnnotations']);
    expect(g2.kustomization['namespace']).toBe('gen');
  });
});
