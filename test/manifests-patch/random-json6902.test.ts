// Randomised differential test of JSON 6902 against kustomize: a fixed-seed generator writes small
// objects and lists of operations with paths that exist, nearly exist or do not (negative and
// out-of-range indices, `-`, escaped keys, missing parents), including the json-patch v4 quirks
// kustomize inherits. Each case is its own kustomization, so a case kustomize rejects is
// compared as "both fail"; otherwise the built object must equal lading's result.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { applyJson6902, PatchError } from '../../src/manifests/patch/index.js';
import { requireOracle } from '../manifests/oracle.js';
import { Gen, rng } from './generate.js';

type Obj = Record<string, unknown>;

const SEEDS = (process.env['PATCH_JSON_SEEDS'] ?? '1').split(',').map(Number);
const PER_SEED = 80;

function makeDoc(g: Gen): Obj {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Thing',
    metadata: { name: 't', annotations: { 'a/b': 'slash', 'c~d': 'tilde' } },
    spec: {
      n: g.int(5),
      list: Array.from({ length: g.int(4) }, (_, i) => ({ name: `e${i}`, v: g.int(9) })),
      tags: g.subset(['x', 'y', 'z']),
      nested: { deep: { flag: g.chance(0.5), text: 'hello' } },
      empty: null,
    },
  };
}

function makePath(g: Gen, doc: Obj): string {
  const spec = doc['spec'] as { list: unknown[]; tags: unknown[] };
  const index = (len: number): string =>
    g.pick([String(g.int(len + 2)), '-', String(-1 - g.int(len + 1)), 'x', '01']);
  return g.pick([
    '/spec/n',
    '/spec/missing',
    '/spec/missing/child',
    `/spec/list/${index(spec.list.length)}`,
    `/spec/list/${index(spec.list.length)}/v`,
    `/spec/tags/${index(spec.tags.length)}`,
    '/spec/nested/deep',
    '/spec/nested/deep/flag',
    '/spec/empty',
    '/spec/empty/x',
    '/metadata/annotations/a~1b',
    '/metadata/annotations/c~0d',
    '/metadata/annotations/new~1key',
    '/spec',
    '/spec/n/x',
  ]);
}

function makeOps(g: Gen, doc: Obj): Obj[] {
  const ops: Obj[] = [];
  const count = 1 + g.int(3);
  for (let i = 0; i < count; i++) {
    const op = g.pick(['add', 'remove', 'replace', 'move', 'copy', 'test']);
    const o: Obj = { op, path: makePath(g, doc) };
    if (op === 'move' || op === 'copy') o['from'] = makePath(g, doc);
    if (op === 'add' || op === 'replace' || op === 'test') {
      const roll = g.int(6);
      if (roll === 0) o['value'] = { k: g.int(3) };
      else if (roll === 1) o['value'] = [g.int(3)];
      else if (roll === 2) o['value'] = null;
      else if (roll === 3) o['value'] = g.int(5);
      else if (roll === 4) o['value'] = 'hello';
      else if (g.chance(0.5)) o['value'] = true;
    }
    ops.push(o);
  }
  return ops;
}

function kustomize(dir: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(requireOracle(), ['build', dir], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`running the oracle (kustomize v5.5.0) failed: ${err.message}`));
        return;
      }
      resolve({ status: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Obj)[k]);
    return out;
  }
  return v;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('random JSON 6902 patches compared with kustomize build', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: ${PER_SEED} patches`, async () => {
      const g = new Gen(rng(1000 + seed));
      const root = mkdtempSync(join(tmpdir(), 'lading-json6902-random-'));
      dirs.push(root);
      const cases = Array.from({ length: PER_SEED }, () => {
        const doc = makeDoc(g);
        return { doc, ops: makeOps(g, doc) };
      });
      const mismatches: string[] = [];
      let failedBoth = 0;
      // two kustomize processes at a time: the machine has two cores
      for (let i = 0; i < cases.length; i += 2) {
        await Promise.all(
          cases.slice(i, i + 2).map(async (c, j) => {
            const dir = join(root, `c${i + j}`);
            mkdirSync(dir);
            writeFileSync(join(dir, 'thing.yaml'), stringify(c.doc));
            writeFileSync(join(dir, 'ops.yaml'), stringify(c.ops));
            writeFileSync(
              join(dir, 'kustomization.yaml'),
              'resources:\n- thing.yaml\npatches:\n- path: ops.yaml\n  target:\n    kind: Thing\n',
            );
            const peer = await kustomize(dir);
            let ours: Obj | PatchError;
            try {
              ours = applyJson6902(c.doc, c.ops, { source: 'ops.yaml' });
            } catch (err) {
              if (!(err instanceof PatchError)) throw err;
              ours = err;
            }
            const label = `case ${i + j}:\n${stringify(c.doc)}--- ops\n${stringify(c.ops)}`;
            if (peer.status !== 0 || ours instanceof PatchError) {
              if (peer.status !== 0 && ours instanceof PatchError) {
                failedBoth++;
                return;
              }
              mismatches.push(
                `${label}--- kustomize\n${peer.status === 0 ? peer.stdout : peer.stderr}--- lading\n${ours instanceof PatchError ? ours.message : stringify(ours)}`,
              );
              return;
            }
            const expected = parseAllDocuments(peer.stdout)[0]?.toJS();
            if (JSON.stringify(sortKeys(expected)) !== JSON.stringify(sortKeys(ours))) {
              mismatches.push(`${label}--- kustomize\n${peer.stdout}--- lading\n${stringify(ours)}`);
            }
          }),
        );
      }
      expect(mismatches.slice(0, 3).join('\n'), `${mismatches.length} of ${PER_SEED} differ`).toBe('');
      // the generator must produce both outcomes for the comparison to mean anything
      expect(failedBoth).toBeGreaterThan(0);
      expect(failedBoth).toBeLessThan(PER_SEED);
    });
  }
});
