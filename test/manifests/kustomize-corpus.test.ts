// kustomize's own test inputs, built by lading and by the oracle (kustomize v5.5.0), compared.
//
// The Go module proxy serves kustomize's modules with their tests: the api module (v0.18.0, the
// one in kustomize v5.5.0 and so in kubectl 1.32) holds ~200 end-to-end build tests (api/krusty)
// and the replacement tables, kyaml (v0.18.1) the strategic-merge tables. At set-up, a small Go
// program (test/tools/kustomize/kustomize-corpus) lifts the inputs out of those tests into
// .cache/testenv (see test/env/tools.ts); nothing of them is kept in this repository and this test
// needs no network. kustomize's expected outputs are not used: `kustomize build` is the oracle,
// so every case is judged the same way as the rest of the differential suite.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ManifestError } from '../../src/manifests/index.js';
import { buildBoth, firstDifference, readKustomizeCorpus } from './oracle.js';

const root = mkdtempSync(path.join(tmpdir(), 'lading-kustomize-corpus-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface CorpusCase {
  name: string;
  kind: 'krusty' | 'replacement' | 'merge2';
  files?: Record<string, string>;
  build?: string;
  source?: string;
  dest?: string;
}

/** Where the lading result may differ from the oracle's, and why. Everything else must match. */
const KNOWN: Record<string, string> = {
  // the input carries kustomize's internal build annotations (previousKinds), which lading does
  // not read from input files
  'replacement/29': 'kustomize-internal annotations in the input',
};

/** Features lading refuses with UNSUPPORTED (see docs): such cases may fail in lading only. */
const UNSUPPORTED = /managedByLabel/;

/** A merge2 table row as a kustomization: dest is the resource, source the patch. */
function merge2Files(c: CorpusCase): Record<string, string> | undefined {
  const one = (text: string): Record<string, unknown> | undefined => {
    const v: unknown = parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  };
  const dest = one(c.dest ?? '');
  const source = one(c.source ?? '');
  if (!dest || !source) return undefined;
  // kustomize needs an identity; give both the same one
  const meta = (o: Record<string, unknown>) => (typeof o['metadata'] === 'object' && o['metadata'] !== null ? (o['metadata'] as Record<string, unknown>) : (o['metadata'] = {}));
  dest['apiVersion'] ??= 'example.com/v1';
  dest['kind'] ??= 'Thing';
  meta(dest)['name'] ??= 'x';
  delete meta(dest)['namespace'];
  source['apiVersion'] = dest['apiVersion'];
  source['kind'] = dest['kind'];
  meta(source)['name'] = meta(dest)['name'];
  delete meta(source)['namespace'];
  return { 'res.yaml': stringify(dest), 'patch.yaml': stringify(source), 'kustomization.yaml': 'resources:\n- res.yaml\npatches:\n- path: patch.yaml\n' };
}

interface Outcome {
  name: string;
  result: 'same' | 'different' | 'both fail' | 'lading fails' | 'oracle fails';
  detail: string;
}

async function run(c: CorpusCase, index: number): Promise<Outcome> {
  const files = c.kind === 'merge2' ? merge2Files(c) : c.files;
  if (!files) return { name: c.name, result: 'both fail', detail: 'not a single YAML map' };
  const dir = path.join(root, String(index));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), content);
  }
  const target = path.join(dir, c.build ?? '.');
  mkdirSync(target, { recursive: true });
  const { oracle, mine } = await buildBoth(target);
  if (!oracle.ok) {
    // lading builds a directory without a kustomization file from its YAML files, as Flux does
    const plainDirectory = /unable to find one of 'kustomization.yaml'/.test(oracle.error);
    return { name: c.name, result: mine instanceof Error || plainDirectory ? 'both fail' : 'oracle fails', detail: oracle.error.slice(0, 300) };
  }
  if (mine instanceof Error) {
    const unsupported = mine instanceof ManifestError && mine.code === 'UNSUPPORTED' && UNSUPPORTED.test(mine.message);
    return { name: c.name, result: unsupported ? 'both fail' : 'lading fails', detail: mine.message.slice(0, 300) };
  }
  if (mine === oracle.yaml) return { name: c.name, result: 'same', detail: '' };
  return { name: c.name, result: 'different', detail: firstDifference(oracle.yaml, mine) };
}

describe("kustomize's own test inputs", () => {
  it('build with lading exactly as with kustomize build', async () => {
    const cases = readKustomizeCorpus<CorpusCase[]>();
    const outcomes: Outcome[] = [];
    // a few oracle processes at a time
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < cases.length) {
          const i = next++;
          outcomes[i] = await run(cases[i] as CorpusCase, i);
        }
      }),
    );
    const count = (kind: string, result: Outcome['result']) => outcomes.filter((o, i) => o.result === result && (cases[i] as CorpusCase).kind === kind).length;
    const summary = ['krusty', 'replacement', 'merge2'].map((k) => `${k}: ${count(k, 'same')} identical`).join(', ');
    const bad = outcomes.filter((o) => o.result !== 'same' && o.result !== 'both fail' && KNOWN[o.name] === undefined);
    expect(bad.map((o) => `${o.name}: ${o.result}: ${o.detail}`), summary).toEqual([]);
    // the corpus really ran (not vacuously green)
    expect(count('krusty', 'same'), summary).toBeGreaterThanOrEqual(140);
    expect(count('replacement', 'same'), summary).toBeGreaterThanOrEqual(30);
    expect(count('merge2', 'same'), summary).toBeGreaterThanOrEqual(55);
  });
});
