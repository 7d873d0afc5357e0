// Differential suite: lading's build must print exactly what `kustomize build` prints.
// Each case under cases/<name>/ has a golden expected.yaml produced by `kustomize build`;
// the suite compares lading's output to it byte for byte and re-checks the golden against kustomize v5.5.0.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/manifests/index.js';
import { kustomizeBuild, kustomizeBuildPlain, kustomizeWithPatches, requireOracle } from './oracle.js';
import { demoAppObjects, fixturesDir } from '../fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const casesDir = path.join(here, 'cases');
const fixtures = fixturesDir;
const cases = readdirSync(casesDir).filter((d) => existsSync(path.join(casesDir, d, 'expected.yaml'))).sort();

describe('differential: lading build vs kustomize build', () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  for (const name of cases) {
    it(name, async () => {
      const dir = path.join(casesDir, name);
      const plain = existsSync(path.join(dir, '.plain'));
      const target = plain ? path.join(dir, 'input') : dir;
      const expected = readFileSync(path.join(dir, 'expected.yaml'), 'utf8');
      const result = await build(target);
      expect(result.yaml).toBe(expected);
      requireOracle();
      const oracle = plain ? kustomizeBuildPlain(target) : kustomizeBuild(target);
      if (typeof oracle === 'string') expect(oracle).toBe(expected);
      else {
        if (!oracle.ok) throw new Error(`kustomize build failed on ${name}: ${oracle.error}`);
        expect(oracle.yaml).toBe(expected);
        // The same deprecation warnings, in the same order.
        expect(result.warnings).toEqual(oracle.warnings);
      }
    });
  }
});

describe('the tutorial demo app', () => {
  const demo = path.join(fixtures, 'demo-app');

  it('builds the ten objects of the seed tutorial, identical to kustomize build', async () => {
    if (!existsSync(demo)) throw new Error(`missing fixture ${demo} (test/fixtures)`);
    const result = await build(demo);
    const ids = result.resources.map((o) => {
      const m = o['metadata'] as Record<string, string>;
      return `${String(o['kind'])}/${m['namespace'] ? m['namespace'] + '/' : ''}${m['name']}`;
    });
    expect(ids).toEqual(demoAppObjects);
    requireOracle();
    const oracle = kustomizeBuild(demo);
    if (!oracle.ok) throw new Error(oracle.error);
    expect(result.yaml).toBe(oracle.yaml);
  });

  for (const patches of [['safe-to-evict.yaml'], ['security-context.yaml'], ['safe-to-evict.yaml', 'security-context.yaml']]) {
    it(`applies --patch ${patches.join(' --patch ')} on top of the build like kustomizer`, async () => {
      const files = patches.map((p) => path.join(fixtures, 'patches', p));
      const plain = await build(demo);
      const result = await build(demo, { patches: files });
      requireOracle();
      expect(result.yaml).toBe(kustomizeWithPatches(plain.yaml, files));
      expect(result.yaml).not.toBe(plain.yaml);
    });
  }
});
