// Differential tests of the patch algorithms against kustomize (`kustomize build` of kustomize v5.5.0, the one kubectl 1.32 embeds).
//
// Each folder under cases/ is a real kustomization: one resource and one `patches:` entry.
// - expected.yaml is the oracle's output, committed (a golden file). The first test of
//   each case applies lading's functions to resource.yaml and compares the object with it.
// - expected-error.txt marks a case kustomize rejects: line 1 is a regular expression lading's
//   PatchError message must match, line 2 (optional) text the oracle's error must contain.
// - The second test of each case runs the oracle on the folder and checks that the golden
//   file is still exactly what kustomize prints (or that kustomize still fails).
// Regenerate the golden files with `UPDATE_GOLDEN=1 npx vitest run test/manifests-patch`.
//
// kustomize prints every map with its keys sorted, so key order is compared as kustomize
// prints it: both sides are compared after the same key sort, list order included.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parse, parseAllDocuments, parseDocument } from 'yaml';
import {
  applyJson6902,
  applyKustomizeSmPatch,
  classifyPatch,
  PatchError,
} from '../../src/manifests/patch/index.js';
import { requireOracle } from '../manifests/oracle.js';

const CASES = join(dirname(fileURLToPath(import.meta.url)), 'cases');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

type Obj = Record<string, unknown>;

interface PatchEntry {
  path?: string;
  patch?: string;
  target?: Obj;
  options?: { allowNameChange?: boolean; allowKindChange?: boolean };
}

function read(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

interface Kustomization {
  patches?: PatchEntry[];
  patchesStrategicMerge?: string[];
  patchesJson6902?: Array<{ path: string; target: Obj }>;
}

/**
 * The case's patch entries in `patches:` form. Legacy patchesStrategicMerge entries (a path or
 * inline YAML) go through the same code path as targeted patches in kustomize, so they are
 * marked with a target; patchesJson6902 entries always have one.
 */
function patchEntries(k: Kustomization): PatchEntry[] {
  const entries: PatchEntry[] = [...(k.patches ?? [])];
  for (const item of k.patchesStrategicMerge ?? []) {
    const inline = item.includes('\n');
    entries.push(inline ? { patch: item, target: {} } : { path: item, target: {} });
  }
  for (const item of k.patchesJson6902 ?? []) entries.push(item);
  return entries;
}

/**
 * Reads a resource as plain data and remembers which nulls were written as empty values
 * (`key:`), which kustomize treats differently from `null` (see StrategicMergeOptions.emptyNull).
 */
function readResource(text: string): { resource: Obj; emptyNull: (owner: Obj, key: string) => boolean } {
  const empty = new WeakMap<object, Set<string>>();
  const toPlain = (node: unknown): unknown => {
    if (isMap(node)) {
      const out: Obj = {};
      for (const pair of node.items) {
        const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
        const value = pair.value;
        if (value === null || (isScalar(value) && value.value === null && value.source === '')) {
          if (!empty.has(out)) empty.set(out, new Set());
          empty.get(out)?.add(key);
        }
        out[key] = toPlain(value);
      }
      return out;
    }
    if (isSeq(node)) return node.items.map(toPlain);
    if (isScalar(node)) return node.value;
    return null;
  };
  const resource = toPlain(parseDocument(text).contents) as Obj;
  return { resource, emptyNull: (owner, key) => empty.get(owner)?.has(key) === true };
}

/** Applies the case's patches to its resource with lading; undefined when it was deleted. */
function applyCase(dir: string): Obj | undefined {
  const kustomization = parse(read(dir, 'kustomization.yaml')) as Kustomization;
  const read0 = readResource(read(dir, 'resource.yaml'));
  let resource: Obj | undefined = read0.resource;
  for (const entry of patchEntries(kustomization)) {
    const inline = entry.patch !== undefined;
    const text = inline ? (entry.patch as string).trim() : read(dir, entry.path as string);
    const source = inline ? `[patch: ${JSON.stringify(text)}]` : `[path: ${JSON.stringify(entry.path)}]`;
    const patch = classifyPatch(text, { source });
    if (resource === undefined) break;
    if (patch.kind === 'json6902') {
      resource = applyJson6902(resource, patch.operations, { source });
      continue;
    }
    for (const doc of patch.documents) {
      const result: Obj = applyKustomizeSmPatch(resource, doc, {
        source,
        emptyNull: read0.emptyNull,
        targeted: entry.target !== undefined,
        allowNameChange: entry.options?.allowNameChange === true,
        allowKindChange: entry.options?.allowKindChange === true,
      });
      if (Object.keys(result).length === 0) {
        resource = undefined;
        break;
      }
      resource = result;
    }
  }
  return resource;
}

/** Recursively sorts map keys the way kustomize prints them (Go byte order). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (typeof v === 'object' && v !== null) {
    const out: Obj = {};
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of keys) out[k] = sorted((v as Obj)[k]);
    return out;
  }
  return v;
}

/** Runs the oracle (kustomize v5.5.0) without blocking the worker (vitest's RPC needs the event loop). */
function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(requireOracle(), args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ status: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

const cases = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('patch cases compared with kustomize', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const name of cases) {
    const dir = join(CASES, name);
    const errorFile = join(dir, 'expected-error.txt');
    const expectError = existsSync(errorFile);
    const [lineLading, lineKubectl] = expectError ? read(dir, 'expected-error.txt').split('\n') : [];

    it(`${name}: lading matches the golden output`, () => {
      if (expectError) {
        let thrown: unknown;
        try {
          applyCase(dir);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(PatchError);
        expect((thrown as PatchError).code).toBe('PATCH_FAILED');
        expect((thrown as Error).message).toMatch(new RegExp(lineLading as string));
        return;
      }
      const golden = join(dir, 'expected.yaml');
      if (!existsSync(golden) && !UPDATE) {
        throw new Error(`${golden} is missing: run UPDATE_GOLDEN=1 npx vitest run test/manifests-patch`);
      }
      if (UPDATE) return;
      const docs = parseAllDocuments(read(dir, 'expected.yaml')).map((d) => d.toJS() as unknown);
      const expected = docs.length === 0 ? undefined : docs[0];
      const actual = applyCase(dir);
      expect(sorted(actual)).toStrictEqual(sorted(expected));
      expect(JSON.stringify(sorted(actual))).toBe(JSON.stringify(sorted(expected)));
    });

    it(`${name}: the oracle still agrees with the golden output`, async () => {
      const result = await run(['build', dir]);
      if (expectError) {
        expect(result.status, `kustomize build ${dir} was expected to fail`).not.toBe(0);
        // kubectl printed the error plain or klog-quoted depending on its environment (kept for old goldens)
        const stderr = result.stderr.replace(/\\"/g, '"');
        if (lineKubectl !== undefined && lineKubectl !== '') expect(stderr).toContain(lineKubectl);
        return;
      }
      expect(result.status, result.stderr).toBe(0);
      if (UPDATE) {
        writeFileSync(join(dir, 'expected.yaml'), result.stdout);
        return;
      }
      expect(result.stdout).toBe(read(dir, 'expected.yaml'));
    });
  }
});
